# HMAC-SHA256 on the chip's hashlib (MicroPython has no hmac module), for the BLE gate
# (blectl.py) and the owner's handshake (blehs.py), apart from both so that the handshake does
# not load the gate (the heap is 64 KB); checked against CPython's hmac by
# tests/test_ble_auth.py. Loaded with them, dropped with them.

import hashlib

from micropython import const

_MAC = const(16)  # bytes of MAC closing a request (SPEC section 13)


def hmac(key, msg):
    """HMAC-SHA256 (RFC 2104) of msg under key (at most 64 bytes)."""
    k = bytearray(64)
    for i in range(len(key)):
        k[i] = key[i] ^ 0x36
    for i in range(len(key), 64):
        k[i] = 0x36
    h = hashlib.sha256(k)
    h.update(msg)
    inner = h.digest()
    for i in range(64):
        k[i] ^= 0x36 ^ 0x5C
    h = hashlib.sha256(k)
    h.update(inner)
    return h.digest()


def same(mac, buf, at):
    """The first 16 bytes of mac equal buf[at:at + 16], compared in constant time."""
    if len(buf) < at + _MAC:
        return False
    d = 0
    for i in range(_MAC):
        d |= mac[i] ^ buf[at + i]
    return d == 0
