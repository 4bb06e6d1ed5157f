# The owner's handshake over BLE (SPEC section 13), for blelink.py: challenge-response over
# fresh nonces from both sides, HMAC-SHA256 with the owner key that `myotwitch pair` put on
# flash over USB, and the rate limit on failures. Imported only for handshake frames, dropped
# after (the heap is 64 KB).
#   host   -> AUTH_START     nonce_h
#   device -> AUTH_CHALLENGE nonce_d, HMAC(K, "myotwitch device" | nonce_h | nonce_d | id)[:16]
#   host   -> AUTH_PROVE     HMAC(K, "myotwitch host" | nonce_h | nonce_d | id)[:16]
#   device -> ACK; session key = HMAC(K, "myotwitch session" | nonce_h | nonce_d)

import os
import time

from micropython import const

import myoproto as mp

_FREE = const(3)  # failed handshakes allowed before the waiting starts
_E_AUTH = const(10)  # NACK codes (myoproto keeps their names on the host only)
_E_RATE_LIMIT = const(12)


def answer(link, body):
    """Answer HELLO_REQ (before a session), AUTH_START or AUTH_PROVE. Returns None."""
    t = body[1]
    seq = body[2] | body[3] << 8 | body[4] << 16 | body[5] << 24
    payload = body[mp.HEADER_LEN:len(body) - mp.CRC_LEN]
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
        if t == mp.AUTH_PROVE and link.hs is not None:
            link.hs = None  # a broken proof still uses up its challenge
            failed(link)
        link.nack(seq, t, mp.E_BAD_PAYLOAD, str(e))
        return
    if link.fails >= _FREE:
        wait = time.ticks_diff(link.until, time.ticks_ms())
        if wait > 0:
            link.nack(seq, t, _E_RATE_LIMIT, "too many failed attempts: retry in %d s"
                      % ((wait + 999) // 1000))
            return
    key = owner_key(app)
    if key is None:
        link.nack(seq, t, _E_AUTH, "no owner: pair over USB first (myotwitch pair)")
        return
    from blemac import hmac, same  # after the key file is read: the peak of this pass is lower

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
        link.nack(seq, t, _E_AUTH, "wrong proof" if hs else "no challenge: AUTH_START first")
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
        with open(app.hal.flash_dir + "/owner.key", "rb") as f:
            key = f.read(33)  # (read() would take a 256-byte buffer first)
    except OSError:
        return None
    return key if len(key) == 32 else None
