"""FAKE DEVICE for link-layer unit tests only.

A few lines that speak the wire codec over a real pty (os.openpty + a thread),
so tests/test_link.py can exercise pyserial, framing, request matching and
loss counting with exact control over what the "device" sends: dropped
frames, corrupt bytes, reboots, silence. It is not the firmware and proves
nothing about it; end-to-end tests use the virtual board (myotwitch.sim.SimBoard).
"""

from __future__ import annotations

import os
import select
import threading
import tty

from myotwitch.protocol import myoproto as mp


class FakeDevice:
    def __init__(self, boot_hello=False, fs=1000, channels=1):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.fs = fs
        self.channels = channels
        self.config = {"threshold": 40, "fs": fs, "name": "fake", "led": True}
        self.limits = {"threshold": (1, 1000), "fs": (250, 2000)}
        self.boot_id = 0x1000
        self.counter = 0  # device frame counter
        self.record_seq = 100
        self.sample_index = 5000
        self.silent = False  # ignore requests (to test timeouts)
        self.streaming = 0
        self.received = []  # every request Message
        self._lock = threading.Lock()
        self._stop = False
        self._dec = mp.StreamDecoder()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fake-device")
        self._thread.start()
        if boot_hello:
            self.send_hello(mp.UNSOLICITED)

    # ---- sending

    def write(self, data: bytes):
        with self._lock:
            os.write(self.master, data)

    def _frame(self, msg_type, fields, seq=None):
        if seq is None:
            seq = self.counter
            self.counter = (self.counter + 1) & mp.SEQ_MASK
        return mp.encode(msg_type, seq, fields)

    def send(self, msg_type, fields, seq=None):
        self.write(self._frame(msg_type, fields, seq))

    def hello_fields(self, ref):
        return {"ref": ref, "proto": mp.VERSION, "fw_version": "0.0-fake", "build_hash": b"\x01\x23\x45\x67\x89\xab\xcd\xef",
                "board": "fake", "channels": self.channels, "fs": self.fs, "config_hash": 0xDEADBEEF,
                "boot_id": self.boot_id}

    def send_hello(self, ref):
        self.send(mp.HELLO, self.hello_fields(ref))

    def send_event(self, onset=None, kind=mp.KIND_TWITCH, duration=13, seq=None):
        if seq is None:
            seq = self.record_seq
            self.record_seq += 1
        onset = self.sample_index if onset is None else onset
        self.send(mp.EVENT, {"onset": onset, "duration": duration, "kind": kind, "channel": 0,
                             "peak": 300, "area": 900}, seq=seq)

    def send_status(self, dropped=0):
        self.send(mp.STATUS, {"uptime_s": 5, "sample_index": self.sample_index, "battery_mv": 4000,
                              "dropped": dropped, "log_fill": 1, "cpu_load": 2, "noise": [12]})

    def send_samples(self, first_index, samples, channel=0):
        self.send(mp.SAMPLES, {"first_index": first_index, "channel": channel, "samples": list(samples)})

    def skip_frames(self, n):
        """Pretend n frames were sent and lost."""
        self.counter += n

    def reboot(self, hello=True):
        self.boot_id += 1
        self.counter = 0
        self.sample_index = 0
        self.streaming = 0
        if hello:
            self.send_hello(mp.UNSOLICITED)

    # ---- answering

    def _run(self):
        while not self._stop:
            try:
                ready, _, _ = select.select([self.master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self.master, 4096)
            except (OSError, ValueError):
                return
            if not data:
                return
            for msg in self._dec.feed(data):
                self.received.append(msg)
                if not self.silent:
                    self._answer(msg)

    def _answer(self, m):
        t, ref = m.type, m.seq
        if t == mp.HELLO_REQ:
            self.send_hello(ref)
        elif t == mp.PING:
            self.send(mp.PONG, {"ref": ref, "nonce": m["nonce"]})
        elif t == mp.CONFIG_GET:
            key = m["key"]
            if key and key not in self.config:
                self.send(mp.NACK, {"ref": ref, "ref_type": t, "code": mp.E_UNKNOWN_KEY, "reason": key})
                return
            for k in ([key] if key else sorted(self.config)):
                self.send(mp.CONFIG_VALUE, {"ref": ref, "key": k, "value": self.config[k]})
            self.send(mp.ACK, {"ref": ref, "ref_type": t})
        elif t == mp.CONFIG_SET:
            key, value = m["key"], m["value"]
            if key not in self.config:
                self.send(mp.NACK, {"ref": ref, "ref_type": t, "code": mp.E_UNKNOWN_KEY, "reason": key})
                return
            lo_hi = self.limits.get(key)
            if type(value) is not type(self.config[key]) or (lo_hi and not lo_hi[0] <= value <= lo_hi[1]):
                self.send(mp.NACK, {"ref": ref, "ref_type": t, "code": mp.E_BAD_VALUE,
                                    "reason": "%s must be %s..%s" % ((key,) + (lo_hi or ("?", "?")))})
                return
            self.config[key] = value
            self.send(mp.ACK, {"ref": ref, "ref_type": t})
        elif t == mp.STREAM_START:
            self.streaming = m["channels"]
            self.send(mp.ACK, {"ref": ref, "ref_type": t})
        elif t == mp.STREAM_STOP:
            self.streaming = 0
            self.send(mp.ACK, {"ref": ref, "ref_type": t})
        elif t == mp.TIME_SET:
            self.send(mp.TIME, {"ref": ref, "boot_id": self.boot_id, "sample_index": self.sample_index,
                                "fs": self.fs, "unix_ms": m["unix_ms"]})
        else:
            self.send(mp.NACK, {"ref": ref, "ref_type": t, "code": mp.E_UNKNOWN_TYPE, "reason": ""})

    def close(self):
        self._stop = True
        self._thread.join(timeout=1.0)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
