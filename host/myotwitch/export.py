"""`myotwitch export`: events, sessions, notes and raw samples in formats other tools read.

    export(store, "csv" | "parquet" | "edf", out_dir, since_ms=None, until_ms=None, device=None)

csv      out/events.csv, sessions.csv, notes.csv, samples/session_<id>.csv (a row per sample:
         unix_ms, boot_id, sample_index, one column per channel; empty where frames were lost).
parquet  out/events/ and out/samples/ as hive-partitioned datasets (device=<id>/date=<local
         day>/...parquet), sessions.parquet, notes.parquet: DuckDB, Spark, pandas and polars read
         all the wearers of a study at once, no conversion. Samples are long: one row per
         sample and channel (unix_ms, session_id, boot_id, sample_index, channel, value); lost
         frames have no rows. Boots without a clock sync go to date=unsynced.
edf      out/session_<id>.edf (one file per continuous stretch: _part<k> when a session spans a
         reboot): EDF+ through pyedflib, the raw counts as digital values with the board's
         microvolt scale as physical, events, button marks, lost-frame gaps and notes as
         annotations. Sessions without raw samples have no signal to write; their events are in
         the csv and parquet exports.

Raw samples are read through a memory map in blocks, so a session of hours never sits in memory
whole. A time range (since/until) trims samples to it; events and marks of boots without a clock
sync have no time and are left out of a ranged export (and said).
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch.boards import uv_scale
from myotwitch.formats import hex_id, iso, iso_ms
from myotwitch.notes import FACTORS, list_notes
from myotwitch.protocol import myoproto as mp

FORMATS = ("csv", "parquet", "edf")
BLOCK_ROWS = 1 << 20  # samples per block read from a raw file
EDF_LABEL_MAX = 40  # edflib's limit for one annotation's text


class ExportError(ValueError):
    pass


@dataclass
class ExportResult:
    format: str
    path: Path
    events: int = 0
    sessions: int = 0
    notes: int = 0
    samples: int = 0  # sample rows (one per sample index; all channels)
    raw_bytes: int = 0  # int16 bytes of raw data read
    files: list = field(default_factory=list)
    skipped: list = field(default_factory=list)  # what could not be written, and why
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"format": self.format, "path": str(self.path), "events": self.events,
                "sessions": self.sessions, "notes": self.notes, "samples": self.samples,
                "raw_bytes": self.raw_bytes, "files": len(self.files), "skipped": self.skipped,
                "seconds": round(self.seconds, 3)}


# ---------------------------------------------------------------- what to export


def where(since_ms=None, until_ms=None, device=None, lo="e.onset_unix_ms", hi="e.onset_unix_ms"):
    """(" AND ..." SQL, args) for rows inside [since, until) by their `lo`/`hi` time columns (ms)
    and of one device (its key or board name; the devices table as `d`)."""
    sql, args = "", []
    if device:
        sql += " AND (d.key = ? OR d.board = ?)"
        args += [device, device]
    if since_ms is not None:
        sql += " AND %s >= ?" % hi
        args.append(since_ms)
    if until_ms is not None:
        sql += " AND %s < ?" % lo
        args.append(until_ms)
    return sql, args


SESSION_SPAN = {"lo": "s.started_at * 1000", "hi": "coalesce(s.ended_at, s.started_at) * 1000"}


def event_rows(store, since_ms=None, until_ms=None, device=None):
    """Events as flat rows (one SQL pass, oldest first per device)."""
    sql, args = where(since_ms, until_ms, device)
    return store.conn.execute(
        "SELECT d.key AS device, e.session_id, e.boot_id, e.seq, e.onset_unix_ms AS unix_ms,"
        " e.onset, e.duration, b.fs, e.kind, e.channel, e.peak, e.area, e.source FROM events e"
        " JOIN devices d ON d.id = e.device_id LEFT JOIN boots b ON b.device_id = e.device_id"
        " AND b.boot_id = e.boot_id WHERE 1" + sql + " ORDER BY e.device_id, e.seq", args)


def session_rows(store, since_ms=None, until_ms=None, device=None) -> list:
    """Sessions overlapping [since, until), oldest first."""
    sql, args = where(since_ms, until_ms, device, **SESSION_SPAN)
    return store.conn.execute("SELECT s.*, d.key AS device, d.board FROM sessions s JOIN devices d"
                              " ON d.id = s.device_id WHERE 1" + sql + " ORDER BY s.id",
                              args).fetchall()


def _kind(k):
    return mp.KIND_NAMES[k] if 0 <= k < len(mp.KIND_NAMES) else "kind %d" % k


def _duration_ms(r):
    return round(r["duration"] * 1000.0 / r["fs"], 3) if r["fs"] else None


def _local_date(unix_ms) -> str:
    if unix_ms is None:
        return "unsynced"
    return dt.datetime.fromtimestamp(unix_ms / 1000).date().isoformat()


@dataclass
class RawBlock:
    session_id: int
    segment: int
    boot_id: int | None
    fs: int
    first_index: int  # sample index of the block's first row
    data: np.ndarray  # (rows, channels) int16
    valid: np.ndarray  # (rows, channels) bool: False inside lost frames
    unix_ms: np.ndarray | None  # (rows,) int64, None for a boot without a clock sync
    channels: list


def raw_blocks(store, session, since_ms=None, until_ms=None, block_rows=BLOCK_ROWS):
    """A session's raw samples in blocks, trimmed to [since, until) (segments of boots without
    a clock sync only when no range is asked for)."""
    from myotwitch.rawfile import load_raw

    path = store.raw_path(session["id"])
    if path is None or not path.exists():
        return
    raw = load_raw(path, mmap=True)
    ranged = since_ms is not None or until_ms is not None
    for k, seg in enumerate(raw.segments):
        clock = store.clock(session["device_id"], seg.boot_id) if seg.boot_id is not None else None
        if clock is None and ranged:
            continue
        lo, hi = 0, seg.rows
        if clock is not None and ranged:
            t0 = clock(seg.first_index)
            ms_per = 1000.0 / seg.fs
            if since_ms is not None:
                lo = max(lo, int(np.ceil((since_ms - t0) / ms_per)))
            if until_ms is not None:
                hi = min(hi, int(np.ceil((until_ms - t0) / ms_per)))
        mask = None
        for a in range(lo, hi, block_rows):
            b = min(hi, a + block_rows)
            if mask is None:
                mask = raw.valid_mask(k)
            idx = seg.first_index + np.arange(a, b, dtype=np.int64)
            times = None
            if clock is not None:
                times = np.rint(clock(seg.first_index) + (idx - seg.first_index) * 1000.0
                                / seg.fs).astype(np.int64)
            yield RawBlock(session["id"], k, seg.boot_id, seg.fs, seg.first_index + a,
                           np.asarray(seg.data[a:b]), mask[a:b], times, raw.channels)


# ---------------------------------------------------------------- the formats


def export(store, fmt: str, out, since_ms=None, until_ms=None, device=None,
           progress=None) -> ExportResult:
    """Write an export of the store into the directory `out` (created; it must not hold files)."""
    if fmt not in FORMATS:
        raise ExportError("unknown format %r (one of %s)" % (fmt, ", ".join(FORMATS)))
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError("%s already exists and is not an empty directory: give a new one "
                          "(an export never mixes with an older one)" % out)
    out.mkdir(parents=True, exist_ok=True)
    res = ExportResult(fmt, out)
    t0 = time.perf_counter()
    {"csv": _csv, "parquet": _parquet, "edf": _edf}[fmt](store, out, since_ms, until_ms, device,
                                                          res)
    if since_ms is not None or until_ms is not None:
        n = store.conn.execute("SELECT count(*) FROM events WHERE onset_unix_ms IS NULL"
                               ).fetchone()[0]
        if n:
            res.skipped.append("%d events of boots without a clock sync (no time to filter by)" % n)
    res.seconds = time.perf_counter() - t0
    return res


# ---- CSV

EVENT_COLUMNS = ("device", "session_id", "boot_id", "seq", "time", "unix_ms", "onset",
                 "duration_ms", "kind", "channel", "peak", "area", "source")
SESSION_COLUMNS = ("session_id", "device", "board", "started_at", "ended_at", "end_reason",
                   "fs", "channels", "raw", "notes")
NOTE_COLUMNS = ("note_id", "start", "end", "start_ms", "end_ms", "session_id") + tuple(FACTORS) + (
    "tags", "text")


def _event_dict(r) -> dict:
    return {"device": r["device"], "session_id": r["session_id"], "boot_id": hex_id(r["boot_id"]),
            "seq": r["seq"], "time": iso_ms(r["unix_ms"]), "unix_ms": r["unix_ms"],
            "onset": r["onset"], "duration_ms": _duration_ms(r), "kind": _kind(r["kind"]),
            "channel": r["channel"], "peak": r["peak"], "area": r["area"], "source": r["source"]}


def _session_dict(s) -> dict:
    return {"session_id": s["id"], "device": s["device"], "board": s["board"],
            "started_at": iso(s["started_at"]), "ended_at": iso(s["ended_at"]),
            "end_reason": s["end_reason"], "fs": s["fs"],
            "channels": s["channels"], "raw": s["raw_path"] is not None, "notes": s["notes"]}


def _note_dict(n) -> dict:
    d = {"note_id": n.id, "start": iso_ms(n.start_ms), "end": iso_ms(n.end_ms),
         "start_ms": n.start_ms, "end_ms": n.end_ms, "session_id": n.session_id,
         "tags": " ".join(n.tags), "text": n.text}
    for f in FACTORS:
        d[f] = n.factors.get(f)
    return d


def _write_csv(path, columns, rows) -> int:
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        for r in rows:
            w.writerow(["" if r[c] is None else r[c] for c in columns])
            n += 1
    return n


def _csv(store, out, since_ms, until_ms, device, res):
    res.events = _write_csv(out / "events.csv", EVENT_COLUMNS,
                            (_event_dict(r) for r in event_rows(store, since_ms, until_ms, device)))
    sessions = session_rows(store, since_ms, until_ms, device)
    res.sessions = _write_csv(out / "sessions.csv", SESSION_COLUMNS, map(_session_dict, sessions))
    res.notes = _write_csv(out / "notes.csv", NOTE_COLUMNS,
                           map(_note_dict, list_notes(store, since_ms, until_ms)))
    res.files += [out / "events.csv", out / "sessions.csv", out / "notes.csv"]
    for s in sessions:
        path = None
        for blk in raw_blocks(store, s, since_ms, until_ms):
            if path is None:
                (out / "samples").mkdir(exist_ok=True)
                path = out / "samples" / ("session_%d.csv" % s["id"])
                f = open(path, "wb")
                f.write((",".join(["unix_ms", "boot_id", "sample_index"]
                                  + ["ch%d" % c for c in blk.channels]) + "\n").encode())
                res.files.append(path)
            _csv_block(f, blk)
            res.samples += len(blk.data)
            res.raw_bytes += blk.data.nbytes
        if path is not None:
            f.close()


def _csv_block(f, blk: RawBlock):
    """Rows through pyarrow's CSV writer (C++, tens of MB/s); a lost frame's cells are empty."""
    pa, _, _ = _pa()
    from pyarrow import csv as pacsv

    n = len(blk.data)
    cols = {"unix_ms": pa.array(blk.unix_ms) if blk.unix_ms is not None else pa.nulls(n, pa.int64()),
            "boot_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, dtype=np.int32)),
                                                      pa.array([hex_id(blk.boot_id) or ""])),
            "sample_index": pa.array(blk.first_index + np.arange(n, dtype=np.int64))}
    for c, ch in enumerate(blk.channels):
        cols["ch%d" % ch] = pa.array(blk.data[:, c], mask=~blk.valid[:, c])
    pacsv.write_csv(pa.table(cols), f, pacsv.WriteOptions(include_header=False,
                                                           quoting_style="none"))


# ---- Parquet


def _pa():
    try:
        import pyarrow as pa
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq
    except ImportError as e:  # pragma: no cover - a dependency of myotwitch
        raise ExportError("parquet needs pyarrow (pip install pyarrow): %s" % e) from None
    return pa, ds, pq


def _write_partitioned(table, base, codes, labels, name):
    """Write `table` (without its partition columns) as base/device=<d>/date=<day>/<name>, one
    file per (device, day): labels[code] = (device, day) of each row's code. The hive layout
    DuckDB and Spark read as columns."""
    from urllib.parse import quote

    _, _, pq = _pa()
    codes = np.asarray(codes)
    present = np.unique(codes)
    for code in present:
        dev, day = labels[int(code)]
        d = Path(base) / ("device=" + quote(dev, safe="")) / ("date=" + quote(day, safe=""))
        d.mkdir(parents=True, exist_ok=True)
        part = table if len(present) == 1 else table.take(np.flatnonzero(codes == code))
        pq.write_table(part, d / name)


def _parquet(store, out, since_ms, until_ms, device, res):
    pa, ds, pq = _pa()
    cols = {k: [] for k in ("device", "date", "session_id", "boot_id", "seq", "unix_ms", "onset",
                            "duration_ms", "kind", "channel", "peak", "area", "source")}
    for r in event_rows(store, since_ms, until_ms, device):
        cols["device"].append(r["device"])
        cols["date"].append(_local_date(r["unix_ms"]))
        cols["session_id"].append(r["session_id"])
        cols["boot_id"].append(hex_id(r["boot_id"]))
        cols["seq"].append(r["seq"])
        cols["unix_ms"].append(r["unix_ms"])
        cols["onset"].append(r["onset"])
        cols["duration_ms"].append(_duration_ms(r))
        cols["kind"].append(_kind(r["kind"]))
        cols["channel"].append(r["channel"])
        cols["peak"].append(r["peak"])
        cols["area"].append(r["area"])
        cols["source"].append(r["source"])
    schema = pa.schema([("device", pa.string()), ("date", pa.string()),
                        ("session_id", pa.int64()), ("boot_id", pa.string()), ("seq", pa.int64()),
                        ("unix_ms", pa.int64()), ("onset", pa.int64()),
                        ("duration_ms", pa.float64()), ("kind", pa.string()),
                        ("channel", pa.int16()), ("peak", pa.int32()), ("area", pa.int32()),
                        ("source", pa.string())])
    devices, dates = cols.pop("device"), cols.pop("date")
    table = pa.table(cols, schema=pa.schema([f for f in schema if f.name not in ("device", "date")]))
    table = table.append_column("time", pa.compute.cast(table["unix_ms"], pa.timestamp("ms", "UTC")))
    res.events = table.num_rows
    if table.num_rows:
        labels, codes = np.unique(np.array(["%s\0%s" % kv for kv in zip(devices, dates)],
                                           dtype=object), return_inverse=True)
        _write_partitioned(table, out / "events", codes.ravel(),
                           [tuple(x.split("\0")) for x in labels], "events.parquet")
    sessions = session_rows(store, since_ms, until_ms, device)
    srows = [_session_dict(s) for s in sessions]
    for d, s in zip(srows, sessions):
        d["uv_per_count"], d["unit"] = uv_scale(s["board"])
    pq.write_table(pa.Table.from_pylist(srows, schema=pa.schema([
        ("session_id", pa.int64()), ("device", pa.string()), ("board", pa.string()),
        ("started_at", pa.string()), ("ended_at", pa.string()), ("end_reason", pa.string()),
        ("fs", pa.int32()), ("channels", pa.string()), ("raw", pa.bool_()),
        ("notes", pa.string()), ("uv_per_count", pa.float64()), ("unit", pa.string())])),
        out / "sessions.parquet")
    res.sessions = len(srows)
    notes = list_notes(store, since_ms, until_ms)
    nrows = [dict(_note_dict(n), tags=list(n.tags)) for n in notes]
    pq.write_table(pa.Table.from_pylist(nrows, schema=pa.schema(
        [("note_id", pa.int64()), ("start", pa.string()), ("end", pa.string()),
         ("start_ms", pa.int64()), ("end_ms", pa.int64()), ("session_id", pa.int64())]
        + [(f, pa.float64()) for f in FACTORS]
        + [("tags", pa.list_(pa.string())), ("text", pa.string())])), out / "notes.parquet")
    res.notes = len(nrows)
    for s in sessions:
        for n, blk in enumerate(raw_blocks(store, s, since_ms, until_ms)):
            _parquet_samples(out / "samples", s, blk, n)
            res.samples += len(blk.data)
            res.raw_bytes += blk.data.nbytes
    res.files = sorted(p for p in out.rglob("*.parquet"))


def _parquet_samples(base, session, blk: RawBlock, n):
    pa, _, pq = _pa()
    rows, nch = blk.data.shape
    keep = blk.valid.T.ravel()  # channel-major: one channel's run after the other's
    count = int(keep.sum())
    idx = blk.first_index + np.arange(rows, dtype=np.int64)
    t = blk.unix_ms
    table = pa.table({
        "session_id": np.full(count, session["id"], dtype=np.int64),
        "boot_id": pa.DictionaryArray.from_arrays(pa.array(np.zeros(count, dtype=np.int32)),
                                                  pa.array([hex_id(blk.boot_id)], pa.string())),
        "sample_index": np.tile(idx, nch)[keep],
        "unix_ms": pa.array(np.tile(t, nch)[keep]) if t is not None else pa.nulls(count, pa.int64()),
        "channel": np.repeat(np.array(blk.channels, dtype=np.int16), rows)[keep],
        "value": blk.data.T.ravel()[keep],
    })
    days, labels = _days_of(t, rows)
    _write_partitioned(table, base, np.tile(days, nch)[keep],
                       [(session["device"], d) for d in labels],
                       "s%d-%d-%d.parquet" % (session["id"], blk.segment, n))


def _days_of(t, rows):
    """(a code per sample, the local dates the codes stand for)."""
    if t is None:
        return np.zeros(rows, dtype=np.int64), ["unsynced"]
    from myotwitch.wear import local_offsets_ms

    ends = local_offsets_ms(np.array([t[0], t[-1]]))
    if ends[0] == ends[1]:  # no clock change inside the block (samples are in time order)
        day = (t + ends[0]) // 86_400_000
    else:
        day = (t + local_offsets_ms(t)) // 86_400_000
    starts = np.flatnonzero(np.r_[True, day[1:] != day[:-1]])
    codes = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(day)]))
    return codes, [(dt.date(1970, 1, 1) + dt.timedelta(days=int(day[i]))).isoformat()
                   for i in starts]


# ---- EDF+


def _edf(store, out, since_ms, until_ms, device, res):
    import pyedflib

    sessions = session_rows(store, since_ms, until_ms, device)
    res.sessions = len(sessions)
    notes = list_notes(store, since_ms, until_ms)
    res.notes = len(notes)
    without = []
    for s in sessions:
        blocks_by_seg: dict = {}
        for blk in raw_blocks(store, s, since_ms, until_ms):
            blocks_by_seg.setdefault(blk.segment, []).append(blk)
        if not blocks_by_seg:
            without.append(s["id"])
            continue
        parts = len(blocks_by_seg)
        for k, (seg, blocks) in enumerate(sorted(blocks_by_seg.items())):
            name = "session_%d%s.edf" % (s["id"], "_part%d" % (k + 1) if parts > 1 else "")
            path = out / name
            res.events += _edf_file(pyedflib, store, s, blocks, notes, path, res)
            res.files.append(path)
    if without:
        res.skipped.append("%d session(s) without raw samples%s, so no signal for EDF (their "
                           "events are in the csv and parquet exports): %s"
                           % (len(without), " in the range" if since_ms or until_ms else "",
                              _id_ranges(without)))


def _id_ranges(ids) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out, start = [], None
    for i, x in enumerate(ids):
        if start is None:
            start = x
        if i + 1 == len(ids) or ids[i + 1] != x + 1:
            out.append(str(start) if start == x else "%d-%d" % (start, x))
            start = None
    return ", ".join(out)


def _edf_file(pyedflib, store, s, blocks, notes, path, res) -> int:
    first = blocks[0]
    fs = first.fs
    nch = len(first.channels)
    scale, unit = uv_scale(s["board"])
    w = pyedflib.EdfWriter(str(path), nch, file_type=pyedflib.FILETYPE_EDFPLUS)
    try:
        w.setSignalHeaders([{"label": "EMG ch%d" % c, "dimension": unit, "sample_frequency": fs,
                             "physical_max": 32767 * scale, "physical_min": -32768 * scale,
                             "digital_max": 32767, "digital_min": -32768,
                             "transducer": "surface EMG, %s" % s["board"][:40],
                             "prefilter": ""} for c in first.channels])
        w.setEquipment(("myotwitch_%s" % s["board"]).replace(" ", "_")[:80])
        w.setRecordingAdditional(("session_%d_device_%s" % (s["id"], s["device"])).replace(" ", "_")[:80])
        start_ms = first.unix_ms[0] if first.unix_ms is not None else None
        if start_ms is not None:
            w.setStartdatetime(dt.datetime.fromtimestamp(start_ms / 1000))
        rows = sum(len(b.data) for b in blocks)
        seconds = max(1, rows // fs)
        annotations = _edf_annotations(store, s, blocks, notes, fs, start_ms)
        w.set_number_of_annotation_signals(min(64, max(1, -(-len(annotations) // seconds) + 1)))
        carry = np.zeros((0, nch), dtype=np.int16)
        for b in blocks:
            data = np.concatenate([carry, b.data]) if len(carry) else b.data
            whole = len(data) // fs * fs
            for r in range(0, whole, fs):
                w.blockWriteDigitalShortSamples(np.ascontiguousarray(data[r:r + fs].T).ravel())
            carry = data[whole:]
            res.samples += len(b.data)
            res.raw_bytes += b.data.nbytes
        if len(carry):  # EDF holds whole records: pad the last one and say so
            pad = np.zeros((fs, nch), dtype=np.int16)
            pad[:len(carry)] = carry
            w.blockWriteDigitalShortSamples(np.ascontiguousarray(pad.T).ravel())
            annotations.append((rows / fs, (fs - len(carry)) / fs, "padding (no data)"))
        n_events = 0
        for onset, duration, text in annotations:
            w.writeAnnotation(onset, duration, text[:EDF_LABEL_MAX])
            n_events += text.split(" ", 1)[0] in mp.KIND_NAMES
    finally:
        w.close()
    return n_events


def _edf_annotations(store, s, blocks, notes, fs, start_ms) -> list:
    """(onset s from the file's start, duration s, text): events, marks, gaps, notes."""
    first = blocks[0]
    lo = first.first_index
    hi = blocks[-1].first_index + len(blocks[-1].data)
    out = []
    for e in store.conn.execute("SELECT onset, duration, kind, channel, peak FROM events WHERE"
                                " session_id=? AND boot_id=? AND onset >= ? AND onset < ?"
                                " ORDER BY onset", (s["id"], first.boot_id, lo, hi)):
        out.append(((e["onset"] - lo) / fs, e["duration"] / fs,
                    "%s ch%d peak %d" % (_kind(e["kind"]), e["channel"], e["peak"])))
    for m in store.conn.execute("SELECT sample_index, source FROM marks WHERE session_id=? AND"
                                " boot_id=? AND sample_index >= ? AND sample_index < ?",
                                (s["id"], first.boot_id, lo, hi)):
        out.append(((m["sample_index"] - lo) / fs, -1,
                    "mark (%s)" % ("button" if m["source"] == 0 else "host")))
    from myotwitch.rawfile import load_raw

    raw = load_raw(store.raw_path(s["id"]), mmap=True)
    for g in raw.gaps:
        if g["boot_id"] != first.boot_id:
            continue
        a, b = max(g["first_index"], lo), min(g["first_index"] + g["count"], hi)
        if b > a:
            out.append(((a - lo) / fs, (b - a) / fs, "no data ch%d (lost frames)" % g["channel"]))
    if start_ms is not None:
        end_ms = start_ms + (hi - lo) * 1000 / fs
        from myotwitch.notes import describe, span

        for n in notes:
            a, b = span(n)
            if a < end_ms and b > start_ms:
                onset = max(0.0, (a - start_ms) / 1000)
                out.append((onset, (min(b, end_ms) - start_ms) / 1000 - onset,
                            "note " + describe(n)))
    out.sort(key=lambda x: x[0])
    return out


def describe_result(r: ExportResult) -> str:
    lines = ["exported to %s (%s): %d events, %d sessions, %d notes, %d samples in %d file(s), "
             "%.1f s" % (r.path, r.format, r.events, r.sessions, r.notes, r.samples, len(r.files),
                         r.seconds)]
    lines += ["  not written: " + x for x in r.skipped]
    return "\n".join(lines)

