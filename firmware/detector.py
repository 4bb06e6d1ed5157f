# The per-channel twitch detector: causal, integer only, nothing allocated per sample.
# host/myotwitch/detect.py is its NumPy twin and must stay bit-exact: change both together.
# Algorithm, units and the fixed-point bounds: DETECTOR.md.
#
# This module is everything but the per-sample loop, `process()`, which comes twice, the same
# events bit for bit: detviper.py (machine code; what app.py runs) and detref.py (plain Python:
# the reference, run by the host and the tests, and the fallback for a port without viper).
# Apart, so the device never loads the one it does not run (about 1 KB of heap).
#
# Every stage is either an FIR (box band-pass, comb, moving sum) or depends only on block
# statistics, never on the event state, so the host can rebuild it exactly without a loop
# per sample; only the hysteresis and the per-event work are sequential.
#
# Two bands, each with its own envelope and noise floor: the narrow one (f, half-length l = 2 ms)
# for potentials of a few ms, the wide one (g, half-length lw = 5 ms, window ww = 2w) for the
# slow potentials of 15-30 ms that the narrow band barely passes. An event starts when either
# envelope crosses its onset level and lasts while either stays above its offset level.
#
# Bounds (MicroPython small ints are 31-bit signed on 32-bit chips, |v| < 2**30), x in int16,
# l <= 4 and lw <= 10 (2 kHz), d <= 50, w <= 64, ww <= 64:
#   f = b[n] - b[n-d], |b| <= l * 65535 < 2**18, so |f| = c < 2**19; |g| < 2 * 10 * 65535 < 2**21
#   envelopes (moving sums over <= 64): < 2**27;  block sums over 128: < 2**28 < BIG
#   mu4 = min(block sums) >> 5, clamped to < 2**19;  mu4 * thr (thr < 2**10) < 2**29;
#   ((mu4 * thr) >> 6) * w < 2**29;  2 * w * c < 2**26;  ww * |g| < 2**27
#   area stops growing at 2**29 (so < 2**29 + 2**19); 8-sample sums of x < 2**18
# so every intermediate fits; tests/test_detector_twin.py checks it at full-scale input.
# The 128-sample delay line covers every look-back: taps <= d + 2 lw <= 70 samples, the level
# before an event <= (wmax - 1) + cap + 56 + 8 <= 127 (cap <= 64 - wmax); the 64-sample |f|
# and |g| lines cover the onset search (cap + wmax - 1 <= 63 back).

from array import array

# The CONFIG keys this detector reads. Their defaults and ranges are in dettable.py, which the
# device loads only to check or default a value (with cfgedit.py): resident, that table cost
# about 1 KB of heap.
KEYS = ("det_thresh", "det_off", "det_win_ms", "det_hold_ms", "det_twitch_ms", "det_burst_ms",
        "det_mains_hz", "det_step", "det_sided", "det_sat", "det_rr_ms", "det_wide")

BIG = 1 << 29  # "no floor yet": above any envelope or block sum (< 2**28), so nothing triggers
NEVER = (1 << 30) - 1  # release time of an empty queue (largest small int)
QN = 8  # events held at most


def floor(st, k, s):
    """Store block sum s at slot k; the floor: the minimum of the last 32 as the mean |band|
    per sample in 1/4 counts (>> 5 of a 128-sample sum), clamped to 4 .. 2**19 - 1."""
    st[k] = s
    m = BIG
    for i in range(32):
        if st[i] < m:
            m = st[i]
    m >>= 5
    if m < 4:
        return 4
    return m if m < 524287 else 524287  # only full-scale garbage clamps: mu4 * thr < 2**29


def levels(lv, i, mu4, thr, off, w):
    """Envelope levels from a floor, into lv[i:i+3]: onset, offset (at most the onset's) and
    chain level (5/6 of the onset's), in envelope units (sums over w samples of |band|)."""
    lv[i] = ((mu4 * thr) >> 6) * w
    lv[i + 1] = ((mu4 * min(off, thr)) >> 6) * w
    lv[i + 2] = ((mu4 * (thr * 5 // 6)) >> 6) * w


class Detector:
    def __init__(self, channel, fs, params, emit):
        self.channel = channel
        self.emit = emit
        self.dl = array("h", bytes(256))  # raw samples: filter taps and the 8-sample levels
        self.ah = array("i", bytes(256))  # |f| over the envelope window (64)
        self.gh = array("i", bytes(256))  # |g|, the wide band's, likewise
        self.st = array("i", bytes(128))  # block sums: the noise floor is their minimum (~4 s)
        self.sg = array("i", bytes(128))  # the wide band's
        self.q = array("i", bytes(24 * QN))  # held events: onset, duration, kind, peak, area, seq
        # The levels, set per block from the floors (one array, not six attributes: the
        # instance dict stays in a smaller size class): the narrow band's onset, offset and
        # chain level, then the wide band's.
        self.lv = array("i", bytes(24))
        self.qn = 0
        self.qh = 0
        self.configure(fs, params)

    def configure(self, fs, params):
        self.thr = params["det_thresh"]
        self.off = min(params["det_off"], self.thr)
        self.w = min(64, max(1, params["det_win_ms"] * fs // 1000))
        self.hold = max(1, params["det_hold_ms"] * fs // 1000)
        self.twitch = params["det_twitch_ms"] * fs // 1000
        self.burst = params["det_burst_ms"] * fs // 1000
        hz = params["det_mains_hz"]
        self.d = fs // hz if hz >= 40 else 0
        self.l = max(1, fs // 500)  # band-pass half-length: 2 ms, peak gain near 185 Hz
        self.gthr = params["det_wide"]  # 0: no wide band
        self.lw = max(1, fs // 200)  # the wide band's: 5 ms, peak gain near 75 Hz
        self.ww = min(64, 2 * self.w)
        # Onset look-back over the run (40 ms), within the |f| and |g| lines with the window.
        self.cap = min(fs * 40 // 1000, 64 - (self.ww if self.gthr else self.w))
        self.step = params["det_step"]
        self.sided = params["det_sided"]
        self.sat = params["det_sat"]
        self.rr_lo = fs * 3 // 10  # 200 beats per minute
        self.rr_hi = params["det_rr_ms"] * fs // 1000
        # How long an event is held: two (slow) beat intervals and one beat's own length.
        self.horizon = (9 * self.rr_hi >> 2) + self.hold + self.twitch + self.w if self.rr_hi else 0
        self.reset()

    def reset(self):
        self.flush()
        self.qh = 0
        self.due = NEVER
        self.seq = 0
        self.fresh = 1  # the first sample fills the delay line: no start-up transient
        self.f = 0
        self.e = 0
        self.bsum = 0
        self.g = 0
        self.eg = 0
        self.gsum = 0
        self.bpos = 0
        self.bk = 0
        st = self.st
        sg = self.sg
        for k in range(32):
            st[k] = BIG
            sg[k] = BIG
        lv = self.lv
        for k in range(6):
            lv[k] = BIG
        self.cs = -65536  # the chain of samples above the chain level: its start, its last
        self.cl = -65536
        self.noise = 0
        self.active = 0
        self.wide = 0
        self.onset = 0
        self.last = 0
        self.area = 0
        self.xmax = 0
        self.xmin = 0
        self.base = 0
        self.r_last = -65536  # far before any rhythm (intervals < 6000)
        self.r_iv = 0
        self.r_pk = 0
        self.r_s0 = -1
        self.r_s1 = -1
        self.r_seq = -1

    def block(self, s, sw):
        # Minimum statistics over the last 32 blocks: events raise single blocks, so the
        # floor ignores them without being frozen (which would tie it to the event state).
        k = self.bk & 31
        self.bk += 1
        mu4 = floor(self.st, k, s)
        self.noise = mu4 >> 2
        levels(self.lv, 0, mu4, self.thr, self.off, self.w)
        if self.gthr:
            levels(self.lv, 3, floor(self.sg, k, sw), self.gthr, self.off, self.ww)

    def begin(self, idx, e, eg):
        # Onset: back from the crossing over the run of samples where either envelope is above
        # its offset level (e[j-1] = e[j] - |f[j]| + |f[j-w]|, the same for eg; at most `cap`
        # samples: the delay lines reach that far), then the first sample of that run's window
        # whose own |f| reaches half the offset level, or whose |g| reaches all of the wide
        # band's (its window is twice as long): a burst whose first potentials stayed below the
        # onset level starts with them.
        dl = self.dl
        ah = self.ah
        gh = self.gh
        w = self.w
        ww = self.ww
        toff = self.lv[1]
        goff = self.lv[4]
        j = idx
        stop = idx - self.cap
        while j > stop:
            e -= ah[j & 63] - ah[(j - w) & 63]
            eg -= gh[j & 63] - gh[(j - ww) & 63]
            if e <= toff and eg <= goff:
                break
            j -= 1
        wmax = ww if self.gthr else w
        k = j - wmax + 1
        while not ((k > j - w and 2 * w * ah[k & 63] > toff)
                   or (k > j - ww and ww * gh[k & 63] > goff)):
            k += 1
        g = k - min(wmax, 56)  # the level before: clear of the rise (within the delay line)
        b = 0
        for j in range(g - 8, g):
            b += dl[j & 127]
        self.base = b
        area = 0
        xmax = -32768
        xmin = 32767
        for j in range(k, idx + 1):
            area += ah[j & 63]
            x = dl[j & 127]
            if x > xmax:
                xmax = x
            if x < xmin:
                xmin = x
        self.xmax = xmax
        self.xmin = xmin
        # Earlier potentials at 5/6 of the onset level, closer to each other than the hold time,
        # belong to this event (the first ones of a burst): it starts where their chain starts,
        # at most det_burst_ms back. Peak and area are measured from the run that crossed.
        cs = self.cs
        self.onset = cs if idx - self.burst <= cs < k else k
        return area

    def finish(self, idx, last, wide, area, xmax, xmin):
        onset = self.onset
        base = self.base
        dl = self.dl
        peak = max(8 * xmax - base, base - 8 * xmin) >> 3
        shift = -base
        for j in range(idx - 8, idx):
            shift += dl[j & 127]
        # What the filters add to an event's length: the spread of the band that held it last.
        dur = last - onset - ((self.ww + self.lw if wide else self.w + self.l) + self.d - 2)
        if dur < 1:
            dur = 1
        if xmax >= self.sat or xmin <= -self.sat:
            kind = 3
        elif self.step and 2 * abs(shift) > self.step * peak:
            kind = 3  # the level moved and stayed: a step or an electrode pop
        elif 16 * min(8 * xmax - base, base - 8 * xmin) < self.sided * (8 * peak):
            kind = 3  # a one-sided excursion (pop, ramp, kink); potentials swing both ways
        elif dur <= self.twitch:
            kind = 0
        elif dur <= self.burst:
            kind = 1
        else:
            kind = 2
        seq = self.seq
        self.seq = seq + 1
        if kind < 3 and self.rr_hi:  # contractions too: a beat merged with its T wave is long
            kind = self.rhythm(onset, peak, kind, seq)
        # Held back (in order) until a heartbeat rhythm could have formed behind it, so the
        # first beats of a rhythm are artifacts too; released at the first block end once due;
        # a full queue lets its oldest go early.
        if self.qn == QN:
            self.pop()
        q = self.q
        j = ((self.qh + self.qn) % QN) * 6
        q[j] = onset
        q[j + 1] = min(dur, 4095)
        q[j + 2] = kind
        q[j + 3] = min(peak, 65535)
        q[j + 4] = min(area >> 4, 65535)
        q[j + 5] = seq
        self.qn += 1
        self.due = q[self.qh * 6] + self.horizon

    def pop(self):
        q = self.q
        j = self.qh * 6
        self.qh = (self.qh + 1) % QN
        self.qn -= 1
        self.due = q[self.qh * 6] + self.horizon if self.qn else NEVER
        self.emit(q[j], q[j + 1], q[j + 2], self.channel, q[j + 3], q[j + 4])

    def flush(self):
        """Emit every held event now (end of a recording, or before a reset)."""
        while self.qn:
            self.pop()

    def rhythm(self, onset, peak, kind, seq):
        # Heartbeats recur at a steady interval with a steady size; twitches do not. Two short
        # events of about the same peak (within 1/4 + noise/2) at a heart-rate interval make a
        # candidate rhythm; a third one interval later with that peak confirms it: it and, if
        # still held, the two before it are ECG artifacts, and so is every beat that continues
        # the rhythm (one interval, or two: a beat missed).
        iv = onset - self.r_last
        r = self.r_iv
        # About the same size: within 1/4, plus half the noise level (small beats in noise).
        same = 4 * abs(peak - self.r_pk) <= self.r_pk + 2 * self.noise
        # A beat missed (two intervals) continues a confirmed rhythm but never confirms one:
        # three twitches of about one size at about 1 and 2 intervals happen by chance.
        if r and same and (8 * abs(iv - r) <= r or (self.r_s0 < 0 and 4 * abs(iv - 2 * r) <= r)):
            if 8 * abs(iv - r) <= r:
                self.r_iv = iv
            self.r_last = onset
            self.r_pk = peak
            self.r_seq = seq
            if self.r_s0 >= 0:  # just confirmed: the two beats before, if still held
                q = self.q
                for k in range(self.qn):
                    j = ((self.qh + k) % QN) * 6
                    if q[j + 5] == self.r_s0 or q[j + 5] == self.r_s1:
                        q[j + 2] = 3
                self.r_s0 = -1
            return 3
        if r and iv < r:
            return kind  # between beats: leave the rhythm alone
        if same and self.rr_lo <= iv <= self.rr_hi:
            self.r_iv = iv
            self.r_s0 = self.r_seq
            self.r_s1 = seq
        else:
            self.r_iv = 0
        self.r_last = onset
        self.r_pk = peak
        self.r_seq = seq
        return kind
