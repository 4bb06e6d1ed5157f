# The application: sample ring -> detectors -> EVENT frames and log records; host requests;
# periodic STATUS; MARK on a button press; raw SAMPLES on request.
#
# Everything here runs on the chip and on the virtual board alike; hardware is reached only
# through `hal` (see README.md). The per-sample work is in Detector.process and in the frame
# encoders writing into preallocated buffers: nothing on that path allocates. Time is the sample
# index: STATUS intervals, uptime and the LED are all counted in samples.

import gc
import os
import sys
import time

import myoproto as mp
from config import RESTART, Config, ConfigError
from eventlog import EventLog

BLOCK = 128  # samples handed to the detectors per pass; bounds the latency of request handling
STREAM_BLOCK = 100  # samples per SAMPLES frame: 216 bytes on the wire, 2,160 B/s at 1 kHz


def ctl():
    if "appctl" not in sys.modules:
        # A few KB to load: from a swept heap (not one swept when an allocation fails) the
        # smallest heap that boots is about 1 KB smaller (measured, tests/test_firmware_heap.py).
        gc.collect()
    import appctl  # boot, restart, end of a run (appctl.py)

    return appctl


def unload():
    # Nothing else keeps them: their code is freed at the next GC. (buildinfo: read for HELLO.)
    sys.modules.pop("appctl", None)
    sys.modules.pop("appreq", None)
    sys.modules.pop("buildinfo", None)
    sys.modules.pop("blectl", None)
    sys.modules.pop("blemac", None)
    sys.modules.pop("blesetup", None)
    sys.modules.pop("blehs", None)


class App:
    # Class defaults, not instance attributes: the instance dict stays at 23 slots (x64: 368 B).
    ring = None
    restart_pending = False

    def __init__(self, hal):
        self.hal = hal
        self.on_event_cb = self.on_event  # one bound method, made once
        self.handle_cb = self.handle  # likewise: `self.handle` would allocate a bound method per pass
        self.events = 0
        # Boot loads modules on demand, one at a time and each dropped again (the heap is
        # 64 KB): cfgedit.py (config), appctl.py (allocation, then the time base), logmaint.py
        # (log recovery, in between).
        self.cfg = Config(hal.flash_dir, getattr(hal, "defaults", None), hal.max_channels)
        if not self.cfg["device_id"]:
            self.cfg.set_device_id("".join("%02x" % b for b in hal.unique_id()))
        ctl().boot(self)  # ring, detectors, link, frames: the big blocks while the heap is whole
        unload()
        self.new_log()
        ctl().begin(self)  # a time base: detectors set up, counters zeroed, HELLO, sampling
        unload()
        if self.cfg["ble"] and getattr(hal, "radio", False):
            gc.collect()  # BLE last: the boot's big blocks are placed, its modules dropped
            try:
                import blelink

                self.ble = blelink.BleLink(self)
            except MemoryError:
                # No room for the radio in this heap: sample, log and answer over USB without
                # it (as with CONFIG ble off) rather than stop at boot.
                sys.modules.pop("blelink", None)
            unload()

    def new_log(self):
        self.boot_id = int.from_bytes(os.urandom(4), "little")
        self.log = EventLog(self.hal.flash_dir, self.boot_id)

    def start(self):
        """Begin a new time base (after a rate or channel change): fresh boot id, sample index 0,
        unsolicited HELLO."""
        self.hal.stop_sampling()
        self.log.close()
        self.log = None
        unload()  # not loaded during the log's recovery: one on-demand module at a time
        self.new_log()
        ctl().begin(self)
        unload()

    # ---- the main loop

    def run(self):
        hal = self.hal
        gc.collect()
        announce = getattr(hal, "announce", None)
        if announce:
            announce("myotwitch virtual board ready")
        while True:
            t0 = time.ticks_us()
            worked = self.step()
            t1 = time.ticks_us()
            if worked:
                self.busy_us += time.ticks_diff(t1, t0)
            elif hal.finished() and self.pos >= self.ring.write_index:
                self.finish()
                return
            else:
                hal.idle(1)
            self.wall_us += time.ticks_diff(time.ticks_us(), t0)

    def step(self):
        """One pass: samples due, detection, raw stream, requests, housekeeping. True if it
        did any work."""
        hal = self.hal
        ring = self.ring
        hal.pump()
        pos = self.pos
        lost = ring.catch_up(pos)
        if lost:
            self.dropped += lost
            pos += lost
        n = ring.write_index - pos
        if n > BLOCK:
            n = BLOCK
        if n > 0:
            start = pos & ring.mask
            bufs = ring.bufs
            detectors = self.detectors
            for ch in range(self.channels):
                detectors[ch].process(bufs[ch], start, n, pos, ring.mask)
            pos += n
            self.pos = pos
        if self.stream_mask:
            self.stream_out(lost)
        got = self.link.poll(self.handle_cb)
        if got:
            self.usb_ms = time.ticks_ms()
        ble = self.ble
        if ble is not None and ble.poll(self.handle_cb):
            got = True
        if got:
            unload()
        if pos >= self.next_status:
            self.next_status += self.cfg["status_s"] * self.fs
            self.send_status()
        if hal.button_pressed():
            self.mark(mp.MARK_BUTTON, ring.write_index)
        if self.led_off_at >= 0 and pos >= self.led_off_at:
            self.led_off_at = -1
            hal.led(0)
        self.log.tick(pos)
        if self.restart_pending:
            self.start()
        return n > 0 or got

    def on_event(self, onset, duration, kind, channel, peak, area):
        # Called from inside Detector.process: small ints only, preallocated frame, no allocation.
        seq = self.log.add_event(onset, duration, kind, channel, peak, area)
        mp.encode_event_into(self.event_frame, seq, onset, duration, kind, channel, peak, area)
        self.out(self.event_frame)
        self.events += 1
        if self.cfg["led"]:
            self.hal.led(1)
            self.led_off_at = onset + duration + (self.fs >> 4)

    def stream_out(self, counted):
        ring = self.ring
        lost = ring.catch_up(self.stream_pos)
        if lost:
            # The lap that cost the detectors `counted` samples this pass cost the stream the
            # same ones and those it had not sent yet: each lost sample is counted once (STATUS
            # `dropped`, samples lost). Counting both laps whole reported about twice the loss.
            if lost > counted:
                self.dropped += lost - counted
            self.stream_pos += lost
        frame = self.samples_frame
        link = self.stream_link
        port = link.hal  # the serial port, or the BLE link itself
        ble = link is self.ble
        while self.pos - self.stream_pos >= STREAM_BLOCK:
            sp = self.stream_pos
            start = sp & ring.mask
            for ch in range(self.channels):
                if self.stream_mask & (1 << ch):
                    if ble and not link.tx_ready():
                        self.link_dropped += STREAM_BLOCK  # the link is behind: drop these
                        continue
                    mp.encode_samples_into(frame, link._next_seq(), sp, ch, ring.bufs[ch], start,
                                           STREAM_BLOCK)
                    port.serial_write(frame)
            self.stream_pos = sp + STREAM_BLOCK

    def send_status(self):
        wall = self.wall_us
        load = self.busy_us * 1000 // wall if wall > 0 else 0
        self.busy_us = 0
        self.wall_us = 0
        fields = {
            "uptime_s": self.pos // self.fs, "sample_index": self.pos & 0xFFFFFFFF,
            # samples lapped in the ring + slots the ESP32 layer filled late (hal.dropped)
            "battery_mv": self.hal.battery_mv(),
            "dropped": self.dropped + getattr(self.hal, "dropped", 0),
            "log_fill": self.log.fill_permille(), "cpu_load": min(load, 1000),
            "noise": [min(self.detectors[ch].noise, 0xFFFF) for ch in range(self.channels)],
            # the mains comb each detector chose (0 none, 50, 60) or was set to
            "mains_hz": [self.detectors[ch].mains for ch in range(self.channels)],
            "link_dropped": self.link_dropped}
        self.log.add(mp.STATUS, fields)
        self.link.send(mp.STATUS, fields)
        ble = self.ble
        if ble is not None and ble.session is not None:
            ble.send(mp.STATUS, fields)

    def mark(self, source, index):
        fields = {"sample_index": index & 0xFFFFFFFF, "source": source}
        self.out(mp.encode(mp.MARK, self.log.add(mp.MARK, fields), fields))

    def out(self, frame):
        """A frame every host gets: the USB one, and the BLE one once it is the owner."""
        self.hal.serial_write(frame)
        ble = self.ble
        if ble is not None and ble.session is not None:
            ble.serial_write(frame)

    def finish(self):
        """The sample source has ended (virtual board run with --once): report and stop."""
        ctl().finish(self)
        unload()

    # ---- requests from the host

    def handle(self, msg):
        # The answers live in appreq.py, loaded on the first request of a pass and dropped by
        # step() at its end: resident they would cost about 2 KB of the heap.
        try:
            if msg.type == mp.CONFIG_SET:
                self.config_set(msg)
                return
            if msg.type == mp.HELLO_REQ:
                unload()  # the HELLO is appctl's (boot sends one): one module on the heap
                ctl().send_hello(self, msg.seq)
                return
            if msg.type == mp.LOG_READ or msg.type == mp.LOG_ERASE:
                # Straight to the log, whose own code (logxfer.py, logmaint.py) loads for it:
                # appreq.py beside that would take 2.4 KB (x64) more at once.
                unload()
                self.log.handle_request(self.link, msg)
                return
            if "appreq" not in sys.modules:
                gc.collect()  # as in ctl()
            import appreq

            appreq.handle(self, msg)
        except MemoryError:
            # Code loaded on demand may not fit a fragmented heap: refuse the request (the host
            # may retry) rather than stop the sampler.
            unload()
            self.link.nack(msg.seq, msg.type, mp.E_BUSY, "out of memory, retry")
        except OSError as e:
            self.link.nack(msg.seq, msg.type, mp.E_STORAGE, "storage error: %s" % e)

    def config_set(self, msg):
        # Resident, unlike the other answers: Config.set loads cfgedit.py, and appreq.py loaded
        # beside it would double the heap this takes at steady state.
        unload()
        key = msg.fields["key"]
        try:
            changed = self.cfg.set(key, msg.fields["value"])
        except ConfigError as e:
            self.link.nack(msg.seq, mp.CONFIG_SET, e.code, e.reason)
            return
        self.link.ack(msg.seq, mp.CONFIG_SET)
        if changed and (key == "name" or key.startswith("ble")):
            ctl().radio(self)  # on, off, or advertise the new name or interval
            unload()
        if changed & RESTART:
            # A new rate or channel count starts a new time base: new boot id, HELLO.
            self.restart_pending = True
        elif changed and key.startswith("det_"):
            params = self.cfg.detector_params()
            for d in self.detectors:
                d.configure(self.fs, params)


def run(hal):
    App(hal).run()
