# The virtual board's hardware layer (MicroPython unix port): samples from a recording, the
# serial link on stdin/stdout (the host launcher connects them to a pty), flash as a littlefs2
# image, and a clock derived from the sample counter.
#
# The recording arrives as raw little-endian int16 frames (`file_channels` values per frame),
# converted by the host launcher. Samples are produced in `pump`, paced against time.ticks_us:
# `speed_milli` 1000 is real time, 10000 ten times faster, 0 as fast as the loop runs.

import select
import sys
import time

import blockdev

CHUNK = 256  # frames read from the file at a time
FAST_BATCH = 128  # samples per pump when unpaced (speed 0)


class Hal:
    radio = False  # a BLE radio (the stand-in, sim_bluetooth.py) when started with ble=PORT
    bt = None

    def __init__(self, samples, file_channels=1, speed_milli=1000, once=False, flash="flash.img",
                 board="virtual", max_channels=4, presses=(), flash_blocks=256, defaults=None,
                 hold=False, ble=0):
        self.board = board
        if ble:
            import sim_bluetooth  # the stand-in `bluetooth`, in front of the host's radio

            sim_bluetooth.attach(ble)
            self.bt = sim_bluetooth.service  # the radio's IRQs: the chip's stack raises them itself
            self.radio = True
        # hold: play nothing until the host starts the raw stream (stream_started), so the
        # detectors restart at sample 0 and a run is the same every time (`myotwitch demo`).
        self.hold = hold
        self.max_channels = max_channels
        self.file_channels = file_channels
        self.speed_milli = speed_milli
        self.once = once
        self.defaults = defaults
        self.flash_dev = blockdev.mount(flash, "/flash", flash_blocks)
        self.flash_dir = "/flash"
        self.f = open(samples, "rb")
        self.frame_bytes = 2 * file_channels
        self.buf = bytearray(CHUNK * self.frame_bytes)
        self.buf_n = 0  # frames in buf
        self.buf_i = 0  # next frame in buf
        self.eof = False
        self.ring = None
        self.presses = list(presses)  # sample indices at which the button is "pressed"
        self.pressed = False
        self.stdin = sys.stdin.buffer
        self.stdout = sys.stdout.buffer
        self.rpoll = select.poll()
        self.rpoll.register(self.stdin, select.POLLIN)
        self.wpoll = select.poll()
        self.wpoll.register(self.stdout, select.POLLOUT)
        self.tx_dropped = 0
        self.one = bytearray(1)
        self.led_on = 0

    # ---- sampling

    def start_sampling(self, ring, fs, channels):
        self.ring = ring
        self.fs = fs
        self.channels = channels
        self.t_last = time.ticks_us()
        # Pacing in small ints (below 2**30 on a 32-bit port, where a big int allocates): the
        # rate in samples per second at this speed, and what is due in millionths of a sample.
        self.rate = fs * self.speed_milli // 1000
        self.due_u = 0

    def stop_sampling(self):
        self.ring = None

    def stream_started(self):
        if self.hold:
            self.hold = False
            self.t_last = time.ticks_us()

    def _fill(self):
        n = self.f.readinto(self.buf)
        if not n:
            if self.once:
                self.eof = True
                return False
            self.f.seek(0)
            n = self.f.readinto(self.buf)
            if not n:
                self.eof = True
                return False
        self.buf_n = n // self.frame_bytes
        self.buf_i = 0
        return True

    def pump(self):
        if self.bt is not None:
            self.bt()
        ring = self.ring
        if ring is None or self.eof or self.hold:
            return
        if self.speed_milli:
            now = time.ticks_us()
            self.due_u += time.ticks_diff(now, self.t_last) * self.rate
            self.t_last = now
            due = self.due_u // 1000000
            self.due_u -= due * 1000000
        else:
            due = FAST_BATCH
        if due <= 0:
            return
        bufs = ring.bufs
        mask = ring.mask
        fc = self.file_channels
        fb = self.frame_bytes
        buf = self.buf
        w = ring.write_index
        for _ in range(due):
            if self.buf_i >= self.buf_n and not self._fill():
                break
            o = self.buf_i * fb
            i = w & mask
            for ch in range(self.channels):
                k = o + 2 * (ch % fc)
                v = buf[k] | (buf[k + 1] << 8)
                bufs[ch][i] = v - 65536 if v & 0x8000 else v
            self.buf_i += 1
            w += 1
        ring.write_index = w
        if self.presses and w >= self.presses[0]:
            self.presses.pop(0)
            self.pressed = True

    def finished(self):
        return self.eof

    # ---- serial

    @staticmethod
    def _ready(p):
        for _ in p.ipoll(0):  # ipoll, unlike poll, allocates no result list
            return True
        return False

    def serial_read(self, buf):
        # A stream's readinto() waits until the whole buffer is filled, so read byte by byte
        # while bytes are waiting.
        one = self.one
        n = 0
        try:
            while n < len(buf) and self._ready(self.rpoll):
                if not self.stdin.readinto(one):
                    break
                buf[n] = one[0]
                n += 1
        except OSError:
            pass  # no host on the other end of the pty
        return n

    def tx_ready(self):
        """True when the port can take a frame now (the log download waits for it)."""
        return self._ready(self.wpoll)

    def serial_write(self, data):
        # Like a USB CDC port with nobody listening: if the host is not reading, the frame is
        # dropped (the host sees the gap in the frame counter) instead of stalling the sampler.
        if not self._ready(self.wpoll):
            self.tx_dropped += 1
            return
        try:
            self.stdout.write(data)
        except OSError:
            self.tx_dropped += 1

    # ---- the rest of the board

    def led(self, on):
        self.led_on = on

    def button_pressed(self):
        p = self.pressed
        self.pressed = False
        return p

    def battery_mv(self):
        return 0  # the virtual board has no battery

    def unique_id(self):
        # Stable per flash image: the image is this virtual board's identity.
        try:
            with open("/flash/uid") as f:
                return bytes.fromhex(f.read())
        except (OSError, ValueError):
            import os

            uid = os.urandom(6)
            with open("/flash/uid", "w") as f:
                f.write("".join("%02x" % b for b in uid))
            return uid

    def announce(self, text):
        sys.stderr.write(text + "\n")

    def idle(self, ms):
        time.sleep_ms(ms)
        if self.bt is not None:
            self.bt()

    def reset(self):
        sys.exit(3)
