"""The host's half of the owner's handshake and of the per-request MAC (SPEC section 13), over
any transport: made of frames, it needs nothing of BLE. The board's half is firmware/blectl.py;
tests check the two against each other and against CPython's `hmac`.

    hs = Handshake(key, device_id)
    AUTH_START {nonce: hs.nonce}              -> AUTH_CHALLENGE {nonce, proof}
    hs.answer(challenge)  (checks the board's proof, returns ours)
    AUTH_PROVE {proof}                        -> ACK
    session = hs.session()   then every request: payload + session.mac(type, seq, payload)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct

from myotwitch.protocol import myoproto as mp

PROOF_LEN = 16


def mac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


class AuthError(Exception):
    """The board did not prove it holds this host's key."""


class Session:
    def __init__(self, key: bytes):
        self.key = key

    def mac(self, msg_type: int, seq: int, payload: bytes) -> bytes:
        """The MAC closing a request's payload: over version, type, seq and payload."""
        head = struct.pack("<BBI", mp.VERSION, msg_type, seq & mp.SEQ_MASK)
        return mac(self.key, head + bytes(payload))[:mp.MAC_LEN]


class Handshake:
    def __init__(self, key: bytes, device_id: str, nonce: bytes | None = None):
        if len(key) != 32:
            raise ValueError("an owner key is 32 bytes")
        self.key = key
        self.did = device_id.encode()
        self.nonce = nonce if nonce is not None else os.urandom(16)
        self.theirs: bytes | None = None

    def answer(self, challenge_fields: dict) -> bytes:
        """The AUTH_PROVE proof for an AUTH_CHALLENGE, after checking the board's own proof."""
        theirs = bytes(challenge_fields["nonce"])
        hs = self.nonce + theirs
        want = mac(self.key, b"myotwitch device" + hs + self.did)[:PROOF_LEN]
        if not hmac.compare_digest(want, bytes(challenge_fields["proof"])):
            raise AuthError("the board did not prove it holds this host's key (another board "
                            "answering with this id, or it was paired with another host since): "
                            "connect it by USB and run `myotwitch pair`")
        self.theirs = theirs
        return mac(self.key, b"myotwitch host" + hs + self.did)[:PROOF_LEN]

    def session(self) -> Session:
        if self.theirs is None:
            raise AuthError("no challenge answered yet")
        return Session(mac(self.key, b"myotwitch session" + self.nonce + self.theirs))
