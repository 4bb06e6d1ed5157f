"""The device's twitch detector in NumPy: the same events, bit for bit, from the same samples.

`firmware/detector.py` is the definition (algorithm and units: firmware/DETECTOR.md). It was
designed so that this twin needs no loop per sample: the filters are FIRs whose taps change
only at block ends (mains comb, box band-passes, moving sums: exact with integer cumsum), the
noise floors depend only on fixed 128-sample blocks counted from reset, and the hysteresis
reduces to grouping the samples above the offset level. Only per-block work (the floors'
sub-windows, the mains decision) and per-event work (onset refinement, features, kind,
heartbeat) loop, once per block or event.

    detect(samples, fs, params=None, channel=0, first_index=0, flush=False)
        -> structured array (EVENT_DTYPE), the device's events in order
    Stream(fs, params=None, channel=0, first_index=0): .feed(chunk) -> events, .flush() -> events
        the same events from a recording fed in chunks of any size, in bounded memory
        (detect() is one Stream fed once)
    events_to_dicts(ev, fs) -> [{"onset_s", "offset_s", "duration_ms", "kind", ...}]
    settle_samples(params, fs) -> how long after an event's offset the device may send it
    reference(...)  the firmware's own detector (detref.RefDetector) run in CPython (slow; tests)
"""

from __future__ import annotations

import numpy as np

from myotwitch.firmware import detector as _fw
from myotwitch.firmware import detref as _fwref
from myotwitch.firmware import dettable as _fwtable
from myotwitch.protocol import myoproto as mp

KIND_NAMES = mp.KIND_NAMES
PARAMS = _fwtable.PARAMS
DEFAULTS: dict = {p[0]: p[1] for p in PARAMS}
# Units of the CONFIG keys (kept here, not on the device: every object costs its heap).
UNITS: dict = {
    "det_thresh": "1/16 floor", "det_off": "1/16 floor", "det_win_ms": "ms", "det_hold_ms": "ms",
    "det_twitch_ms": "ms", "det_burst_ms": "ms", "det_mains_hz": "Hz", "det_step": "1/16 peak",
    "det_sided": "1/16 peak", "det_sat": "counts", "det_rr_ms": "ms", "det_wide": "1/16 floor",
}
# What each CONFIG key does (kept here, not on the device, whose heap is small).
DESCRIPTIONS: dict = {
    "det_thresh": "envelope level that starts an event, in 1/16 of the narrow band's noise floor "
                  "(86 = 5.4x); earlier potentials at 5/6 of it belong to the event",
    "det_off": "envelope level that keeps an event going, in 1/16 of each band's floor (capped "
               "at det_thresh and det_wide)",
    "det_win_ms": "envelope window: moving sum of the band-passed magnitude",
    "det_hold_ms": "an event ends after this long below det_off; closer potentials merge",
    "det_twitch_ms": "longest event reported as a twitch",
    "det_burst_ms": "longest event reported as a burst (longer: a contraction); also how far "
                    "back an event's first potentials are looked for",
    "det_mains_hz": "mains hum: 0 finds 50 Hz, 60 Hz or none by itself and follows a change "
                    "(STATUS mains); 1-39 no comb; 40-65 a comb at that frequency",
    "det_step": "artifact if the level after the event moved by more than this part of its peak "
                "(step, electrode pop); 0: off",
    "det_sided": "artifact if the smaller swing is below this part of the larger (one-sided "
                 "excursion: pop, ramp); 0: off",
    "det_sat": "artifact if a sample reaches +-this many counts (saturation, electrode off)",
    "det_rr_ms": "longest heartbeat interval for the heartbeat check, which learns the beat's "
                 "shape (shortest interval: 300 ms); 0: off",
    "det_wide": "onset level of the wide band (5 ms half-length, for slow 15-30 ms potentials), "
                "1/16 of its own noise floor; 0: narrow band only",
}
RANGES: dict = {p[0]: (p[2], p[3]) for p in PARAMS}
EVENT_DTYPE = np.dtype([("onset", "<i8"), ("duration", "<i4"), ("kind", "u1"), ("channel", "u1"),
                        ("peak", "<i4"), ("area", "<i4")])

BLOCK = 128  # samples per noise-floor block (firmware: the `bpos == 128` roll-over)
BIG = _fw.BIG
QN = _fw.QN
HIST = 256  # samples of history a chunk needs before it: the firmware's delay line
CHUNK = 1 << 16  # Stream.feed works through longer input in pieces of this (same events;
# arrays of ~0.5 MB: larger pieces were no faster and their first allocations page-faulted)


class DetectError(ValueError):
    pass


# The sample rates the detector runs at, derived from the firmware's integer windows (the
# device itself takes CONFIG fs 500..2000). Below 500 Hz the narrow band's 2 ms half-length
# (fs // 500) is under one sample and is clamped to 1: the band no longer passes what it is
# for (and surface EMG, up to ~450 Hz, aliases). Above 3199 Hz the wide band's two half-lengths
# (2 * (fs // 200) = 32 at 3200 Hz) reach past the 32-sample ring of the mains comb's output
# that both bands read (firmware/detector.py, `cr`), and the twin would no longer be the
# device's detector. In between, every fixed-point bound of DETECTOR.md holds (the comb's
# delay is at most 128 samples, its taps K * d at most 255, K * (fs // 200) at most 30).
FS_RANGE = (500, 3199)


def check_fs(fs) -> int:
    """`fs` as the whole number of Hz the detector runs at, or DetectError saying the range
    and why."""
    lo, hi = FS_RANGE
    try:
        ok = float(fs) == int(fs) and lo <= int(fs) <= hi
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise DetectError(
            "a sample rate of %s Hz: the detector runs at %d..%d Hz, whole numbers (its "
            "band-pass needs a sample per 2 ms; above %d Hz its wide band reaches past the "
            "firmware's 32-sample ring of the mains comb's output): resample the recording" % (
                ("%g" % fs) if isinstance(fs, (int, float)) else repr(fs), lo, hi, hi))
    return int(fs)


def check_params(params=None, where="detector settings", strict=False) -> dict:
    """DEFAULTS updated with `params`, every value checked against the CONFIG range; DetectError
    naming `where`, the first bad key and its unit. `strict` (a user's JSON file) takes only
    ints; otherwise any integral number (NumPy ints, 5.0) passes."""
    p = dict(DEFAULTS)
    for k, v in (params or {}).items():
        if k not in DEFAULTS:
            raise DetectError("%s: unknown key %r (detector keys: %s)"
                              % (where, k, ", ".join(DEFAULTS)))
        try:
            ok = type(v) is int if strict else not isinstance(v, bool) and int(v) == v
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise DetectError("%s: %s takes an integer (%s), got %r" % (where, k, UNITS[k], v))
        lo, hi = RANGES[k]
        if not lo <= int(v) <= hi:
            raise DetectError("%s: %s must be %d..%d %s, got %d" % (where, k, lo, hi, UNITS[k], v))
        p[k] = int(v)
    return p


def _derived(fs: int, p: dict) -> dict:
    """The integers Detector.configure derives (same expressions)."""
    thr = p["det_thresh"]
    w = min(64, max(1, p["det_win_ms"] * fs // 1000))
    gthr = p["det_wide"]
    ww = min(64, 2 * w)
    wmax = ww if gthr else w
    l, lw = max(1, fs // 500), max(1, fs // 200)
    hold = max(1, p["det_hold_ms"] * fs // 1000)
    twitch = p["det_twitch_ms"] * fs // 1000
    rr_hi = p["det_rr_ms"] * fs // 1000
    hz = p["det_mains_hz"]
    return {
        "fs": fs, "thr": thr, "off": min(p["det_off"], thr), "w": w,
        "gthr": gthr, "ww": ww, "lw": lw, "wmax": wmax, "hold": hold, "twitch": twitch,
        "burst": p["det_burst_ms"] * fs // 1000, "step": p["det_step"], "sided": p["det_sided"],
        "l": l, "sat": p["det_sat"], "rr_lo": fs * 3 // 10, "rr_hi": rr_hi,
        "cap": min(fs * 40 // 1000, 64 - wmax),
        "horizon": (9 * rr_hi >> 2) + hold + twitch + w if rr_hi else 0,
        "auto": hz == 0, "fixed": hz if hz >= 40 else 0,
        "d5": _fw.period(fs, 50), "d6": _fw.period(fs, 60),
    }


def _comb(q, hz):
    """(delay d, taps K) of the mains comb at hz (0: none), as Detector.set_mains."""
    d = _fw.period(q["fs"], hz) if hz else 0
    return d, _fw.taps(q["fs"], d, q["lw"])


def _spread(q, d):
    """What the filters add to an event's length (narrow band, wide band), comb delay d: the
    comb's echoes count for two of its periods (Detector.finish)."""
    e = d * min(2, _fw.taps(q["fs"], d, q["lw"])) if d else 0
    return q["w"] + q["l"] + e - 2, q["ww"] + q["lw"] + e - 2


def settle_samples(params: dict, fs: int) -> int:
    """At most how many samples after an event's reported offset (onset + duration) the device
    sends it: `hold` after the envelopes' last sample above the offset level (which lies up to
    the filters' spread past the offset, the widest mains comb's delay included), or later while
    the event is held for the heartbeat check (released at a 128-sample block end once due).
    (Durations saturate at 4095 samples: longer events end later.)"""
    q = _derived(int(fs), check_params(params))
    d = max(_fw.period(int(fs), 50), _fw.period(int(fs), 60))
    return max(max(_spread(q, d)) + q["hold"], q["horizon"] + 127) + 1


def _samples(samples) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim != 1:
        raise DetectError("detect() takes one channel: a 1-D array, got shape %s" % (x.shape,))
    if x.dtype.kind == "f":
        if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
            raise DetectError("samples must be integer ADC counts (no NaN, no fractions)")
    elif x.dtype.kind not in "iub":
        raise DetectError("samples must be integers, got dtype %s" % x.dtype)
    if x.size and (x.min() < -32768 or x.max() > 32767):
        raise DetectError("samples outside the int16 range")
    return x.astype(np.int64)


def _box(cum, i0, n, length, lag):
    """For each of n outputs i = i0.., the sum of the `length` values ending `lag` before it
    (cum: cumsum with a leading 0 of the series)."""
    hi = i0 - lag + 1
    return cum[hi:hi + n] - cum[hi - length:hi - length + n]


def _band(series, i0, n, l):
    """The box band-pass (sum of the last l minus the l before) of series at i0..i0+n."""
    cum = np.zeros(len(series) + 1, np.int64)
    np.cumsum(series, out=cum[1:])
    return _box(cum, i0, n, l, 0) - _box(cum, i0, n, l, l)


def _moving(hist, v, w):
    """Moving sums over w of v (with `hist`, the values before it)."""
    s = np.concatenate([hist, v])
    cum = np.zeros(len(s) + 1, np.int64)
    np.cumsum(s, out=cum[1:])
    h = len(hist)
    return cum[h + 1:] - cum[h + 1 - w:len(s) + 1 - w]


def _floors(st, k0, sums, band=False):
    """Detector floor() over consecutive blocks k0.. with block sums `sums`: (the raw floor
    after each block (the minimum, before >> 5; a band's: the second-lowest of the five
    sub-window minima, at most 5/4 of the lowest), the floor state after). st: the 5-int state:
    the running minimum of the open sub-window of 8 blocks, then the last four's minima."""
    nb = len(sums)
    if nb == 0:
        return np.zeros(0, np.int64), list(st)
    pre = k0 & 7
    span = -(-(pre + nb) // 8) * 8
    buf = np.full(span, BIG, np.int64)
    buf[0] = st[0] if pre else BIG  # the open sub-window's blocks before k0
    buf[pre:pre + nb] = sums
    r = np.minimum.accumulate(buf.reshape(-1, 8), axis=1).ravel()[pre:pre + nb]
    ks = k0 + np.arange(nb)
    sw = ks >> 3
    sw0 = k0 >> 3
    nsw = int(sw[-1]) - sw0 + 1
    table = np.full(nsw + 4, BIG, np.int64)  # sub-window minima, numbered from sw0 - 4
    for j in range(4):
        table[j] = st[1 + ((sw0 - 4 + j) & 3)]
    ends = np.flatnonzero((ks & 7) == 7)
    table[4 + sw[ends] - sw0] = r[ends]
    if band:
        lo = np.partition(np.stack([r] + [table[4 + sw - sw0 - j] for j in range(1, 5)]), 1,
                          axis=0)
        out = np.where(lo[1] < BIG, np.minimum(lo[1], lo[0] + (lo[0] >> 2)), lo[0])
    else:
        out = r
        for j in range(1, 5):
            out = np.minimum(out, table[4 + sw - sw0 - j])
    new = list(st)
    for i in ends:
        new[1 + (int(sw[i]) & 3)] = int(r[i])
    new[0] = BIG if (int(ks[-1]) & 7) == 7 else int(r[-1])
    return out, new


def _over(v, lvb, starts):
    """v[t] > the level of t's block, for every chunk sample (block-aligned, no per-sample
    copy of the levels)."""
    out = np.empty(len(v), bool)
    m = len(v)
    b0 = int(starts[1]) if len(starts) > 1 else m
    np.greater(v[:b0], lvb[0], out=out[:b0])
    full = (m - b0) // 128
    if full:
        f = b0 + full * 128
        np.greater(v[b0:f].reshape(full, 128), lvb[1:1 + full, None],
                   out=out[b0:f].reshape(full, 128))
    else:
        f = b0
    if f < m:
        np.greater(v[f:], lvb[-1], out=out[f:])
    return out


def _mu4(m):
    return np.clip(np.asarray(m, np.int64) >> 5, 4, 524287)


def _levels(mu4, thr, off, w):
    """Onset, offset and chain levels (firmware: detector.levels)."""
    return [((mu4 * t) >> 6) * w for t in (thr, min(off, thr), thr * 5 // 6)]


class _Idle:
    """The detector's event state between samples."""

    def __init__(self):
        self.active = 0
        self.wide = 0
        self.last = 0
        self.area = 0
        self.xmax = 0
        self.xmin = 0
        self.cs = -65536
        self.cl = -65536
        self.onset = 0
        self.base = 0
        self.pol = False
        self.xbase = 0
        self.pb = 8
        self.ymax = 0
        self.ymin = 0
        self.ref = 0  # (twin only) where the event's run starts


class Stream:
    """The device's detector fed in chunks: feed(chunk) returns the events the device sends
    while those samples arrive, flush() what it still holds at the end; for any chunking the
    same events as detect() on the whole, in memory bounded by the chunk."""

    def __init__(self, fs, params=None, channel=0, first_index=0):
        self.p = check_params(params)
        self.fs = int(fs)
        self.q = _derived(self.fs, self.p)
        self.channel = channel
        self.first_index = int(first_index)
        self.n = 0  # samples fed since reset
        self.ev = _Idle()
        self.fl = [BIG] * 25
        self.bk = 0
        self.part = [0, 0, 0, 0, 0]  # the open block's sums: narrow, wide, decision x3
        self.mains = self.q["fixed"]
        self.lv = [BIG] * 6
        self.noise = 0
        self.queue = []  # held events: [onset, dur, kind, signed peak, area, seq]
        self.seq = 0
        self.rm = [0] * 5
        self.hist = None  # the last HIST samples of x, c, |f|, |g| (None: before the first)

    # ---- per chunk

    def feed(self, samples) -> np.ndarray:
        x = _samples(samples)
        if len(x) > CHUNK:  # in pieces: the same events, arrays that stay small
            return np.concatenate([self.feed(x[i:i + CHUNK]) for i in range(0, len(x), CHUNK)])
        if not len(x):
            return np.zeros(0, EVENT_DTYPE)
        q = self.q
        if self.hist is None:  # fresh: the delay lines hold the first sample
            d0, _ = _comb(q, self.mains)
            self.hist = (np.full(HIST, x[0], np.int64), np.full(HIST, 0 if d0 else x[0], np.int64),
                         np.zeros(HIST, np.int64), np.zeros(HIST, np.int64))
        xh, ch, ah, gh = self.hist
        m = len(x)
        n0 = self.n
        X = np.concatenate([xh, x])
        blocks = self._blocks(X, n0, m)
        c = self._comb_out(X, n0, m, blocks)
        C = np.concatenate([ch, c])
        a = np.abs(_band(C, HIST, m, q["l"]))
        e = _moving(ah, a, q["w"])
        if q["gthr"]:
            ag = np.abs(_band(C, HIST, m, q["lw"]))
            eg = _moving(gh, ag, q["ww"])
        else:
            ag = np.zeros(m, np.int64)
            eg = ag
        self._levels(blocks, a, ag, n0, m)
        out = self._events(X, x, a, ag, e, eg, blocks, n0, m)
        self.hist = (X[-HIST:], C[-HIST:], np.concatenate([ah, a])[-HIST:],
                     np.concatenate([gh, ag])[-HIST:])
        self.n = n0 + m
        return out

    def flush(self) -> np.ndarray:
        """The events still held (Detector.flush at the end of a recording)."""
        out = [self._emit(r) for r in self.queue]
        self.queue = []
        return np.array(out, EVENT_DTYPE) if out else np.zeros(0, EVENT_DTYPE)

    # ---- blocks: the floors, the mains decision, the levels

    def _blocks(self, X, n0, m):
        """Per block touched by this chunk: dict of arrays: 'start' (first chunk sample), the
        mains frequency in effect, and the decision band's sums (for the mode decision)."""
        q = self.q
        # block b covers chunk samples [starts[b], starts[b+1]); the first may have begun before
        t0 = (-n0) & 127
        starts = np.concatenate([[0], np.arange(t0 if t0 else 128, m, 128)]).astype(np.int64)
        ends = np.append(starts[1:], m)
        complete = ((n0 + ends) & 127) == 0  # the block ends within this chunk
        nb = len(starts)
        hz = np.empty(nb, np.int64)
        if q["auto"]:
            lw = q["lw"]
            cum = np.zeros(len(X) + 1, np.int64)
            np.cumsum(X, out=cum[1:])
            h = _box(cum, HIST, m, lw, 0) - _box(cum, HIST, m, lw, lw)
            sums = []
            for dd in (0, q["d5"], q["d6"]):
                v = h if not dd else h - (_box(cum, HIST, m, lw, dd) - _box(cum, HIST, m, lw,
                                                                            dd + lw))
                sums.append(np.add.reduceat(np.abs(v), starts))
            hz[:] = self._decide(sums, complete)
        else:
            hz[:] = self.mains
        return {"starts": starts, "ends": ends, "complete": complete, "hz": hz}

    def _decide(self, sums, complete):
        """The mains comb in effect in each block (Detector.decide at each block end)."""
        nb = len(complete)
        out = np.empty(nb, np.int64)
        cols = []
        part = self.part
        for i, s in enumerate(sums):
            s = s.copy()
            s[0] += part[2 + i]
            cols.append(s)
        done = np.flatnonzero(complete)
        k0 = self.bk
        floors = []
        for i in range(3):
            fl, st = _floors(self.fl[10 + 5 * i:15 + 5 * i], k0, cols[i][done])
            self.fl[10 + 5 * i:15 + 5 * i] = st
            floors.append((_mu4(fl)).tolist())
        hz = self.mains
        j = 0
        for b in range(nb):
            out[b] = hz
            if complete[b]:
                m0, m5, m6 = floors[0][j], floors[1][j], floors[2][j]
                j += 1
                best, mb = (50, m5) if m5 <= m6 else (60, m6)
                if hz == 0:
                    new = best if mb < m0 else 0
                else:
                    cur = m5 if hz == 50 else m6
                    new = 0 if 4 * cur >= 5 * m0 else best if 8 * mb < 7 * cur else hz
                hz = new
        last = nb - 1
        if not complete[last]:
            for i in range(3):
                part[2 + i] = int(cols[i][last])
        else:
            part[2:] = [0, 0, 0]
        self._hz_after = hz
        return out

    def _comb_out(self, X, n0, m, blocks):
        """c, the mains comb's output, per chunk sample (the comb of each sample's block)."""
        x = X[HIST:]
        hz = blocks["hz"]
        if (hz == hz[0]).all():
            sel = [(int(hz[0]), np.arange(m))]
        else:
            code = np.repeat(hz.astype(np.int8), blocks["ends"] - blocks["starts"])
            sel = [(int(h), np.flatnonzero(code == h)) for h in np.unique(hz)]
        c = np.empty(m, np.int64)
        for h, idx in sel:
            d, k = _comb(self.q, h)
            if not d:
                c[idx] = x[idx]
                continue
            v = k * x[idx]
            for j in range(1, k + 1):
                v -= X[HIST + idx - j * d]
            c[idx] = v
        return c

    def _levels(self, blocks, a, ag, n0, m):
        """The levels and noise in force during each block (blocks['lv'], 6 x nb, and
        blocks['noise']) and the narrow and wide floors' states (Detector.block, set_mains)."""
        q = self.q
        starts, complete, hz = blocks["starts"], blocks["complete"], blocks["hz"]
        nb = len(starts)
        sn = np.add.reduceat(a, starts)
        sw = np.add.reduceat(ag, starts)
        sn[0] += self.part[0]
        sw[0] += self.part[1]
        nxt = np.append(hz[1:], self._hz_after if q["auto"] else self.mains)
        lv = np.empty((6, nb), np.int64)
        noise = np.empty(nb, np.int64)
        cur = list(self.lv)
        nz = self.noise
        k = self.bk
        b = 0
        while b < nb:
            # a run of blocks with one comb (a switch at a run's end restarts the bands' floors)
            e = b
            while e + 1 < nb and hz[e + 1] == hz[b]:
                e += 1
            run = np.arange(b, e + 1)
            done = run[complete[run]]
            fn, self.fl[0:5] = _floors(self.fl[0:5], k, sn[done], True)
            fw, self.fl[5:10] = _floors(self.fl[5:10], k, sw[done], True)
            kc = _comb(q, int(hz[b]))[1] or 1
            mu = _mu4(fn)
            nl = _levels(mu, q["thr"], q["off"], q["w"])
            gl = _levels(_mu4(fw), q["gthr"], q["off"], q["ww"]) if q["gthr"] else None
            # Each block runs on the levels set at the end of the block before; only a run's
            # last block can be incomplete (the chunk's end), so a run's levels are the ones
            # carried in followed by those its complete blocks set, one block late.
            nd = len(done)
            new = np.empty((6, nd), np.int64)
            new[0:3] = nl
            new[3:6] = gl if gl else BIG
            nzs = (mu >> 2) // kc
            lv[:, b] = cur
            noise[b] = nz
            lv[:, b + 1:e + 1] = new[:, :e - b]
            noise[b + 1:e + 1] = nzs[:e - b]
            if nd:
                cur = [int(v) for v in new[:, -1]]
                nz = int(nzs[-1])
                k += nd
                if nxt[e] != hz[e] and complete[e]:  # set_mains: floors and levels start again
                    self.fl[0:10] = [BIG] * 10
                    cur = [BIG] * 6
            b = e + 1
        last = nb - 1
        self.part[0:2] = [0, 0] if complete[last] else [int(sn[last]), int(sw[last])]
        self.lv = cur
        self.noise = nz
        self.bk = k
        self.mains = int(nxt[last])
        blocks["lv"] = lv
        blocks["noise"] = noise

    # ---- events

    def _events(self, X, x, a, ag, e, eg, blocks, n0, m):
        q = self.q
        hold = q["hold"]
        lv = blocks["lv"]
        starts = blocks["starts"]
        counts = blocks["ends"] - starts
        hz = blocks["hz"]
        delay = np.zeros(len(hz), np.int32)  # the comb's delay in each block (0: none)
        for h in np.unique(hz):
            delay[hz == h] = _comb(q, int(h))[0]
        dseq = np.repeat(delay, counts)
        abw = _over(eg, lv[4], starts)
        ab = abw | _over(e, lv[1], starts)
        on = _over(e, lv[0], starts) | _over(eg, lv[3], starts)
        chb = _over(e, lv[2], starts) | _over(eg, lv[5], starts)
        ev = self.ev
        # Samples above an offset level chain into one group while gaps are <= hold; an event
        # starts at a group's first sample above an onset level and ends `hold` after the
        # group's last sample. An event still going at the chunk's start continues its group.
        above = np.flatnonzero(ab)
        ison = on[above]
        if ev.active:
            above = np.concatenate([[ev.last - n0], above])
            ison = np.concatenate([[True], ison])
        busy = np.zeros(m + 1, np.int64)
        if len(above) and ison.any():
            newgrp = np.empty(len(above), bool)
            newgrp[0] = True
            np.greater(np.diff(above), hold, out=newgrp[1:])
            gid = np.cumsum(newgrp) - 1
            glast = above[np.flatnonzero(np.append(newgrp[1:], True))]
            og = gid[ison]
            firsts = np.flatnonzero(np.diff(og, prepend=-1))
            cross = above[ison][firsts]
            last = glast[og[firsts]]
            end = last + hold
            lo = np.maximum(cross + 1, 0)
            hi = np.minimum(end, m - 1)
            ok = lo <= hi
            np.add.at(busy, lo[ok], 1)
            np.add.at(busy, hi[ok] + 1, -1)
        else:
            cross = last = end = np.zeros(0, np.int64)
        # The chain (samples above a chain level while idle, gaps <= hold) holding each
        # crossing, the one carried in from before the chunk first.
        ch = np.flatnonzero(chb & (np.cumsum(busy[:m]) == 0))
        chs = np.concatenate([[ev.cl - n0], ch])
        newch = np.empty(len(chs), bool)
        newch[0] = True
        np.greater(np.diff(chs), hold, out=newch[1:])
        cstart = np.concatenate([[ev.cs - n0], chs[1:]])[newch][np.cumsum(newch) - 1]
        Y = x.copy()  # y = x - x[n-d], each sample with its own block's comb delay
        nz = np.flatnonzero(dseq)
        Y[nz] -= X[HIST + nz - dseq[nz]]
        ctx = (X, np.concatenate([self.hist[2], a]), np.concatenate([self.hist[3], ag]), e, eg,
               lv, dseq, chs, cstart)
        finished = []
        for i in range(len(cross)):
            cr, lst, en = int(cross[i]), int(last[i]), int(end[i])
            if cr >= 0:  # Detector.begin at the crossing
                (onset, ref, base, area, ymax, ymin, pol, xbase, pb, xmax,
                 xmin) = self._begin(ctx, cr, blocks)
            else:  # began before this chunk
                onset, ref, base, pol = ev.onset - n0, ev.ref - n0, ev.base, ev.pol
                area, xmax, xmin, ymax, ymin = ev.area, ev.xmax, ev.xmin, ev.ymax, ev.ymin
                xbase, pb = ev.xbase, ev.pb
            lo = max(cr + 1, 0)
            stop = min(en, m)
            if lo < stop:
                ymax = max(ymax, int(Y[lo:stop].max()))
                ymin = min(ymin, int(Y[lo:stop].min()))
                xmax = max(xmax, int(x[lo:stop].max()))
                xmin = min(xmin, int(x[lo:stop].min()))
                area += int(a[lo:stop].sum())
            wide = int(abw[lst]) if lst >= 0 else ev.wide
            if en >= m:  # still going at the chunk's end
                ev.onset, ev.ref, ev.base, ev.pol = onset + n0, ref + n0, base, pol
                ev.area, ev.xmax, ev.xmin, ev.ymax, ev.ymin = area, xmax, xmin, ymax, ymin
                ev.xbase, ev.pb = xbase, pb
                ev.last, ev.wide = lst + n0, wide
                break
            d = int(dseq[en])
            shift = int(X[HIST + en - pb:HIST + en].sum()) - xbase
            spread = _spread(q, d)[1 if wide else 0]
            noise = int(blocks["noise"][self._block_of(blocks, en)])
            finished.append((onset + n0, lst - onset - spread, area, ymax, ymin, base, shift,
                             en + n0, noise, pol, xmax, xmin, xbase, pb))
        ev.active = int(len(cross) > 0 and int(end[-1]) >= m)
        if len(ch):  # the chain's state: its last sample while idle, and its start
            ev.cl = int(ch[-1]) + n0
            ev.cs = int(cstart[-1]) + n0
        return self._hold(finished, n0, m)

    def _block_of(self, blocks, t):
        return int(np.searchsorted(blocks["starts"], t, side="right")) - 1

    def _ysum(self, X, lo, hi, d):
        """Sum of y = x - x[n-d] over chunk samples lo..hi-1 (they may reach into the history)."""
        s = int(X[HIST + lo:HIST + hi].sum())
        if d:
            s -= int(X[HIST + lo - d:HIST + hi - d].sum())
        return s

    def _begin(self, ctx, cr, blocks):
        """Detector.begin at the crossing cr: (onset, ref, base, area, ymax, ymin)."""
        X, ah, gh, e, eg, lv, dseq, chs, cstart = ctx
        q = self.q
        w, ww, wmax, cap = q["w"], q["ww"], q["wmax"], q["cap"]
        blk = self._block_of(blocks, cr)
        toff, goff = int(lv[1, blk]), int(lv[4, blk])
        o = HIST  # index of chunk sample 0 in ah and gh
        ee, egg = int(e[cr]), int(eg[cr])
        j = cr
        stop = cr - cap
        while j > stop:
            ee -= int(ah[o + j]) - int(ah[o + j - w])
            egg -= int(gh[o + j]) - int(gh[o + j - ww])
            if ee <= toff and egg <= goff:
                break
            j -= 1
        k = j - wmax + 1
        while not ((k > j - w and 2 * w * int(ah[o + k]) > toff)
                   or (k > j - ww and ww * int(gh[o + k]) > goff)):
            k += 1
        d = int(dseq[cr])
        g = k - min(wmax, 56)
        base = self._ysum(X, g - 8, g, d)
        pb = d or 8
        xbase = int(X[HIST + g - pb:HIST + g].sum())
        area = int(ah[o + k:o + cr + 1].sum())
        raw = X[HIST + k:HIST + cr + 1]
        seg = raw - (X[HIST + k - d:HIST + cr + 1 - d] if d else 0)
        # the chain holding the crossing (the crossing is in it: it was idle, above the level)
        p = int(np.searchsorted(chs, cr))
        cs = int(cstart[p])
        onset = cs if cr - q["burst"] <= cs < k else k
        ymax, ymin = int(seg.max()), int(seg.min())
        return (onset, k, base, area, ymax, ymin, base - 8 * ymin > 8 * ymax - base, xbase, pb,
                int(raw.max()), int(raw.min()))

    # ---- per event: kind, the heartbeat, the hold-back queue

    def _like(self, p, a, p2, a2, noise, tail):
        if (p < 0) != (p2 < 0):
            return False
        p, p2 = abs(p), abs(p2)
        if (3 if tail else 4) * abs(p - p2) > p2 + 4 * noise:
            return False
        return 2 * a + 3 >= a2 if tail else 2 * abs(a - a2) <= a2 + 3

    def _heart(self, onset, peak, area, kind, noise):
        """Detector.heart: the kind, with the learned beat (self.rm) and the held queue."""
        q, rm = self.q, self.rm
        if rm[2]:
            iv = onset - rm[3]
            if iv > 4 * q["rr_hi"]:
                rm[2] = 0
            elif self._like(peak, area, rm[0], rm[1], noise, 1):
                if iv < q["rr_lo"] or 2 * iv < rm[4]:
                    return kind
                if 2 * iv <= 3 * rm[4]:
                    rm[4] += (iv - rm[4]) >> 2
                if 2 * abs(area - rm[1]) <= rm[1] + 3:
                    rm[1] += (area - rm[1]) >> 2
                rm[0] += (peak - rm[0]) >> 2
                rm[3] = onset
                return 3
            else:
                return kind
        lo, hi = q["rr_lo"], q["rr_hi"]
        j2 = None
        iv2 = 0
        for r in reversed(self.queue):
            if r[2] == 3 or not self._like(peak, area, r[3], r[4], noise, 0):
                continue
            iv = (onset if j2 is None else j2[0]) - r[0]
            if not lo <= iv <= 2 * hi:
                continue
            if j2 is None:
                j2 = r
                iv2 = iv
            elif (4 * iv >= 3 * iv2 and 3 * iv <= 4 * iv2 and iv <= hi and iv2 <= hi
                  or 4 * iv >= 7 * iv2 and 4 * iv <= 9 * iv2 or 4 * iv2 >= 7 * iv
                  and 4 * iv2 <= 9 * iv):
                rm[0] = (peak + j2[3] + r[3]) // 3
                rm[1] = (area + j2[4] + r[4]) // 3
                rm[2] = 1
                rm[3] = onset
                rm[4] = (onset - r[0]) >> 1
                r[2] = 3
                j2[2] = 3
                return 3
        return kind

    def _emit(self, r):
        return (r[0] + self.first_index, r[1], 3 if r[2] == 4 else r[2], self.channel,
                abs(r[3]), r[4])

    def _hold(self, finished, n0, m):
        """Detector.finish's kind and queue, event by event; the events released (at block ends
        once due, or early when the queue is full) by the chunk's last sample."""
        q = self.q
        hz = q["horizon"]
        out = []
        for (onset, dur, area, ymax, ymin, base, shift, end, noise, pol, xmax, xmin, xbase,
             p) in finished:
            up = 8 * ymax - base
            down = base - 8 * ymin
            peak = max(up, down) >> 3
            xup = p * xmax - xbase
            xdown = xbase - p * xmin
            dur = max(dur, 1)
            if xmax >= q["sat"] or xmin <= -q["sat"]:
                kind = 3
            elif q["step"] and 16 * abs(shift) > q["step"] * peak * p:
                kind = 3
            elif (16 * min(up, down) < q["sided"] * (8 * peak)
                  or 16 * min(xup, xdown) < q["sided"] * max(xup, xdown)):
                kind = 4  # one-sided: an artifact that may still be a heartbeat (sent as 3)
            elif dur <= q["twitch"]:
                kind = 0
            elif dur <= q["burst"]:
                kind = 1
            else:
                kind = 2
            # released before this event: due at an earlier block end
            while self.queue and (self.queue[0][0] + hz) | 127 < end:
                out.append(self._emit(self.queue.pop(0)))
            seq = self.seq
            self.seq += 1
            peak = min(peak, 65535)
            if pol:
                peak = -peak
            area = min(area >> 4, 65535)
            dur = min(dur, 4095)
            if kind != 3 and q["rr_hi"]:
                kind = self._heart(onset, peak, area, kind, noise)
            if len(self.queue) == QN:
                out.append(self._emit(self.queue.pop(0)))
            self.queue.append([onset, dur, kind, peak, area, seq])
            while self.queue and (self.queue[0][0] + hz) | 127 <= end:
                out.append(self._emit(self.queue.pop(0)))
        last = n0 + m - 1
        while self.queue and (self.queue[0][0] + hz) | 127 <= last:
            out.append(self._emit(self.queue.pop(0)))
        return np.array(out, EVENT_DTYPE) if out else np.zeros(0, EVENT_DTYPE)


def detect(samples, fs, params=None, channel=0, first_index=0, flush=False) -> np.ndarray:
    """The events the device emits for these samples of one channel, starting from reset().

    samples: 1-D int16 counts; fs: Hz; params: detector CONFIG keys (missing ones default);
    first_index: the device's sample index of samples[0] (events carry absolute onsets).
    flush: also the events the device still holds back after the last sample (what
    Detector.flush() emits at the end of a recording or before a reset).
    """
    s = Stream(fs, params, channel, first_index)
    ev = s.feed(samples)
    return np.concatenate([ev, s.flush()]) if flush else ev


def reference(samples, fs, params=None, channel=0, first_index=0, block=128, ring=512,
              flush=False):
    """The firmware's Detector itself, run in CPython over a ring like app.py's (slow)."""
    from array import array

    p = check_params(params)
    x = _samples(samples)
    out = []
    det = _fwref.RefDetector(channel, int(fs), p, lambda *ev: out.append(ev))
    buf = array("h", bytes(2 * ring))
    mask = ring - 1
    pos = 0
    n = len(x)
    sizes = [block] if isinstance(block, int) else list(block)
    bi = 0
    while pos < n:
        cnt = min(sizes[bi % len(sizes)], n - pos, ring)
        bi += 1
        for j in range(cnt):
            buf[(first_index + pos + j) & mask] = int(x[pos + j])
        det.process(buf, (first_index + pos) & mask, cnt, first_index + pos, mask)
        pos += cnt
    if flush:
        det.flush()
    return np.array(out, dtype=[(f, EVENT_DTYPE[f]) for f in EVENT_DTYPE.names]).astype(EVENT_DTYPE)


def events_to_dicts(ev, fs) -> list[dict]:
    """Plain dicts (JSON-ready): onset_s, offset_s, duration_ms, kind name, peak, area, channel."""
    out = []
    for r in ev:
        onset = int(r["onset"])
        dur = int(r["duration"])
        out.append({
            "onset": onset, "onset_s": onset / fs, "offset_s": (onset + dur) / fs,
            "duration": dur, "duration_ms": dur * 1000.0 / fs, "kind": KIND_NAMES[int(r["kind"])],
            "peak": int(r["peak"]), "area": int(r["area"]), "channel": int(r["channel"])})
    return out
