# The gate every frame from a BLE host passes (SPEC section 13), for blelink.py. Before the
# owner's handshake only HELLO_REQ (a minimal HELLO: protocol and device id) and the handshake
# (blehs.py) are answered; after it every request must end with
#   HMAC-SHA256(session key, version type seq payload)[:16]
# and carry a seq newer than the last one accepted. Imported for the pass that needs it, dropped
# after (the heap is 64 KB); set-up and connections are blesetup.py.

import time

from micropython import const

import myoproto as mp
from blemac import hmac, same

_FREE = const(3)  # failed handshakes allowed before the waiting starts
_MAC = const(16)  # bytes of MAC closing a request (SPEC section 13)
# NACK codes (myoproto keeps their names on the host only)
_E_LOCKED = const(9)
_E_AUTH = const(10)
_E_REPLAY = const(11)
_E_FORBIDDEN = const(13)
_USB_MS = const(10000)  # a USB host that spoke this recently has control of the settings


def check(link, body):
    """The request in `body` (CRC checked, not part of the handshake: blehs.py) as a Message
    if it may run, else None (answered here)."""
    t = body[1]
    seq = body[2] | body[3] << 8 | body[4] << 16 | body[5] << 24
    if body[0] != mp.VERSION:
        link.bad_frames += 1
        link.nack(seq, t, mp.E_BAD_VERSION, "protocol version %d not supported" % body[0])
        return None
    n = len(body)
    if link.session is None:
        link.nack(seq, t, _E_LOCKED, "locked: the owner's handshake comes first")
        return None
    end = n - mp.CRC_LEN - _MAC
    if end < mp.HEADER_LEN or not same(hmac(link.session, body[:end]), body, end):
        link.bad += 1
        if link.bad >= _FREE:
            link.fails += _FREE  # as three failed handshakes: the next one waits
            link.until = time.ticks_add(time.ticks_ms(), 1000)
            link.end()  # someone is writing into this connection: start over
        link.nack(seq, t, _E_AUTH, "request MAC wrong")
        return None
    if link.last >= 0 and not 0 < (seq - link.last) & 0xFFFFFFFF < 0x80000000:
        link.nack(seq, t, _E_REPLAY, "seq %d is not newer than %d" % (seq, link.last))
        return None
    link.last = seq
    if t == mp.PAIR or t == mp.UNPAIR:
        link.nack(seq, t, _E_FORBIDDEN, "pairing is over USB only")
        return None
    usb = link.app.usb_ms  # a USB host that spoke in the last 10 s has control
    if (t == mp.CONFIG_SET or t == mp.LOG_ERASE) and usb is not None and \
            time.ticks_diff(time.ticks_ms(), usb) < _USB_MS:
        link.nack(seq, t, mp.E_BUSY, "a USB host has control (it spoke in the last 10 s)")
        return None
    try:
        return mp.Message(t, seq, mp._decode_fields(t, body[mp.HEADER_LEN:end]))
    except mp.CodecError as e:
        link.bad_frames += 1
        link.nack(seq, t, mp.E_BAD_PAYLOAD, str(e))
        return None
