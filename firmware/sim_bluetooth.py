# A STAND-IN for MicroPython's `bluetooth` module, for the virtual board only (never deployed):
# the documented API (docs/library/bluetooth.rst; checked against micropython-esp32-stubs by
# tests/test_ble_standin.py) as far as the firmware uses it, in front of the simulated radio the
# host runs (myotwitch.blesim), reached over a local TCP socket. `attach(port)` connects it and
# installs it as `bluetooth`; the virtual board's HAL calls `service()` on every pass, where the
# real stack would raise its IRQs by itself.
#
# What it does as the ESP32's NimBLE-based module does, so the firmware meets the same limits:
# - a notification longer than MTU - 3 is cut to MTU - 3 (counted in `oversize`: the firmware
#   must never do it); the MTU is 23 until an exchange says otherwise;
# - the stack holds `credits` notifications (NimBLE's buffers); gatts_notify raises OSError
#   ENOMEM when they are all waiting for the air, OSError ENOTCONN for a connection not there;
# - host writes are appended to the characteristic's buffer (gatts_set_buffer) up to its size;
#   what does not fit is lost, as on the chip;
# - advertising stops when a central connects;
# - the IRQ handler gets (event, data) with the data in a reused list, as the C module reuses
#   its tuple: nothing is allocated per event or per notification.

import select
import socket
import sys

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_ENOMEM = 12
_EINVAL = 22
_ENOTCONN = 107


class UUID:
    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return isinstance(other, UUID) and str(self.value).lower() == str(other.value).lower()

    def __str__(self):
        return str(self.value)


class _Gatts:
    # One characteristic value: a buffer of `cap` bytes, `n` of them in use.
    def __init__(self, cap):
        self.buf = bytearray(cap)
        self.n = 0
        self.append = False


class BLE:
    _it = None

    def __new__(cls):
        if BLE._it is None:
            it = object.__new__(cls)
            it._setup()
            BLE._it = it
        return BLE._it

    def __init__(self):
        pass

    def _setup(self):
        self.on = False
        self.handler = None
        self.mtu_pref = 23
        self.db = {}
        self.next_handle = 1
        self.conn = -1
        self.mtu = 23
        self.credits = 0
        self.oversize = 0
        self.addr = bytearray(6)
        self.hdr = bytearray(4)
        self.one = bytearray(1)
        self.rbuf = bytearray(600)  # a whole message: a write is at most 512 + 6 bytes
        self.rn = 0  # bytes of the message being read
        self.d3 = [0, 0, memoryview(self.addr)]  # (conn, addr_type, addr)
        self.d2 = [0, 0]
        self.d5 = [0, 0, 0, 0, 0]
        self.adv = b""
        self.resp = b""
        self.sock = None
        self.rpoll = None

    # ---- configuration

    def active(self, active=None):
        if active is not None:
            self.on = bool(active)
            if not self.on:
                self.conn = -1
        return self.on

    def config(self, *args, **kw):
        if args:
            if args[0] == "mac":
                return (0, bytes(self.addr))
            if args[0] == "mtu":
                return self.mtu_pref
            raise ValueError("unknown config param")
        for k in kw:
            if k == "mtu":
                self.mtu_pref = kw[k]
            elif k not in ("le_secure", "mitm", "bond", "io", "gap_name", "rxbuf", "addr_mode"):
                raise ValueError("unknown config param")

    def irq(self, handler):
        self.handler = handler

    # ---- GATT server

    def gatts_register_services(self, services_definition):
        self._need()
        out = []
        table = []
        for svc in services_definition:
            self.next_handle += 1  # the service declaration
            handles = []
            for ch in svc[1]:
                self.next_handle += 1  # the characteristic declaration
                h = self.next_handle
                self.next_handle += 1
                self.db[h] = _Gatts(20)
                handles.append(h)
                table.append("%s,%d,%d" % (ch[0], h, ch[1]))
            out.append(tuple(handles))
        self._send(ord("G"), 0, (str(services_definition[0][0]) + ";" + ";".join(table)).encode())
        return out

    def gatts_set_buffer(self, value_handle, len, append=False):
        v = self.db[value_handle]
        v.buf = bytearray(len)
        v.n = 0
        v.append = append

    def gatts_read(self, value_handle):
        v = self.db[value_handle]
        data = bytes(v.buf[:v.n])
        if v.append:
            v.n = 0
        return data

    def gatts_write(self, value_handle, data, send_update=False):
        v = self.db[value_handle]
        if len(data) > len(v.buf):
            v.buf = bytearray(len(data))  # a local write grows the buffer, as on the chip
        v.buf[:len(data)] = data
        v.n = len(data)

    def gatts_notify(self, conn_handle, value_handle, data=None):
        self._need()
        self.service()
        if conn_handle != self.conn or self.conn < 0:
            raise OSError(_ENOTCONN)
        if self.credits <= 0:
            raise OSError(_ENOMEM)
        if data is None:
            v = self.db[value_handle]
            data = memoryview(v.buf)[:v.n]
        room = self.mtu - 3
        if len(data) > room:
            self.oversize += 1  # the real stack cuts it too; the firmware must not do this
            data = memoryview(data)[:room]
        self.credits -= 1
        h = self.hdr
        h[0] = ord("N")
        h[1] = value_handle
        h[2] = len(data) & 0xFF
        h[3] = len(data) >> 8
        self.sock.write(h)
        self.sock.write(data)

    # ---- GAP

    def gap_advertise(self, interval_us, adv_data=None, *, resp_data=None, connectable=True):
        self._need()
        if adv_data is not None:
            self.adv = bytes(adv_data)
        if resp_data is not None:
            self.resp = bytes(resp_data)
        if interval_us is None:
            interval_us = 0
        self._send(ord("A"), 1 if connectable else 0, interval_us.to_bytes(4, "little") +
                   bytes((len(self.adv),)) + self.adv + self.resp)

    def gap_disconnect(self, conn_handle):
        if conn_handle != self.conn or self.conn < 0:
            return False
        self._send(ord("D"), conn_handle, b"")
        return True

    def gattc_exchange_mtu(self, conn_handle):
        if conn_handle != self.conn:
            raise OSError(_ENOTCONN)
        self._send(ord("M"), conn_handle, self.mtu_pref.to_bytes(2, "little"))

    def gap_pair(self, conn_handle):
        if conn_handle != self.conn:
            raise OSError(_ENOTCONN)
        self._send(ord("P"), conn_handle, b"")

    # ---- the simulated radio

    def _need(self):
        if not self.on:
            raise OSError(_EINVAL)  # as the chip's "not active"

    def _send(self, kind, conn, payload):
        h = self.hdr
        h[0] = kind
        h[1] = conn
        h[2] = len(payload) & 0xFF
        h[3] = len(payload) >> 8
        self.sock.write(h)
        if payload:
            self.sock.write(payload)

    def service(self):
        """Take what the radio sent (credits, connects, writes, MTU, encryption) and raise the
        IRQs the chip's stack would have raised by now. Allocates nothing."""
        one = self.one
        rb = self.rbuf
        sock = self.sock
        for _ in self.rpoll.ipoll(0):
            while True:
                if not sock.readinto(one):
                    self._gone()
                    return
                rb[self.rn] = one[0]
                self.rn += 1
                if self.rn >= 4 and self.rn == 4 + (rb[2] | rb[3] << 8):
                    self.rn = 0
                    self._message()
                if not self._more():
                    break
            break

    def _more(self):
        for _ in self.rpoll.ipoll(0):
            return True
        return False

    def _gone(self):
        # The radio (the host running the virtual board) went away: like a radio off.
        self.rpoll.unregister(self.sock)
        self.rpoll = select.poll()
        if self.conn >= 0:
            self._event(2, self.d3, self.conn)
        self.conn = -1

    def _event(self, event, data, conn):
        data[0] = conn
        self.conn = -1 if event == 2 else conn
        if self.handler is not None and self.on:
            self.handler(event, data)

    def _message(self):
        rb = self.rbuf
        kind = rb[0]
        conn = rb[1]
        n = rb[2] | rb[3] << 8
        if kind == 67:  # "C": a central connected: [credits, addr x6]
            self.credits = rb[4]
            for i in range(6):
                self.addr[i] = rb[5 + i]
            self.mtu = 23
            self.d3[1] = 1
            self._event(1, self.d3, conn)
        elif kind == 88:  # "X": disconnected
            if conn == self.conn:
                self._event(2, self.d3, conn)
        elif kind == 87:  # "W": the central wrote: [handle u16, data...]
            v = self.db.get(rb[4] | rb[5] << 8)
            if v is not None:
                k = 0 if not v.append else v.n
                cap = len(v.buf)
                for i in range(6, 4 + n):
                    if k >= cap:
                        break  # beyond the buffer: lost, as on the chip
                    v.buf[k] = rb[i]
                    k += 1
                v.n = k
                self.d2[1] = rb[4] | rb[5] << 8
                data = self.d2
                data[0] = conn
                if self.handler is not None and self.on:
                    self.handler(3, data)
        elif kind == 85:  # "U": MTU exchanged
            self.mtu = rb[4] | rb[5] << 8
            self.d2[0] = conn
            self.d2[1] = self.mtu
            if self.handler is not None and self.on:
                self.handler(21, self.d2)
        elif kind == 75:  # "K": notifications the air has taken: buffers free again
            self.credits += rb[4]
        elif kind == 69:  # "E": encryption changed: [encrypted, authenticated, bonded, key size]
            d = self.d5
            d[0] = conn
            for i in range(4):
                d[i + 1] = rb[4 + i]
            if self.handler is not None and self.on:
                self.handler(28, d)


def attach(port):
    """Connect the stand-in to the simulated radio on 127.0.0.1:port and install it as
    `bluetooth` (once: a second call returns the same)."""
    ble = BLE()
    if ble.sock is not None:
        return ble
    s = socket.socket()
    s.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
    ble.sock = s
    ble.rpoll = select.poll()
    ble.rpoll.register(s, select.POLLIN)
    ble._send(ord("H"), 0, b"")
    sys.modules["bluetooth"] = sys.modules[__name__]
    return ble


def service():
    ble = BLE._it
    if ble is not None and ble.sock is not None:
        ble.service()
