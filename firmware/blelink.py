# The device end of the BLE link: the Nordic UART Service (SPEC section 12) on MicroPython's
# `bluetooth` module (ESP32, ESP32-S3, ESP32-C3). The same COBS frames as the serial link: what
# the host writes to RX goes through the same frame decoder (link.DeviceLink.feed), frames go
# out as notifications on TX of at most MTU - 3 bytes, an EVENT always in one of its own.
#
# Only the owner gets more than a minimal HELLO (SPEC section 13): the handshake, the check of
# every request's MAC are in blectl.py, advertising and the set-up in blesetup.py, each imported
# for the pass that needs it and dropped again (the heap is 64 KB). This module is what runs all the time: the
# IRQ handler (it only sets flags), the poll, and sending.
#
# Sending. The stack holds a few notifications; gatts_notify raises OSError when its buffers are
# full (or the connection is gone). A frame longer than one notification is sent in pieces
# (`cur`, the rest of it waits for the next pass); no other frame starts before its last piece,
# because the host reads one byte stream. EVENT and MARK frames that find the stack busy wait
# in 4 slots of 20 bytes; raw SAMPLES are dropped instead (the app counts them: STATUS
# `link_dropped`, and the host sees the gap in `first_index`). An EVENT or MARK lost when the
# slots are full is still in the log: the host sees its seq missing and reads it back.
# Nothing is allocated per notification on this path: the EVENT frame is sent as it is, the
# SAMPLES frame through views cut once per MTU.

import gc
import sys
import time

import bluetooth
from micropython import const

import myoproto as mp
from link import DeviceLink

_CONNECT = const(1)
_DISCONNECT = const(2)
_WRITE = const(3)
_MTU = const(21)
_CHANGED = const(1)
_WROTE = const(2)
_SLOTS = const(4)  # EVENT/MARK frames held while the stack is busy
_SLOT = const(20)  # bytes per slot: an EVENT frame; a MARK (15) is padded with idle 0x00
_RETRY_MS = const(10)  # after the stack said "full", wait this long before trying again
_WAIT_MS = const(2000)  # an answer to a request waits this long for the stack at most


class BleLink(DeviceLink):
    def __init__(self, app):
        # Frames go through this object, not the HAL's serial port; no read buffer: host
        # writes arrive whole, from gatts_read.
        DeviceLink.__init__(self, self, 0)
        self.app = app
        self.conn = -1  # connection handle of the host, -1 when none
        self.mtu = 23
        self.ev = 0  # what the IRQ saw since the last poll: _CHANGED (connect, disconnect), _WROTE
        self.cur = None  # pieces (memoryviews) of the frame being sent
        self.ci = 0  # next piece of cur
        self.full = 0  # the stack refused a notification: ticks_ms to try again at (0: not full)
        self.sviews = None  # the SAMPLES frame cut into notifications at the current MTU
        self.lost = 0  # EVENT/MARK frames not sent (slots full), answers given up on: in the log
        self.fails = 0  # failed handshakes in a row (rate limit, blehs.py)
        self.until = 0  # ticks_ms before which a handshake is refused (after 3 failures)
        self.end()  # session (the key once the owner's handshake succeeded), hs, last, bad
        self.ble = bluetooth.BLE()
        self.tx_h = self.rx_h = 0  # GATT handles (blesetup), here so that the dict never grows
        # (29 attributes at most: the instance dict's next size is 37 slots, 128 B more on x64)
        mv = memoryview(bytearray(_SLOTS * _SLOT))
        self.sv = tuple(mv[i * _SLOT:(i + 1) * _SLOT] for i in range(_SLOTS))  # writable views
        self.sh = 0  # first waiting slot
        self.sn = 0  # slots waiting
        load("blesetup").setup(self)

    def end(self):
        """No session: the owner's handshake comes (again) first."""
        self.session = None  # the session key
        self.hs = None  # nonces of the handshake in progress
        self.last = -1  # seq of the last request accepted in this session
        self.bad = 0  # requests with a wrong MAC in this session

    def irq(self, event, data):
        # Runs when the stack says so (between bytecodes of the main loop on the ESP32): flags
        # only, the main loop does the work.
        if event == _WRITE:
            self.ev |= _WROTE
        elif event == _CONNECT:
            self.conn = data[0]
            self.mtu = 23
            self.sviews = None
            self.ev |= _CHANGED
        elif event == _DISCONNECT:
            if data[0] == self.conn:
                self.conn = -1
                self.ev |= _CHANGED
        elif event == _MTU:
            self.mtu = data[1]
            self.sviews = None
        # (_IRQ_ENCRYPTION_UPDATE: the link is encrypted from here on; nothing to do)

    def poll(self, handle):
        """Once per main-loop pass: connection changes, waiting frames, then the host's
        writes (answered on this link). True if the host wrote anything."""
        ev = self.ev
        self.ev = 0
        if ev & _CHANGED:
            try:
                load("blesetup").connection(self)
            except MemoryError:
                # Its code did not fit a fragmented heap: the same again next pass (it only
                # resets the session), the host's writes wait till then; sampling goes on.
                self.ev |= ev
                unload()
                return False
            unload()  # before the handshake's modules load, in the same pass maybe
        self.pump()
        if not ev & _WROTE:
            return False
        data = self.ble.gatts_read(self.rx_h)
        app = self.app
        serial = app.link
        app.link = self  # answers go back where the request came from
        try:
            self.feed(data, len(data), handle)
        finally:
            app.link = serial
        return True

    def deliver(self, body, handle):
        t = body[1]
        try:
            if body[0] == mp.VERSION and (t == mp.AUTH_START or t == mp.AUTH_PROVE or
                                          (t == mp.HELLO_REQ and self.session is None)):
                msg = load("blehs").answer(self, body)  # the owner's handshake (SPEC section 13)
            else:
                msg = load("blectl").check(self, body)  # the gate: MAC and seq
        except MemoryError:
            # As App.handle does: the code may not fit a fragmented heap; refuse, keep sampling.
            unload()
            self.nack(body[2] | body[3] << 8 | body[4] << 16 | body[5] << 24, t, mp.E_BUSY,
                      "out of memory, retry")
            return
        unload()
        if msg is not None:
            self.frames_in += 1
            handle(msg)

    # ---- sending

    def _notify(self, data):
        try:
            self.ble.gatts_notify(self.conn, self.tx_h, data)
            return True
        except OSError:  # buffers full, or the host just left: not now
            self.full = time.ticks_add(time.ticks_ms(), _RETRY_MS) or 1
            return False

    def pump(self):
        """Send what waits: the rest of the frame in progress, then the EVENT/MARK slots.
        True when nothing waits."""
        if self.conn < 0:
            return False
        if self.full:
            if time.ticks_diff(time.ticks_ms(), self.full) < 0:
                return False
            self.full = 0
        cur = self.cur
        while cur is not None:
            if not self._notify(cur[self.ci]):
                return False
            self.ci += 1
            if self.ci >= len(cur):
                self.cur = cur = None
        while self.sn:
            if not self._notify(self.sv[self.sh]):
                return False
            self.sh = (self.sh + 1) % _SLOTS
            self.sn -= 1
        return True

    tx_ready = pump  # a frame can start now (the log download and the raw stream ask)

    def serial_write(self, data):
        """Send one whole frame (the DeviceLink and the log download call this)."""
        if self.conn < 0:
            return
        n = len(data)
        if n <= _SLOT and (data[2] == mp.EVENT or data[2] == mp.MARK):
            # (byte 2 of a frame is its type: COBS moves no non-zero byte)
            if self.pump() and self._notify(data):
                return
            if self.sn >= _SLOTS:
                self.lost += 1  # in the log: the host reads it back when it sees the seq missing
                return
            s = self.sv[(self.sh + self.sn) % _SLOTS]
            pad = _SLOT - n
            for k in range(pad):
                s[k] = 0  # idle delimiters: the host skips them
            for k in range(n):
                s[pad + k] = data[k]
            self.sn += 1
            return
        if not self.pump():
            # An answer to a request: wait for the stack rather than lose it (the ring holds
            # 0.5 s of samples meanwhile). The raw stream never gets here (it asks tx_ready).
            end = time.ticks_add(time.ticks_ms(), _WAIT_MS)
            while not self.pump():
                if self.conn < 0 or time.ticks_diff(time.ticks_ms(), end) > 0:
                    self.lost += 1
                    return
                time.sleep_ms(1)
        c = self.mtu - 3
        if data is self.app.samples_frame:
            views = self.sviews
            if views is None:
                self.sviews = views = cut(data, c)  # once per MTU
        elif n <= c:
            if self._notify(data):
                return
            views = (data,)
        else:
            views = cut(data, c)
        self.cur = views
        self.ci = 0
        self.pump()



def cut(data, c):
    mv = memoryview(data)
    return tuple(mv[i:i + c] for i in range(0, len(data), c))


def load(name):
    """blesetup, blectl or blehs, loaded now (into a swept heap, as app.ctl() does)."""
    m = sys.modules.get(name)
    if m is None:
        gc.collect()
        m = __import__(name)
    return m


def unload():
    sys.modules.pop("blesetup", None)  # their code is freed at the next GC
    sys.modules.pop("blehs", None)
    sys.modules.pop("blectl", None)
    sys.modules.pop("blemac", None)
