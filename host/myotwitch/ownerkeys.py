"""Owner keys: the random 32-byte secret `myotwitch pair` shares with a board over USB (SPEC
section 13). One file per board in <data dir>/keys/, named by the board's device id (never by
its name or BLE address, which change), readable by this user only (0600, folder 0700).

Whoever can read these files can open the board over BLE: they are as private as the store.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

KEY_LEN = 32
_ID = re.compile(r"^[0-9a-f]{2,32}$")


class OwnerKeyError(Exception):
    """A key file that is unreadable or not ours."""


def keys_dir() -> Path:
    from myotwitch.store import user_data_dir

    return user_data_dir() / "keys"


def _check_id(device_id: str) -> str:
    if not device_id or not _ID.match(device_id):
        raise ValueError("not a device id: %r (lowercase hex, as HELLO reports it)" % device_id)
    return device_id


class KeyStore:
    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else keys_dir()

    def path(self, device_id: str) -> Path:
        return self.root / (_check_id(device_id) + ".json")

    def get(self, device_id: str) -> bytes | None:
        """The owner key of this board, None if this host has none."""
        try:
            data = json.loads(self.path(device_id).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise OwnerKeyError("the key file for %s is unreadable (%s): pair the board again over "
                            "USB" % (device_id, e)) from e
        key = bytes.fromhex(data.get("key", ""))
        if len(key) != KEY_LEN:
            raise OwnerKeyError("the key file for %s holds no 32-byte key: pair again" % device_id)
        return key

    def put(self, device_id: str, key: bytes, name: str | None = None) -> Path:
        """Store (or replace) the key, atomically, 0600 in a 0700 folder."""
        if len(key) != KEY_LEN:
            raise ValueError("an owner key is %d bytes" % KEY_LEN)
        from myotwitch.private import make_dir, tighten

        tighten(make_dir(self.root))
        path = self.path(device_id)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"device_id": device_id, "key": key.hex(), "name": name,
                       "paired_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    def remove(self, device_id: str) -> bool:
        try:
            self.path(device_id).unlink()
            return True
        except FileNotFoundError:
            return False

    def all(self) -> list[dict]:
        """Every paired board: device_id, name, paired_at (no keys)."""
        out = []
        if not self.root.is_dir():
            return out
        for p in sorted(self.root.glob("*.json")):
            try:
                d = json.loads(p.read_text())
            except (OSError, ValueError):
                continue
            out.append({"device_id": d.get("device_id"), "name": d.get("name"),
                        "paired_at": d.get("paired_at")})
        return out
