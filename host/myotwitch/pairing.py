"""Pairing a board with this host: `myotwitch pair` and `unpair` (SPEC section 13).

Over USB only: plugging the board in is what proves you own it. `pair` makes a fresh random
32-byte owner key, gives it to the board (PAIR, stored on its flash) and keeps it in the host's
key store under the board's device id. Pairing again replaces the key on both sides: that is
key rotation, and how a lost or retired host is locked out (its old key stops working).
`unpair` deletes the key on the board (UNPAIR) and here; `forget` deletes it here only (a lost
board).
"""

from __future__ import annotations

import os

from myotwitch.link import Device, LinkError
from myotwitch.ownerkeys import KeyStore
from myotwitch.protocol import myoproto as mp


class PairError(LinkError):
    pass


def _usb_device_id(dev: Device) -> str:
    if getattr(dev.link.serial, "seal", None) is not None:
        raise PairError("pairing is over USB only (physical access is what proves you own the "
                        "board): connect it by cable and use its serial port, or --port sim")
    hello = dev.hello()
    if not hello.device_id:
        raise PairError("this firmware does not report a device id: update it "
                        "(myotwitch flash) before pairing")
    return hello.device_id


def pair(dev: Device, keys: KeyStore | None = None) -> dict:
    """Give the board a new owner key and keep it here. Returns {device_id, name, replaced,
    key_file}."""
    keys = keys or KeyStore()
    did = _usb_device_id(dev)
    try:
        name = dev.config_get("name").get("name")
    except LinkError:
        name = None
    replaced = keys.get(did) is not None
    key = os.urandom(32)
    dev.link.request(mp.PAIR, {"key": key})
    try:
        path = keys.put(did, key, name)
    except OSError as e:
        raise PairError("the board took the new key but this host could not keep it (%s): run "
                        "`myotwitch pair` again" % e) from e
    return {"device_id": did, "name": name, "replaced": replaced, "key_file": str(path)}


def unpair(dev: Device, keys: KeyStore | None = None) -> dict:
    """Delete the owner key on the board and here: no host can open it over BLE until the next
    `pair`."""
    keys = keys or KeyStore()
    did = _usb_device_id(dev)
    dev.link.request(mp.UNPAIR, {})
    return {"device_id": did, "removed_here": keys.remove(did)}


def forget(device_id: str, keys: KeyStore | None = None) -> bool:
    """Delete this host's key for a board that is not at hand (lost, given away)."""
    return (keys or KeyStore()).remove(device_id)
