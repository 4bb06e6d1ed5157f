"""Hours of wear: when the device was on and logging, cut into quarter hours, with the twitches
counted in each. Everything the numbers (stats.py), the forecast and the report say per hour of
wear is built on this table.

What counts as wear, per boot of a device that has a clock sync (else its time cannot be placed):
  * the sample range each recorded session saw of that boot (session_boots), and
  * the span of the records pulled from the device's flash log for that boot (STATUS every few
    seconds, events), i.e. time the device was logging while no host was listening.
What is cut out, and said (`excluded`):
  * boots without a clock sync (their events have no wall-clock time);
  * artifacts: the detector cannot see twitches under motion or electrode pops, so an artifact's
    duration is not time it could count twitches;
  * samples the device dropped (its processing fell behind; from successive STATUS counts);
  * records missing from the flash log (log full, lost): the time between the records around
    the gap, since what happened there is unknown. (Seq numbers skipped at a reboot lose nothing.)
Only twitches inside the remaining time count.

Time is cut in UTC quarter hours (every time zone's offset is a whole number of quarters) and
each quarter is placed in the local hour it starts in, so days and hours of day follow the local
clock, daylight saving included, and no real time is counted twice or lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

Q_MS = 900_000  # a quarter hour
H_MS = 3_600_000
TWITCH = 0
ARTIFACT = 3


@dataclass
class WearTable:
    q: np.ndarray  # UTC quarter-hour index (unix ms // Q_MS) of each quarter with wear
    exposure_s: np.ndarray  # seconds of wear in it (any device)
    hour: np.ndarray  # local hour number (local wall clock ms // H_MS)
    twitches: np.ndarray  # twitches counted in it (all devices and channels)
    channels: dict  # (device key, channel) -> twitches per quarter
    device_exposure: dict  # device key -> seconds of that device's wear per quarter
    excluded: dict  # what was left out, for saying so
    events: dict  # events by kind inside the wear time
    since_ms: int | None = None
    until_ms: int | None = None
    devices: list = field(default_factory=list)

    @property
    def hours(self) -> float:
        return float(self.exposure_s.sum()) / 3600.0

    @property
    def day(self) -> np.ndarray:
        """Local day number (days since 1970-01-01 on the local calendar)."""
        return self.hour // 24

    @property
    def hour_of_day(self) -> np.ndarray:
        return self.hour % 24

    @property
    def mid_ms(self) -> np.ndarray:
        """Middle of each quarter, unix ms (where conditions are read)."""
        return self.q * Q_MS + Q_MS // 2

    def empty(self) -> bool:
        return len(self.q) == 0


def day_date(day_number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day_number))


def local_offsets_ms(t_ms: np.ndarray) -> np.ndarray:
    """The local clock's UTC offset (ms) at each time (the machine's time zone, TZ honoured)."""
    t = np.asarray(t_ms, dtype=np.int64)
    if len(t) == 0:
        return np.zeros(0, dtype=np.int64)
    quarters, inv = np.unique(t // Q_MS, return_inverse=True)
    off = np.array([dt.datetime.fromtimestamp(int(x) * Q_MS / 1000).astimezone().utcoffset()
                    // dt.timedelta(milliseconds=1) for x in quarters], dtype=np.int64)
    return off[inv.ravel()]


def local_hour(t_ms: np.ndarray) -> np.ndarray:
    t = np.asarray(t_ms, dtype=np.int64)
    return (t + local_offsets_ms(t)) // H_MS


# ---------------------------------------------------------------- intervals (unix ms, [a, b))


def merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals as sorted, disjoint, non-touching intervals."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    keep = b > a
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return a, b
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    reach = np.maximum.accumulate(b)
    new = np.ones(len(a), dtype=bool)
    new[1:] = a[1:] > reach[:-1]
    starts = a[new]
    ends = reach[np.r_[np.flatnonzero(new)[1:] - 1, len(a) - 1]]
    return starts, ends


def subtract(a, b, cut_a, cut_b) -> tuple[np.ndarray, np.ndarray]:
    """Intervals (a, b) minus the intervals (cut_a, cut_b)."""
    a, b = merge(a, b)
    ca, cb = merge(cut_a, cut_b)
    if len(ca) == 0 or len(a) == 0:
        return a, b
    x = np.concatenate([a, b, ca, cb])
    d_in = np.concatenate([np.ones(len(a)), -np.ones(len(b)), np.zeros(2 * len(ca))])
    d_cut = np.concatenate([np.zeros(2 * len(a)), np.ones(len(ca)), -np.ones(len(cb))])
    order = np.argsort(x, kind="stable")
    x = x[order]
    inside = np.cumsum(d_in[order]) > 0
    cut = np.cumsum(d_cut[order]) > 0
    seg = inside[:-1] & ~cut[:-1] & (x[1:] > x[:-1])
    return merge(x[:-1][seg], x[1:][seg])


def clip(a, b, lo=None, hi=None):
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if lo is not None:
        a = np.maximum(a, lo)
    if hi is not None:
        b = np.minimum(b, hi)
    keep = b > a
    return a[keep], b[keep]


def inside(t, a, b) -> np.ndarray:
    """Which times fall inside the sorted disjoint intervals (a, b)."""
    t = np.asarray(t, dtype=np.int64)
    if len(a) == 0:
        return np.zeros(len(t), dtype=bool)
    i = np.searchsorted(a, t, side="right") - 1
    ok = i >= 0
    ok[ok] = t[ok] < b[i[ok]]
    return ok


def quarters(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Split intervals at UTC quarter hours: (quarter index, ms inside it), summed per quarter."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    if len(a) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    qa = a // Q_MS
    qb = (b - 1) // Q_MS
    n = qb - qa + 1
    which = np.repeat(np.arange(len(a)), n)
    first = np.repeat(np.cumsum(n) - n, n)
    q = qa[which] + (np.arange(len(which)) - first)
    lo = np.maximum(a[which], q * Q_MS)
    hi = np.minimum(b[which], (q + 1) * Q_MS)
    uq, inv = np.unique(q, return_inverse=True)
    return uq, np.bincount(inv.ravel(), weights=hi - lo).astype(np.int64)


# ---------------------------------------------------------------- from the store


def _device_filter(device):
    if not device:
        return "", []
    return " AND (d.key = ? OR d.board = ?)", [device, device]


def build(store, since_ms=None, until_ms=None, device=None) -> WearTable:
    """The wear table of the store for [since, until) (unix ms; None: all) and one device
    (its key or board name; None: every device)."""
    c = store.conn
    dsql, dargs = _device_filter(device)
    boots = {}
    for r in c.execute("SELECT b.device_id, b.boot_id, b.fs, b.sync_unix_ms, b.sync_sample_index,"
                       " d.key FROM boots b JOIN devices d ON d.id = b.device_id WHERE 1" + dsql,
                       dargs):
        boots[(r["device_id"], r["boot_id"])] = r
    ranges = {}  # (device, boot) -> list of (first, last) sample index

    def add(key, lo, hi):
        if key in boots and lo is not None and hi is not None and hi > lo:
            ranges.setdefault(key, []).append((lo, hi))

    for r in c.execute("SELECT device_id, boot_id, first_index, last_index FROM session_boots"):
        add((r[0], r[1]), r[2], r[3])
    # records pulled from the flash log (no session heard them): the span they cover per boot
    for r in c.execute("SELECT device_id, boot_id, min(sample_index), max(sample_index) FROM status"
                       " WHERE session_id IS NULL GROUP BY device_id, boot_id"):
        add((r[0], r[1]), r[2], r[3])
    for r in c.execute("SELECT device_id, boot_id, min(onset), max(onset + duration) FROM events"
                       " WHERE source = 'log' AND session_id IS NULL GROUP BY device_id, boot_id"):
        add((r[0], r[1]), r[2], r[3])

    excluded = {"unsynced_boots": 0, "unsynced_seconds": 0.0, "unsynced_events": 0,
                "unsynced_twitches": 0, "artifact_seconds": 0.0, "dropped_seconds": 0.0,
                "log_gap_records": 0, "log_gap_seconds": 0.0, "log_gaps_unplaced": 0}
    dev_key = {}
    spans = {}  # device id -> ([a], [b]) unix ms
    for key, rs in ranges.items():
        b = boots[key]
        dev_key[key[0]] = b["key"]
        if b["sync_unix_ms"] is None or not b["fs"]:
            excluded["unsynced_boots"] += 1
            excluded["unsynced_seconds"] += sum(hi - lo for lo, hi in rs) / (b["fs"] or 1000)
            continue
        lo = np.array([x[0] for x in rs], dtype=np.float64)
        hi = np.array([x[1] for x in rs], dtype=np.float64)
        s = spans.setdefault(key[0], ([], []))
        s[0].append(_to_ms(b, lo))
        s[1].append(_to_ms(b, hi))
    for r in c.execute("SELECT count(*), sum(e.kind = 0) FROM events e JOIN boots b ON"
                       " b.device_id = e.device_id AND b.boot_id = e.boot_id JOIN devices d ON"
                       " d.id = e.device_id WHERE e.onset_unix_ms IS NULL" + dsql, dargs):
        excluded["unsynced_events"] = r[0] or 0
        excluded["unsynced_twitches"] = r[1] or 0

    cuts = _cuts(store, boots, excluded)
    dev_iv, uncut = {}, {}
    for dev, (la, lb) in spans.items():
        a, b = clip(np.concatenate(la), np.concatenate(lb), since_ms, until_ms)
        a, b = merge(a, b)
        ca, cb = cuts.get(dev, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        _count_cut_kinds(excluded, a, b, cuts.get(("kinds", dev)))
        dev_iv[dev] = subtract(a, b, ca, cb)
        uncut[dev] = (a, b)

    all_a = np.concatenate([v[0] for v in dev_iv.values()]) if dev_iv else np.zeros(0, np.int64)
    all_b = np.concatenate([v[1] for v in dev_iv.values()]) if dev_iv else np.zeros(0, np.int64)
    ua, ub = merge(all_a, all_b)
    q, ms = quarters(ua, ub)
    index = {int(x): i for i, x in enumerate(q)}
    twitches = np.zeros(len(q), dtype=np.int64)
    channels, dev_exp = {}, {}
    events = {"twitch": 0, "burst": 0, "contraction": 0, "artifact": 0}
    names = list(events)
    for dev, (a, b) in dev_iv.items():
        key = dev_key[dev]
        dq, dms = quarters(a, b)
        exp = np.zeros(len(q))
        exp[[index[int(x)] for x in dq]] = dms / 1000.0
        dev_exp[key] = dev_exp.get(key, 0) + exp
        ua_, ub_ = uncut[dev]
        if len(ua_) == 0:
            continue
        ev = _event_times(c, boots, dev)
        if len(ev) == 0:
            continue
        seen = inside(ev[:, 0], *uncut[dev])  # every kind, artifacts included
        for k, n in zip(*np.unique(ev[seen, 1], return_counts=True)):
            name = names[k] if 0 <= k < len(names) else "kind %d" % k
            events[name] = events.get(name, 0) + int(n)
        tw = ev[(ev[:, 1] == TWITCH) & inside(ev[:, 0], a, b)]
        if len(tw) == 0:
            continue
        pos = np.searchsorted(q, tw[:, 0] // Q_MS)
        np.add.at(twitches, pos, 1)
        for ch in np.unique(tw[:, 2]):
            arr = channels.setdefault((key, int(ch)), np.zeros(len(q), dtype=np.int64))
            np.add.at(arr, pos[tw[:, 2] == ch], 1)
    hours = (q * Q_MS + local_offsets_ms(q * Q_MS)) // H_MS
    return WearTable(q=q, exposure_s=ms / 1000.0, hour=hours, twitches=twitches,
                     channels=dict(sorted(channels.items())), device_exposure=dev_exp,
                     excluded=excluded, events=events, since_ms=since_ms, until_ms=until_ms,
                     devices=sorted(set(dev_key[d] for d in dev_iv)))


def _event_times(c, boots, dev) -> np.ndarray:
    """(unix ms, kind, channel) of the device's events of synced boots, each placed by its
    boot's clock from its sample index: the same clock that places the wear time, so events
    and wear agree even where the device's clock ran at another pace than the host's (the
    virtual board played faster than real time)."""
    rows = c.execute("SELECT boot_id, onset, kind, channel FROM events WHERE device_id=?"
                     " ORDER BY boot_id", (dev,)).fetchall()
    if not rows:
        return np.zeros((0, 3), dtype=np.int64)
    arr = np.array([tuple(r) for r in rows], dtype=np.int64)
    out = []
    for boot in np.unique(arr[:, 0]):
        b = boots.get((dev, int(boot)))
        if b is None or b["sync_unix_ms"] is None or not b["fs"]:
            continue
        sel = arr[arr[:, 0] == boot]
        out.append(np.column_stack([_to_ms(b, sel[:, 1].astype(float)), sel[:, 2], sel[:, 3]]))
    return np.concatenate(out) if out else np.zeros((0, 3), dtype=np.int64)


def _to_ms(boot, idx: np.ndarray) -> np.ndarray:
    return np.rint(boot["sync_unix_ms"] + (idx - boot["sync_sample_index"]) * 1000.0
                   / boot["fs"]).astype(np.int64)


def _cuts(store, boots, excluded) -> dict:
    """device id -> (a, b) unix ms to cut out, and ("kinds", device) -> {kind: (a, b)}."""
    c = store.conn
    per = {}

    def put(dev, kind, a, b):
        k = per.setdefault(dev, {})
        la, lb = k.setdefault(kind, ([], []))
        la.append(np.asarray(a, dtype=np.int64))
        lb.append(np.asarray(b, dtype=np.int64))

    # artifacts: their duration in device samples
    rows = c.execute("SELECT device_id, boot_id, onset, duration FROM events WHERE kind = 3"
                     " ORDER BY device_id, boot_id").fetchall()
    _by_boot(rows, boots, lambda b, r: put(b["device_id"], "artifact",
                                           _to_ms(b, r[:, 2].astype(float)),
                                           _to_ms(b, (r[:, 2] + r[:, 3]).astype(float))))
    # dropped samples: the growth of the device's count between successive STATUS of a boot
    rows = c.execute("SELECT device_id, boot_id, sample_index, dropped FROM status"
                     " ORDER BY device_id, boot_id, sample_index").fetchall()

    def dropped(b, r):
        d = np.diff(r[:, 3])
        grew = np.flatnonzero(d > 0)
        if len(grew):
            end = r[grew + 1, 2].astype(float)
            put(b["device_id"], "dropped", _to_ms(b, end - d[grew]), _to_ms(b, end))
    _by_boot(rows, boots, dropped)
    # records missing from the flash log: the time between the records either side
    for g in c.execute("SELECT device_id, from_seq, to_seq FROM log_gaps WHERE kind != 'reboot'"):
        dev, lo, hi = g
        if not any(k[0] == dev for k in boots):
            continue
        excluded["log_gap_records"] += hi - lo + 1
        before = c.execute("SELECT max(t) FROM (SELECT max(onset_unix_ms) AS t FROM events WHERE"
                           " device_id=? AND seq < ? UNION ALL SELECT max(unix_ms) FROM marks WHERE"
                           " device_id=? AND seq < ?)", (dev, lo, dev, lo)).fetchone()[0]
        after = c.execute("SELECT min(t) FROM (SELECT min(onset_unix_ms) AS t FROM events WHERE"
                          " device_id=? AND seq > ? UNION ALL SELECT min(unix_ms) FROM marks WHERE"
                          " device_id=? AND seq > ?)", (dev, hi, dev, hi)).fetchone()[0]
        if before is None or after is None or after <= before:
            excluded["log_gaps_unplaced"] += 1
            continue
        put(dev, "log_gap", [before], [after + 1])
    out = {}
    for dev, kinds in per.items():
        kv = {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in kinds.items()}
        out[dev] = (np.concatenate([v[0] for v in kv.values()]),
                    np.concatenate([v[1] for v in kv.values()]))
        out[("kinds", dev)] = kv
    return out


def _by_boot(rows, boots, fn):
    if not rows:
        return
    arr = np.array([tuple(r) for r in rows], dtype=np.int64)
    keys = arr[:, 0] * (1 << 33) + arr[:, 1]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    for s, e in zip(starts, np.r_[starts[1:], len(arr)]):
        b = boots.get((int(arr[s, 0]), int(arr[s, 1])))
        if b is not None and b["sync_unix_ms"] is not None and b["fs"]:
            fn(b, arr[s:e])


def _count_cut_kinds(excluded, a, b, kinds):
    """Seconds of each kind of cut that fell inside the wear time (overlaps counted once each)."""
    if not kinds:
        return
    for kind, (ca, cb) in kinds.items():
        ma, mb = merge(ca, cb)
        kept_a, kept_b = subtract(a, b, ma, mb)
        excluded[kind + "_seconds"] += (int((b - a).sum()) - int((kept_b - kept_a).sum())) / 1000.0
