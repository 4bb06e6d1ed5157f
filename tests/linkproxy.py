"""A faulty cable between the host and the virtual board: a second pty whose bytes are copied to
and from the board's pty, with faults injected into what the device sends, frame by frame.

    with LinkProxy(board.port, drop=0.02, flip=0.02, dup=0.02, reorder=0.02) as proxy:
        Device.open(proxy.port) ...

Faults (device -> host, per frame, from a seeded RNG): drop the frame, flip one bit, send it
twice, swap it with the next frame, drop a few of its bytes; `disconnect_after` closes the host's
side after that many frames (a cable pulled mid-transfer). `transform` rewrites each device frame
(bytes in, bytes or None out): e.g. an older firmware's HELLO, made from the real one's.
"""

import os
import random
import select
import threading
import tty


class LinkProxy:
    def __init__(self, board_port, seed=1, drop=0.0, flip=0.0, dup=0.0, reorder=0.0, cut=0.0,
                 disconnect_after=None, transform=None):
        self.rng = random.Random(seed)
        self.p = {"drop": drop, "flip": flip, "dup": dup, "reorder": reorder, "cut": cut}
        self.disconnect_after = disconnect_after
        self.transform = transform
        self.counts = {k: 0 for k in self.p}
        self.frames = 0
        self.board_fd = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board_fd)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._stop = False
        self._held = None  # a frame waiting to be sent after the next one (reorder)
        self._buf = bytearray()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _fault(self, frame):
        """The bytes to send for one device frame (delimiter included)."""
        r = self.rng
        out = []
        if r.random() < self.p["drop"]:
            self.counts["drop"] += 1
            return out
        if r.random() < self.p["flip"]:
            self.counts["flip"] += 1
            frame = bytearray(frame)
            i = r.randrange(len(frame) - 1)
            frame[i] ^= 1 << r.randrange(8)
            frame = bytes(frame)
        if r.random() < self.p["cut"] and len(frame) > 4:
            self.counts["cut"] += 1
            i = r.randrange(1, len(frame) - 2)
            frame = frame[:i] + frame[i + r.randrange(1, 3):]
        out.append(frame)
        if r.random() < self.p["dup"]:
            self.counts["dup"] += 1
            out.append(frame)
        if self._held is not None:
            out.append(self._held)
            self._held = None
        elif r.random() < self.p["reorder"]:
            self.counts["reorder"] += 1
            self._held = frame
            out.pop(0)
        return out

    def _run(self):
        try:
            while not self._stop:
                rd, _, _ = select.select([self.board_fd, self.master], [], [], 0.05)
                if self.master in rd:
                    data = os.read(self.master, 4096)  # host -> device: passed on unharmed
                    if data:
                        os.write(self.board_fd, data)
                if self.board_fd in rd:
                    data = os.read(self.board_fd, 65536)
                    self._buf += data
                    while True:
                        k = self._buf.find(b"\x00")
                        if k < 0:
                            break
                        frame = bytes(self._buf[:k + 1])
                        del self._buf[:k + 1]
                        self.frames += 1
                        if self.transform is not None:
                            frame = self.transform(frame)
                            if frame is None:
                                continue
                        for piece in self._fault(frame):
                            os.write(self.master, piece)
                        if self.disconnect_after is not None and self.frames >= self.disconnect_after:
                            self._hangup()
                            return
        except OSError:
            pass

    def _hangup(self):
        # Closing every fd of the pty pair makes the host's reads fail: the cable is out.
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
        self.master = self.slave = -1

    def close(self):
        self._stop = True
        self.thread.join(2)
        for fd in (self.master, self.slave, self.board_fd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.master = self.slave = self.board_fd = -1

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
