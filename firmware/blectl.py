# The gate every frame from a BLE host passes (SPEC section 13), for blelink.py. Before the
# owner's handshake only HELLO_REQ (a minimal HELLO: protocol and device id) and the handshake
# answer; after it every request must end with a MAC over the session key and carry a seq newer
# than the last one accepted. Imported for the pass that needs it, dropped after (the heap is
# 64 KB); set-up and connections are blesetup.py.
#
# The handshake (challenge-response over fresh nonces from both sides, HMAC-SHA256 with the
# owner key that `myotwitch pair` put on flash over USB):
#   host   -> AUTH_START     nonce_h
#   device -> AUTH_CHALLENGE nonce_d, HMAC(K, "myotwitch device" | nonce_h | nonce_d | id)[:16]
#   host   -> AUTH_PROVE     HMAC(K, "myotwitch host" | nonce_h | nonce_d | id)[:16]
#   device -> ACK; session key = HMAC(K, "myotwitch session" | nonce_h | nonce_d)
# and then every request: payload | HMAC(session key, version type seq payload)[:16].

import hashlib
import os
import time

from micropython import const

import myoproto as mp

_FREE = const(3)  # failed handshakes allowed before the waiting starts
_USB_MS = const(10000)  # a USB host that spoke this recently has control of the settings
KEY_FILE = "/owner.key"


def check(link, body):
    """The request in `body` (CRC checked) as a Message if it may run, else None (answered)."""
    t = body[1]
    seq = body[2] | body[3] << 8 | body[4] << 16 | body[5] << 24
    if body[0] != mp.VERSION:
        link.bad_frames += 1
        link.nack(seq, t, mp.E_BAD_VERSION, "protocol version %d not supported" % body[0])
        return None
    n = len(body)
    if t == mp.AUTH_START or t == mp.AUTH_PROVE or (t == mp.HELLO_REQ and link.session is None):
        handshake(link, t, seq, body[mp.HEADER_LEN:n - mp.CRC_LEN])
        return None
    if link.session is None:
        link.nack(seq, t, mp.E_LOCKED, "locked: the owner's handshake comes first")
        return None
    end = n - mp.CRC_LEN - mp.MAC_LEN
    if end < mp.HEADER_LEN or not same(hmac(link.session, body[:end]), body, end):
        link.bad += 1
        if link.bad >= _FREE:
            failed(link)
            link.end()  # someone is writing into this connection: start over
        link.nack(seq, t, mp.E_AUTH, "request MAC wrong")
        return None
    if link.last >= 0 and not 0 < (seq - link.last) & 0xFFFFFFFF < 0x80000000:
        link.nack(seq, t, mp.E_REPLAY, "seq %d is not newer than %d" % (seq, link.last))
        return None
    link.last = seq
    if t == mp.PAIR or t == mp.UNPAIR:
        link.nack(seq, t, mp.E_FORBIDDEN, "pairing is over USB only")
        return None
    if (t == mp.CONFIG_SET or t == mp.LOG_ERASE) and usb_has_control(link.app):
        link.nack(seq, t, mp.E_BUSY, "a USB host has control (it spoke in the last 10 s)")
        return None
    try:
        return mp.Message(t, seq, mp._decode_fields(t, body[mp.HEADER_LEN:end]))
    except mp.CodecError as e:
        link.bad_frames += 1
        link.nack(seq, t, mp.E_BAD_PAYLOAD, str(e))
        return None


def usb_has_control(app):
    t = app.usb_ms
    return t is not None and time.ticks_diff(time.ticks_ms(), t) < _USB_MS


def handshake(link, t, seq, payload):
    app = link.app
    if t == mp.HELLO_REQ:
        # The minimal HELLO: who this is, nothing about what it runs or records.
        link.send(mp.HELLO, {"ref": seq, "proto": mp.VERSION, "fw_version": "",
                             "build_hash": bytes(8), "board": "", "channels": 0, "fs": 0,
                             "config_hash": 0, "boot_id": 0, "device_id": app.cfg["device_id"]})
        return
    try:
        f = mp._decode_fields(t, payload)
    except mp.CodecError as e:
        link.nack(seq, t, mp.E_BAD_PAYLOAD, str(e))
        return
    if link.fails >= _FREE:
        wait = time.ticks_diff(link.until, time.ticks_ms())
        if wait > 0:
            link.nack(seq, t, mp.E_RATE_LIMIT, "too many failed attempts: retry in %d s"
                      % ((wait + 999) // 1000))
            return
    key = owner_key(app)
    if key is None:
        link.nack(seq, t, mp.E_AUTH, "no owner: pair over USB first (myotwitch pair)")
        return
    did = app.cfg["device_id"].encode()
    if t == mp.AUTH_START:
        if link.hs is not None:
            failed(link)  # a challenge nobody answered counts as a failed attempt
        link.end()
        hs = f["nonce"] + os.urandom(16)
        link.hs = hs
        link.send(mp.AUTH_CHALLENGE, {"ref": seq, "nonce": hs[16:],
                                      "proof": hmac(key, b"myotwitch device" + hs + did)[:16]})
        return
    hs = link.hs
    link.hs = None  # one proof per challenge
    if hs is None or not same(hmac(key, b"myotwitch host" + hs + did), f["proof"], 0):
        failed(link)
        link.nack(seq, t, mp.E_AUTH, "wrong proof" if hs else "no challenge: AUTH_START first")
        return
    link.session = hmac(key, b"myotwitch session" + hs)
    link.fails = 0
    link.ack(seq, t)


def failed(link):
    n = link.fails + 1
    link.fails = n
    if n >= _FREE:
        # 1 s after the third failure, doubling up to 64 s
        link.until = time.ticks_add(time.ticks_ms(), (1 << min(n - _FREE, 6)) * 1000)


def owner_key(app):
    try:
        with open(app.hal.flash_dir + KEY_FILE, "rb") as f:
            key = f.read()
    except OSError:
        return None
    return key if len(key) == 32 else None


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
    if len(buf) < at + mp.MAC_LEN:
        return False
    d = 0
    for i in range(mp.MAC_LEN):
        d |= mac[i] ^ buf[at + i]
    return d == 0
