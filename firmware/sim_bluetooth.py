# A STAND-IN for MicroPython's `bluetooth` module, for the virtual board only (never deployed):
# the documented API (docs/library/bluetooth.rst; checked against micropython-esp32-stubs by
# tests/test_ble_standin.py) as far as the firmware uses it, in front of the simulated radio the
# host runs (myotwitch.blesim), reached over a local TCP socket. `attach(port)` connects it and
# installs it as `bluetooth`; the virtual board's HAL calls `service()` on every pass, where the
# real stack would raise its IRQs by itself.
#
# What it does as the ESP32's NimBLE-based module does, so the firmware meets the same limits:
# - the MTU is 23 until an exchange says otherwise (the radio cuts a notification longer than
#   MTU - 3, as the real stack does, and counts it: the firmware must never send one);
# - the stack holds `credits` notifications (NimBLE's buffers); gatts_notify raises OSError
#   ENOMEM when they are all waiting for the air, OSError ENOTCONN for a connection not there;
# - host writes are appended to the characteristic's buffer (gatts_set_buffer) up to its size;
#   what does not fit is lost, as on the chip;
# - advertising stops when a central connects (the radio does that);
# - the IRQ handler gets (event, data) with the data in a reused list, as the C module reuses
#   its tuple: nothing is allocated per event or per notification.
#
# On the chip this module is C: its names are in ROM, not in the heap's string pool. Here every
# name is interned for good (MicroPython's qstrs), so the state lives in one list indexed by
# constants (which leave no name behind) and the arguments have short names: a stand-in that
# spends the heap's names would push the firmware over a cliff that is not the chip's (the
# string pool grows by doubling: about 7 KB at once on x64 past about 620 names, measured).

import select
import socket
import sys

from micropython import const

FLAG_READ = 0x0002
FLAG_WRITE_NO_RESPONSE = 0x0004
FLAG_WRITE = 0x0008
FLAG_NOTIFY = 0x0010
FLAG_INDICATE = 0x0020

_ENOMEM = const(12)
_EINVAL = const(22)
_ENOTCONN = const(107)
# indices into BLE.s
_ON = const(0)
_IRQ = const(1)
_MTU_WISH = const(2)
_DB = const(3)  # value handle -> [buffer, bytes in use, append]
_NEXT = const(4)
_CONN = const(5)
_MTU = const(6)
_CREDITS = const(7)
_ADDR = const(8)
_HDR = const(9)
_ONE = const(10)
_RBUF = const(11)
_RN = const(12)
_D3 = const(13)
_D2 = const(14)
_D5 = const(15)
_ADV = const(16)
_RESP = const(17)
_SOCK = const(18)
_POLL = const(19)


class UUID:
    def __init__(self, value):
        self.value = value

    def __str__(self):
        return str(self.value)


class BLE:
    it = None

    def __new__(cls):
        if BLE.it is None:
            o = object.__new__(cls)
            a = bytearray(6)
            o.s = [False, None, 23, {}, 1, -1, 23, 0, a, bytearray(4), bytearray(1),
                   bytearray(600), 0, [0, 0, memoryview(a)], [0, 0], [0, 0, 0, 0, 0], b"", b"",
                   None, None]
            BLE.it = o
        return BLE.it

    def __init__(self):
        pass

    # ---- configuration

    def active(self, *a):
        s = self.s
        if a:
            s[_ON] = bool(a[0])
            if not s[_ON]:
                s[_CONN] = -1
        return s[_ON]

    def config(self, *a, **kw):
        s = self.s
        if a:
            if a[0] == "mac":
                return (0, bytes(s[_ADDR]))
            if a[0] == "mtu":
                return s[_MTU_WISH]
            raise ValueError("unknown config param")
        for k in kw:
            if k == "mtu":
                s[_MTU_WISH] = kw[k]
            elif k not in ("le_secure", "mitm", "bond", "io", "gap_name", "rxbuf", "addr_mode"):
                raise ValueError("unknown config param")

    def irq(self, h):
        self.s[_IRQ] = h

    # ---- GATT server

    def gatts_register_services(self, d):
        s = self.s
        if not s[_ON]:
            raise OSError(_EINVAL)  # as the chip's "not active"
        out = []
        table = []
        for svc in d:
            s[_NEXT] += 1  # the service declaration
            hs = []
            for ch in svc[1]:
                h = s[_NEXT] + 2  # after the characteristic declaration
                s[_NEXT] = h
                s[_DB][h] = [bytearray(20), 0, False]
                hs.append(h)
                table.append("%s,%d,%d" % (ch[0], h, ch[1]))
            out.append(tuple(hs))
        _send(s, 71, 0, (str(d[0][0]) + ";" + ";".join(table)).encode())  # "G"
        return out

    def gatts_set_buffer(self, h, n, a=False):
        self.s[_DB][h] = [bytearray(n), 0, a]

    def gatts_read(self, h):
        v = self.s[_DB][h]
        d = bytes(v[0][:v[1]])
        if v[2]:
            v[1] = 0
        return d

    def gatts_write(self, h, d, u=False):
        v = self.s[_DB][h]
        if len(d) > len(v[0]):
            v[0] = bytearray(len(d))  # a local write grows the buffer, as on the chip
        v[0][:len(d)] = d
        v[1] = len(d)

    def gatts_notify(self, c, h, d=None):
        s = self.s
        if not s[_ON]:
            raise OSError(_EINVAL)
        service()
        if c != s[_CONN] or c < 0:
            raise OSError(_ENOTCONN)
        if s[_CREDITS] <= 0:
            raise OSError(_ENOMEM)
        if d is None:
            v = s[_DB][h]
            d = memoryview(v[0])[:v[1]]
        s[_CREDITS] -= 1
        _send(s, 78, h, d)  # "N"

    # ---- GAP

    def gap_advertise(self, t, a=None, *, resp_data=None, connectable=True):
        s = self.s
        if not s[_ON]:
            raise OSError(_EINVAL)
        if a is not None:
            s[_ADV] = bytes(a)
        if resp_data is not None:
            s[_RESP] = bytes(resp_data)
        _send(s, 65, 1 if connectable else 0, (t or 0).to_bytes(4, "little") +  # "A"
              bytes((len(s[_ADV]),)) + s[_ADV] + s[_RESP])

    def gap_disconnect(self, c):
        s = self.s
        if c != s[_CONN] or c < 0:
            return False
        _send(s, 68, c, b"")  # "D"
        return True

    def gattc_exchange_mtu(self, c):
        s = self.s
        if c != s[_CONN]:
            raise OSError(_ENOTCONN)
        _send(s, 77, c, s[_MTU_WISH].to_bytes(2, "little"))  # "M"

    def gap_pair(self, c):
        s = self.s
        if c != s[_CONN]:
            raise OSError(_ENOTCONN)
        _send(s, 80, c, b"")  # "P"


# ---- the simulated radio


def _send(s, kind, conn, payload):
    k = s[_SOCK]
    if k is None:
        return  # no radio attached: the air takes nothing
    h = s[_HDR]
    n = len(payload)
    h[0] = kind
    h[1] = conn
    h[2] = n & 0xFF
    h[3] = n >> 8
    k.write(h)
    if n:
        k.write(payload)


def service():
    """Take what the radio sent (credits, connects, writes, MTU, encryption) and raise the IRQs
    the chip's stack would have raised by now. Allocates nothing."""
    o = BLE.it
    if o is None or o.s[_SOCK] is None:
        return
    s = o.s
    one = s[_ONE]
    rb = s[_RBUF]
    sock = s[_SOCK]
    while True:
        for _ in s[_POLL].ipoll(0):  # ipoll allocates no result list
            break
        else:
            return
        if not sock.readinto(one):
            # The radio (the host running the virtual board) went away: like a radio off.
            s[_POLL] = select.poll()
            s[_SOCK] = None
            if s[_CONN] >= 0:
                _irq(s, 2, s[_D3], s[_CONN])
            return
        n = s[_RN]
        rb[n] = one[0]
        n += 1
        if n >= 4 and n == 4 + (rb[2] | rb[3] << 8):
            n = 0
            _message(s)
        s[_RN] = n


def _irq(s, event, data, conn):
    data[0] = conn
    if event == 1:
        s[_CONN] = conn
    elif event == 2:
        s[_CONN] = -1
    if s[_IRQ] is not None and s[_ON]:
        s[_IRQ](event, data)


def _message(s):
    rb = s[_RBUF]
    kind = rb[0]
    conn = rb[1]
    n = rb[2] | rb[3] << 8
    if kind == 67:  # "C": a central connected: [credits, addr x6]
        s[_CREDITS] = rb[4]
        a = s[_ADDR]
        for i in range(6):
            a[i] = rb[5 + i]
        s[_MTU] = 23
        s[_D3][1] = 1
        _irq(s, 1, s[_D3], conn)
    elif kind == 88:  # "X": disconnected
        if conn == s[_CONN]:
            _irq(s, 2, s[_D3], conn)
    elif kind == 87:  # "W": the central wrote: [handle u16, data...]
        h = rb[4] | rb[5] << 8
        v = s[_DB].get(h)
        if v is not None:
            buf = v[0]
            k = v[1] if v[2] else 0
            for i in range(6, 4 + n):
                if k >= len(buf):
                    break  # beyond the buffer: lost, as on the chip
                buf[k] = rb[i]
                k += 1
            v[1] = k
            s[_D2][1] = h
            _irq(s, 3, s[_D2], conn)
    elif kind == 85:  # "U": MTU exchanged
        s[_MTU] = rb[4] | rb[5] << 8
        s[_D2][1] = s[_MTU]
        _irq(s, 21, s[_D2], conn)
    elif kind == 75:  # "K": notifications the air has taken: buffers free again
        s[_CREDITS] += rb[4]
    elif kind == 69:  # "E": encryption changed: [encrypted, authenticated, bonded, key size]
        d = s[_D5]
        for i in range(4):
            d[i + 1] = rb[4 + i]
        _irq(s, 28, d, conn)


def attach(port):
    """Connect the stand-in to the simulated radio on 127.0.0.1:port and install it as
    `bluetooth` (once: a second call returns the same). port None: no radio, nothing on air."""
    o = BLE()
    s = o.s
    sys.modules["bluetooth"] = sys.modules[__name__]
    if s[_SOCK] is None and port:
        k = socket.socket()
        k.connect(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        s[_SOCK] = k
        p = select.poll()
        p.register(k, select.POLLIN)
        s[_POLL] = p
        _send(s, 72, 0, b"")  # "H"
    return o
