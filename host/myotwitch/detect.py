"""The device's twitch detector in NumPy: the same events, bit for bit, from the same samples.

`firmware/detector.py` is the definition (algorithm and units: firmware/DETECTOR.md). It was
designed so that this twin needs no loop per sample: the filters are FIRs (box band-pass, mains
comb, moving sum: exact with integer cumsum), the noise floor depends only on fixed 128-sample
blocks counted from reset (exact with reshape + sliding minimum), and the hysteresis reduces to
grouping the samples above the offset level. Only per-event work (onset refinement, features,
kind, heartbeat rhythm) loops, once per event.

    detect(samples, fs, params=None, channel=0, first_index=0, flush=False)
        -> structured array (EVENT_DTYPE), the device's events in order
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
                  "(96 = 6x); earlier potentials at 5/6 of it belong to the event",
    "det_off": "envelope level that keeps an event going, in 1/16 of each band's floor (capped "
               "at det_thresh and det_wide)",
    "det_win_ms": "envelope window: moving sum of the band-passed magnitude",
    "det_hold_ms": "an event ends after this long below det_off; closer potentials merge",
    "det_twitch_ms": "longest event reported as a twitch",
    "det_burst_ms": "longest event reported as a burst (longer: a contraction); also how far "
                    "back an event's first potentials are looked for",
    "det_mains_hz": "mains comb filter (50 or 60); below 40: off",
    "det_step": "artifact if the level after the event moved by more than this part of its peak "
                "(step, electrode pop); 0: off",
    "det_sided": "artifact if the smaller swing is below this part of the larger (one-sided "
                 "excursion: pop, ramp); 0: off",
    "det_sat": "artifact if a sample reaches +-this many counts (saturation, electrode off)",
    "det_rr_ms": "longest heartbeat interval for the ECG check (shortest: 300 ms); 0: off",
    "det_wide": "onset level of the wide band (5 ms half-length, for slow 15-30 ms potentials), "
                "1/16 of its own noise floor; 0: narrow band only",
}
RANGES: dict = {p[0]: (p[2], p[3]) for p in PARAMS}
EVENT_DTYPE = np.dtype([("onset", "<i8"), ("duration", "<i4"), ("kind", "u1"), ("channel", "u1"),
                        ("peak", "<i4"), ("area", "<i4")])

BLOCK = 128  # samples per noise-floor block (firmware: the `bpos == 128` roll-over)
BLOCKS = 32  # blocks in the minimum (firmware: self.st)
BIG = _fw.BIG
QN = _fw.QN
PAD = 128  # the firmware's delay line: before the first sample it holds that sample


class DetectError(ValueError):
    pass


# The sample rates the detector runs at, derived from the firmware's integer windows (the
# device itself takes CONFIG fs 500..2000). Below 500 Hz the narrow band's 2 ms half-length
# (fs // 500) is under one sample and is clamped to 1: the band no longer passes what it is
# for (and surface EMG, up to ~450 Hz, aliases). Above 3679 Hz the mains comb at its lowest
# (det_mains_hz 40: fs // 40 samples back) plus the wide band's two half-lengths
# (2 * (fs // 200)) reach 128 samples back, past the 128-sample delay line (firmware/
# detector.py reads at most 127 back; at 3680 Hz: 92 + 36 = 128), and the twin would no longer
# be the device's detector. In between, every fixed-point bound of DETECTOR.md holds.
FS_RANGE = (500, 3679)


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
            "band-pass needs a sample per 2 ms; above %d Hz its filters reach past the "
            "firmware's 128-sample delay line): resample the recording" % (
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
    hz = p["det_mains_hz"]
    w = min(64, max(1, p["det_win_ms"] * fs // 1000))
    gthr = p["det_wide"]
    ww = min(64, 2 * w)
    wmax = ww if gthr else w
    d = fs // hz if hz >= 40 else 0
    l, lw = max(1, fs // 500), max(1, fs // 200)
    return {
        "thr": thr, "off": min(p["det_off"], thr), "w": w,
        "gthr": gthr, "ww": ww, "lw": lw, "wmax": wmax,
        "hold": max(1, p["det_hold_ms"] * fs // 1000),
        "twitch": p["det_twitch_ms"] * fs // 1000, "burst": p["det_burst_ms"] * fs // 1000,
        "d": d, "step": p["det_step"], "sided": p["det_sided"], "l": l,
        "sat": p["det_sat"], "rr_lo": fs * 3 // 10, "rr_hi": p["det_rr_ms"] * fs // 1000,
        "cap": min(fs * 40 // 1000, 64 - wmax),
        "tail": w + d + l - 2, "tailw": ww + d + lw - 2,
    }


def horizon(q: dict) -> int:
    """Samples an event is held after its onset for the heartbeat check (Detector.horizon)."""
    rr = q["rr_hi"]
    return (9 * rr >> 2) + q["hold"] + q["twitch"] + q["w"] if rr else 0


def settle_samples(params: dict, fs: int) -> int:
    """At most how many samples after an event's reported offset (onset + duration) the device
    sends it: `hold` after the envelopes' last sample above the offset level (which lies up to
    the filters' spread, `tail` or `tailw`, past the offset), or later while the event is held
    for the heartbeat check (released at a 128-sample block end once due). (Durations saturate
    at 4095 samples: longer events end later.)"""
    q = _derived(int(fs), check_params(params))
    return max(max(q["tail"], q["tailw"]) + q["hold"], horizon(q) + 127) + 1


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
    return x.astype(np.int32)


def band(xp, cx, n, l, d, w):
    """One band (firmware: f/e or g/eg): (|band|, its cumsum, envelope, floor per block (mu4))."""
    def box(k):  # sum of xp over the l samples ending k samples ago (per output sample)
        return cx[PAD + 1 - k:PAD + 1 - k + n] - cx[PAD + 1 - k - l:PAD + 1 - k - l + n]

    # b = sum of the last l samples minus the l before them; f = b - b[n-d] (the mains comb)
    b = box(0) - box(l)
    f = b - (box(d) - box(d + l)) if d else b
    a = np.abs(f)  # < 2**21
    cs = np.zeros(n + 1, np.int64)
    np.cumsum(a, out=cs[1:])
    e = cs[1:].copy()  # moving sum over the last w samples (fewer before sample w)
    e[w:] -= cs[1:n + 1 - w]

    # The floor per block: from the minimum of the (up to) 32 completed block sums before it.
    nblk = (n + BLOCK - 1) // BLOCK
    full = n // BLOCK
    s = a[:full * BLOCK].reshape(full, BLOCK).sum(axis=1, dtype=np.int64)
    sp = np.full(BLOCKS + nblk, BIG, np.int64)
    sp[BLOCKS:BLOCKS + full] = s
    m = np.lib.stride_tricks.sliding_window_view(sp[:BLOCKS + nblk - 1], BLOCKS).min(axis=1)
    return a, cs, e, np.clip(m >> 5, 4, 524287)


def levels(mu4, thr, off, w):
    """Onset, offset and chain levels per block (firmware: detector.levels); BIG in block 0."""
    out = []
    for t in (thr, min(off, thr), thr * 5 // 6):
        v = ((mu4 * t) >> 6) * w
        v[0] = BIG
        out.append(v)
    return out


def stages(x, q):
    """(padded x, narrow band, wide band or None); a band: |band|, its cumsum, envelope, and
    its onset, offset and chain levels per block."""
    n = len(x)
    xp = np.empty(n + PAD, np.int32)
    xp[:PAD] = x[0]
    xp[PAD:] = x
    cx = np.zeros(n + PAD + 1, np.int64)
    np.cumsum(xp, out=cx[1:])
    a, cs, e, mu4 = band(xp, cx, n, q["l"], q["d"], q["w"])
    narrow = (a, cs, e, *levels(mu4, q["thr"], q["off"], q["w"]))
    q["noise_b"] = mu4 >> 2  # Detector.noise during each block (0 before the first end)
    q["noise_b"][0] = 0
    wide = None
    if q["gthr"]:
        ag, csg, eg, mug = band(xp, cx, n, q["lw"], q["d"], q["ww"])
        wide = (ag, csg, eg, *levels(mug, q["gthr"], q["off"], q["ww"]))
    return xp, narrow, wide


def _over(v, lv_b):
    """v[i] > lv_b[i // 128] for every sample (per-block levels, without a per-sample index)."""
    n = len(v)
    out = np.empty(n, bool)
    f = n - n % BLOCK
    np.greater(v[:f].reshape(-1, BLOCK), lv_b[:f // BLOCK, None], out=out[:f].reshape(-1, BLOCK))
    if f < n:
        np.greater(v[f:], lv_b[f // BLOCK], out=out[f:])
    return out


def _at(v, idx):
    """v[idx], 0 where idx < 0 (before the first sample the delay lines hold zeros)."""
    return np.where(idx >= 0, v[np.maximum(idx, 0)], 0)


def detect(samples, fs, params=None, channel=0, first_index=0, flush=False) -> np.ndarray:
    """The events the device emits for these samples of one channel, starting from reset().

    samples: 1-D int16 counts; fs: Hz; params: detector CONFIG keys (missing ones default);
    first_index: the device's sample index of samples[0] (events carry absolute onsets).
    flush: also the events the device still holds back after the last sample (what
    Detector.flush() emits at the end of a recording or before a reset).
    """
    p = check_params(params)
    q = _derived(int(fs), p)
    x = _samples(samples)
    n = len(x)
    if n == 0:
        return np.zeros(0, EVENT_DTYPE)
    w, hold = q["w"], q["hold"]
    xp, narrow, wide = stages(x, q)
    a, cs, e, ton_b, toff_b, tch_b = narrow
    # Above the offset level: either band (an event lasts while one is); above the onset
    # level: either band (an event starts there); above the chain level: either band.
    ab = _over(e, toff_b)
    chb = _over(e, tch_b)
    if wide is not None:
        ag, _, eg, gon_b, goff_b, gch_b = wide
        abw = _over(eg, goff_b)
        ab |= abw
        chb |= _over(eg, gch_b)
    above = np.flatnonzero(ab)
    if above.size == 0:
        return np.zeros(0, EVENT_DTYPE)
    on = e[above] > ton_b[above >> 7]  # (only where above the offset level: onset >= offset)
    if wide is not None:
        on |= eg[above] > gon_b[above >> 7]
    # Samples above the offset level chain into one group while gaps are <= hold; the device
    # starts an event at a group's first sample above the onset level and ends it `hold`
    # samples after the group's last sample.
    newgrp = np.empty(above.size, bool)
    newgrp[0] = True
    np.greater(np.diff(above), hold, out=newgrp[1:])
    gid = np.cumsum(newgrp) - 1
    grp_last = above[np.flatnonzero(np.append(newgrp[1:], True))]
    og = gid[on]
    if og.size == 0:
        return np.zeros(0, EVENT_DTYPE)
    firsts = np.flatnonzero(np.diff(og, prepend=-1))
    cross = above[on][firsts]
    last = grp_last[og[firsts]]
    end = last + hold
    keep = end < n
    cross, last, end = cross[keep], last[keep], end[keep]
    k = cross.size
    if k == 0:
        return np.zeros(0, EVENT_DTYPE)

    # Onset (Detector.begin): back from the crossing over the run of samples above either
    # offset level (at most `cap` samples), then the first sample of that run's window where
    # |f| reaches half the offset level or |g| all of the wide band's.
    cap, wmax = q["cap"], q["wmax"]
    blk_c = cross >> 7  # the levels at the crossing serve the whole look-back
    back = cross[:, None] + np.arange(-cap, 0)[None, :]
    below = _at(e, back) <= toff_b[blk_c][:, None]
    if wide is not None:
        below &= _at(eg, back) <= goff_b[blk_c][:, None]
    back = np.arange(-cap, 0)[None, :]
    lastnot = np.where(below, back, -cap - 1).max(axis=1, initial=-cap - 1)
    rs = cross + np.maximum(lastnot + 1, -cap)  # the run's first sample
    span = np.arange(-63, 1)[None, :]
    at = cross[:, None] + span
    ok = (2 * w * _at(a, at) > toff_b[blk_c][:, None]) & (at > (rs - w)[:, None])
    if wide is not None:
        ww = q["ww"]
        ok |= (ww * _at(ag, at) > goff_b[blk_c][:, None]) & (at > (rs - ww)[:, None])
    ref = cross - 63 + np.argmax(ok & (at > (rs - wmax)[:, None]), axis=1)
    eight = np.arange(8)[None, :] - 8
    base = xp[(ref + PAD - min(wmax, 56))[:, None] + eight].sum(axis=1, dtype=np.int64)
    tail = xp[(end + PAD)[:, None] + eight].sum(axis=1, dtype=np.int64)
    area = cs[end] - cs[ref]
    # The onset moves back to the start of the chain of samples above the chain level (gaps
    # up to `hold`) that holds the crossing, if that is earlier and at most `burst` back. The
    # device follows the chain only while idle: from a crossing to its event's end it does not.
    busy = np.zeros(n + 1, np.int32)
    np.add.at(busy, cross + 1, 1)
    np.add.at(busy, end + 1, -1)
    ch = np.flatnonzero(chb & (np.cumsum(busy[:n]) == 0))
    newch = np.empty(ch.size, bool)
    newch[0] = True
    np.greater(np.diff(ch), hold, out=newch[1:])
    start = ch[newch][np.cumsum(newch) - 1]
    chain = start[np.searchsorted(ch, cross)]
    onset = np.where((chain >= cross - q["burst"]) & (chain < ref), chain, ref)
    # The band that held the last sample sets how much filter spread the duration loses.
    spread = np.full(k, q["tail"])
    if wide is not None:
        spread = np.where(abw[last], q["tailw"], spread)
    return _finish(x, q, onset, ref, last, spread, end, base, tail - base, area, channel,
                   first_index, n, flush)


def _finish(x, q, onset, ref, last, spread, end, base, shift, area, channel, first_index, n,
            flush):
    k = onset.size
    xmax = np.empty(k, np.int64)
    xmin = np.empty(k, np.int64)
    for i in range(k):  # per event, from the run that crossed; they may overlap by the look-back
        seg = x[ref[i]:end[i]]
        xmax[i] = seg.max()
        xmin[i] = seg.min()
    peak = np.maximum(8 * xmax - base, base - 8 * xmin) >> 3
    dur = np.maximum(last - onset - spread, 1)
    kind = np.where(dur <= q["twitch"], 0, np.where(dur <= q["burst"], 1, 2))
    if q["sided"]:
        small = np.minimum(8 * xmax - base, base - 8 * xmin)
        kind = np.where(16 * small < q["sided"] * (8 * peak), 3, kind)
    if q["step"]:
        kind = np.where(2 * np.abs(shift) > q["step"] * peak, 3, kind)
    kind = np.where((xmax >= q["sat"]) | (xmin <= -q["sat"]), 3, kind)
    peak = np.minimum(peak, 65535)
    kind, out = _hold(onset, end, peak, kind, q, n, flush)
    ev = np.zeros(k, EVENT_DTYPE)
    ev["onset"] = onset + int(first_index)
    ev["duration"] = np.minimum(dur, 4095)
    ev["kind"] = kind
    ev["channel"] = channel
    ev["peak"] = peak
    ev["area"] = np.minimum(area >> 4, 65535)
    return ev[out]


def _hold(onsets, ends, peaks, kind, q, n, flush):
    """Detector.rhythm + the hold-back queue (push/pop/release/mark), event by event.

    Held events leave at block ends (samples 127, 255, ... after reset): an event due at t
    (onset + horizon) leaves at t | 127. Returns the final kinds and which events have left
    the queue by sample n-1."""
    kind = kind.copy()
    k = len(kind)
    released = np.zeros(k, bool)
    rr_lo, rr_hi = q["rr_lo"], q["rr_hi"]
    hz = horizon(q)
    queue = []  # event numbers held, oldest first
    head = 0
    r_last, r_iv, r_pk, r_s0, r_s1, r_seq = -65536, 0, 0, -1, -1, -1
    ons = onsets.tolist()
    for i in range(k):
        m = int(ends[i])
        while head < len(queue) and (ons[queue[head]] + hz) | 127 < m:
            released[queue[head]] = True  # left at an earlier sample
            head += 1
        if kind[i] < 3 and rr_hi:  # contractions too (Detector.finish)
            o, p = ons[i], int(peaks[i])
            iv = o - r_last
            same = 4 * abs(p - r_pk) <= r_pk + 2 * int(q["noise_b"][m >> 7])
            if r_iv and same and (8 * abs(iv - r_iv) <= r_iv
                                   or (r_s0 < 0 and 4 * abs(iv - 2 * r_iv) <= r_iv)):
                if 8 * abs(iv - r_iv) <= r_iv:
                    r_iv = iv
                r_last, r_pk, r_seq = o, p, i
                if r_s0 >= 0:
                    for s in (r_s0, r_s1):
                        if not released[s] and s in queue[head:]:
                            kind[s] = 3
                    r_s0 = -1
                kind[i] = 3
            elif not (r_iv and iv < r_iv):
                if same and rr_lo <= iv <= rr_hi:
                    r_iv, r_s0, r_s1 = iv, r_seq, i
                else:
                    r_iv = 0
                r_last, r_pk, r_seq = o, p, i
        if len(queue) - head == QN:
            released[queue[head]] = True
            head += 1
        queue.append(i)
        while head < len(queue) and (ons[queue[head]] + hz) | 127 <= m:
            released[queue[head]] = True
            head += 1
    while head < len(queue) and (flush or (ons[queue[head]] + hz) | 127 <= n - 1):
        released[queue[head]] = True
        head += 1
    return kind, released


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
