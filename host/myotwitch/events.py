"""Querying stored events: filters (device, wall-clock range, kind, channel) and output as a
table, CSV or JSON lines. Events of a boot without a clock sync have no wall-clock time: they are
shown as "unsynced" and never match a --since/--until range."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field

from myotwitch.formats import iso_ms, safe
from myotwitch.protocol import myoproto as mp

COLUMNS = ("device", "boot_id", "seq", "time", "onset", "kind", "channel", "duration_ms", "peak",
           "area", "source")


@dataclass
class EventFilter:
    device: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    kinds: list = field(default_factory=list)  # names
    channels: list = field(default_factory=list)
    limit: int | None = None


def parse_time(text: str) -> int:
    """ISO 8601 date or date-time (local time unless it has an offset) -> unix ms."""
    try:
        t = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("cannot read %r as a time: use ISO 8601, e.g. 2026-05-01 or "
                         "2026-05-01T08:30 or 2026-05-01T08:30+02:00" % text) from None
    if t.tzinfo is None:
        t = t.astimezone()  # local time
    return int(t.timestamp() * 1000)


def query_events(store, flt: EventFilter) -> list[dict]:
    where, args = [], []
    if flt.device:
        where.append("(d.key = ? OR d.board = ?)")
        args += [flt.device, flt.device]
    if flt.since_ms is not None:
        where.append("e.onset_unix_ms >= ?")
        args.append(flt.since_ms)
    if flt.until_ms is not None:
        where.append("e.onset_unix_ms < ?")
        args.append(flt.until_ms)
    if flt.kinds:
        where.append("e.kind IN (%s)" % ",".join("?" * len(flt.kinds)))
        args += [mp.KIND_NAMES.index(k) for k in flt.kinds]
    if flt.channels:
        where.append("e.channel IN (%s)" % ",".join("?" * len(flt.channels)))
        args += list(flt.channels)
    sql = ("SELECT d.key AS device, e.boot_id, e.seq, e.onset_unix_ms, e.onset, e.kind, e.channel,"
           " e.duration, b.fs, e.peak, e.area, e.source FROM events e"
           " JOIN devices d ON d.id = e.device_id"
           " LEFT JOIN boots b ON b.device_id = e.device_id AND b.boot_id = e.boot_id")
    if where:
        sql += " WHERE " + " AND ".join(where)
    # Oldest first, in the device's record order: seq grows across reboots and never repeats,
    # while wall-clock placements come from separate clock syncs and may disagree slightly.
    order = " ORDER BY e.device_id, e.seq"
    if flt.limit:
        sql = "SELECT * FROM (%s ORDER BY e.device_id DESC, e.seq DESC LIMIT %d) e%s" % (
            sql, int(flt.limit), " ORDER BY device, seq")
    else:
        sql += order
    out = []
    for r in store.conn.execute(sql, args):
        fs = r["fs"] or 0
        out.append({
            "device": r["device"], "boot_id": "%08x" % r["boot_id"], "seq": r["seq"],
            "time": iso_ms(r["onset_unix_ms"]), "unix_ms": r["onset_unix_ms"], "onset": r["onset"],
            "kind": mp.KIND_NAMES[r["kind"]] if 0 <= r["kind"] < 4 else str(r["kind"]),
            "channel": r["channel"],
            "duration_ms": round(r["duration"] * 1000 / fs, 1) if fs else None,
            "peak": r["peak"], "area": r["area"], "source": r["source"]})
    return out


UNSYNCED = "unsynced"  # how a table or CSV shows an event of a boot without a clock sync


def _cell(r, c):
    if c == "time":
        return r["time"] or UNSYNCED
    return "" if r[c] is None else r[c]


def format_events(rows: list[dict], fmt: str):
    """Lines of output: 'csv' (a header row, then one row per event) or 'json' (one object
    per line)."""
    if fmt == "json":
        for r in rows:
            yield json.dumps(r)
        return
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow([_cell(r, c) for c in COLUMNS])
        yield buf.getvalue().rstrip("\n")
        return
