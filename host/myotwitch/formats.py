"""How values look in output everywhere: times as ISO 8601 with the local offset, to the
millisecond; boot ids and hashes as fixed-width lowercase hex (None stays None); text from a
device or a file with its control characters escaped."""

from __future__ import annotations

import datetime as dt


def iso(unix_s) -> str | None:
    """Unix seconds -> ISO 8601 local time with its offset, e.g. 2026-11-25T15:19:56.123+00:00."""
    if unix_s is None:
        return None
    return dt.datetime.fromtimestamp(unix_s).astimezone().isoformat(timespec="milliseconds")


def iso_ms(unix_ms) -> str | None:
    return None if unix_ms is None else iso(unix_ms / 1000.0)


def hex_id(value, width: int = 8) -> str | None:
    """Boot ids, config hashes: lowercase hex of a fixed width."""
    return None if value is None else "%0*x" % (width, value)


def safe(text) -> str:
    """`text` with control and formatting characters escaped (\\x1b, \\u202e...): names and
    strings from a device or a file must not drive the terminal."""
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append("\\x%02x" % ord(ch))
        elif ord(ch) < 0x10000:
            out.append("\\u%04x" % ord(ch))
        else:
            out.append("\\U%08x" % ord(ch))
    return "".join(out)
