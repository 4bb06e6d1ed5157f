# The per-channel twitch detector: causal, integer only, nothing allocated per sample.
# host/myotwitch/detect.py is its NumPy twin and must stay bit-exact: change both together.
# Algorithm, units and the fixed-point bounds: DETECTOR.md.
#
# This module is everything but the per-sample loop, `process()`, which comes twice, the same
# events bit for bit: detviper.py (machine code; what app.py runs) and detref.py (plain Python:
# the reference, run by the host and the tests, and the fallback for a port without viper).
# Apart, so the device never loads the one it does not run (about 1 KB of heap).
#
# Every function here is @micropython.native: machine code, which the ESP32 port keeps in its
# executable RAM and the unix port outside the heap, so the heap holds only the small objects
# around it (about 2.4 KB less than as bytecode on the x64 port; the same semantics, tested bit
# for bit against the reference and the twin).
#
# Every per-sample stage is an FIR (mains comb, box band-passes, moving sums) whose taps change
# only at block ends, or depends only on block statistics, never on the event state, so the host
# can rebuild it exactly without a loop per sample; only the hysteresis and the per-event work
# are sequential.
#
# Mains: a comb c = K x[n] - (x[n-d] + ... + x[n-Kd]) (d a whole number of mains periods) takes
# the hum and all its harmonics out before the bands. Automatic by default: a decision band
# (the wide band's box band-pass on x) is measured three ways every block - as is, and minus
# itself one 50 Hz and one 60 Hz period earlier - and the comb is switched to whichever has
# the lowest floor (with hysteresis), or off. det_mains_hz overrides it.
#
# Two bands, each with its own envelope and noise floor: the narrow one (f, half-length l = 2 ms)
# for potentials of a few ms, the wide one (g, half-length lw = 5 ms, window ww = 2w) for the
# slow potentials of 15-30 ms that the narrow band barely passes. An event starts when either
# envelope crosses its onset level and lasts while either stays above its offset level.
#
# Bounds (MicroPython small ints are 31-bit signed on 32-bit chips, |v| < 2**30), x in int16,
# l <= 6 and lw <= 15 (500..3199 Hz: myotwitch.detect.FS_RANGE; the device takes 500..2000),
# K <= 4 and K * lw <= 30, d <= 128 and K * d <= 255, w <= 64, ww <= 64:
#   |c| <= 2K * 32768 <= 2**18;  |f| <= 2 l |c| < 2**21;  |g| <= 2 lw |c| <= 2**21.93
#   envelopes (moving sums over <= 64): < 2**28;  block sums over 128: < 2**29 = BIG
#   decision band |h| <= lw * 65535 < 2**20, |h - h[n-d]| < 2**21, its block sums < 2**28
#   mu4 = floor >> 5, clamped to < 2**19;  mu4 * thr (thr < 2**10) < 2**29;
#   ((mu4 * thr) >> 6) * w < 2**29;  2 * w * |f| < 2**28;  ww * |g| < 2**28
#   area stops growing at 2**29 (so < 2**29 + 2**22); 8-sample sums of y = x - x[n-d] < 2**20
# so every intermediate fits; tests/test_detector_twin.py checks it at full-scale input.
# The 256-sample delay line covers every look-back: comb taps K d <= 255, decision taps
# d5, d6 + 2 lw <= 160, the features' y = x - x[n-d] reach (wmax - 1) + cap + 56 + 8 + d <= 255
# (the raw level before: + d, without the 8); the 32-sample comb ring the bands' taps
# (2 lw <= 30); the 64-sample |f| and |g| lines the onset search (cap + wmax - 1 <= 63 back).

from array import array

try:
    import micropython
except ImportError:  # CPython: the host runs this file as the twin's reference
    from ._cpython import micropython

# The CONFIG keys this detector reads. Their defaults and ranges are in dettable.py, which the
# device loads only to check or default a value (with cfgedit.py): resident, that table cost
# about 1 KB of heap.
KEYS = ("det_thresh", "det_off", "det_win_ms", "det_hold_ms", "det_twitch_ms", "det_burst_ms",
        "det_mains_hz", "det_step", "det_sided", "det_sat", "det_rr_ms", "det_wide")

BIG = 1 << 29  # "no floor yet": above any envelope or block sum (< 2**29), so nothing triggers
NEVER = (1 << 30) - 1  # release time of an empty queue (largest small int)
QN = 8  # events held at most
# The per-sample loop's state, in one array (`sv`; fewer attributes keep the instance dict in
# a smaller size class): the bands, envelopes and block sums, the decision band, the event.
F, E, BSUM, G, EG, GSUM, H, H5, H6, S0, S5, S6, BPOS, ACTIVE, WIDE, LAST, AREA, XMAX, XMIN, \
    CS, CL, YMAX, YMIN, ONSET, BASE, POL, PB, XBASE = range(28)
NSV = 28
# The floors (`fl`): five of five ints each (the running minimum of this sub-window of 8
# blocks, then those of the last four): narrow band, wide band, decision band as is, minus
# itself one 50 Hz and one 60 Hz period back.
FN, FW, F0, F5, F6 = 0, 5, 10, 15, 20


@micropython.native
def floor(fl, i, k, s):
    """Block k's sum s into the floor at fl[i:i+5]; the floor: the minimum over the last 25-32
    blocks (~3-4 s, "minimum statistics") as the mean |band| per sample in 1/4 counts (>> 5 of
    a 128-sample sum), clamped to 4 .. 2**19 - 1. The bands' floors (fl[0:10]) take the
    second-lowest of the five sub-window minima instead, at most 5/4 of the lowest: one quiet
    second between tonic motor-unit activity no longer sets the levels for four."""
    if s < fl[i]:
        fl[i] = s
    m = fl[i]
    m2 = BIG
    for j in range(i + 1, i + 5):
        v = fl[j]
        if v < m:
            m2 = m
            m = v
        elif v < m2:
            m2 = v
    if k & 7 == 7:  # a sub-window ends: keep its minimum, start the next
        fl[i + 1 + ((k >> 3) & 3)] = fl[i]
        fl[i] = BIG
    if i < F0 and m2 < BIG:
        m = min(m2, m + (m >> 2))
    m >>= 5
    if m < 4:
        return 4
    return m if m < 524287 else 524287  # only full-scale garbage clamps: mu4 * thr < 2**29


@micropython.native
def levels(lv, i, mu4, thr, off, w):
    """Envelope levels from a floor, into lv[i:i+3]: onset, offset (at most the onset's) and
    chain level (5/6 of the onset's), in envelope units (sums over w samples of |band|)."""
    lv[i] = ((mu4 * thr) >> 6) * w
    lv[i + 1] = ((mu4 * min(off, thr)) >> 6) * w
    lv[i + 2] = ((mu4 * (thr * 5 // 6)) >> 6) * w


@micropython.native
def period(fs, hz):
    """A comb delay of whole mains periods: the fewest (1..3) that come to a whole number of
    samples, at most 128 (60 Hz at 1 kHz: 3 periods, 50 samples), else one period rounded
    (at most 80 up to 3199 Hz): the features' look-back of 127 + d stays in the delay line."""
    for m in (1, 2, 3):
        if m * fs % hz == 0 and m * fs // hz <= 128:
            return m * fs // hz
    return (fs + hz // 2) // hz


@micropython.native
def taps(fs, d, lw):
    """The comb's K for delay d: at most 4 periods, within the delay line and the bounds."""
    return max(1, min(4, 255 // d, 30 // lw)) if d else 0


class Detector:

    @micropython.native
    def __init__(self, channel, fs, params, emit):
        self.channel = channel
        self.emit = emit
        self.dl = array("h", bytes(512))  # raw samples: comb and decision taps, the features
        self.cr = array("i", bytes(128))  # the comb's output c: the bands' taps
        self.ah = array("i", bytes(256))  # |f| over the envelope window (64)
        self.gh = array("i", bytes(256))  # |g|, the wide band's, likewise
        self.fl = array("i", bytes(100))  # the floors (FN, FW, F0, F5, F6)
        self.sv = array("i", bytes(4 * NSV))  # the per-sample loop's state
        self.q = array("i", bytes(24 * QN))  # held events: onset, duration, kind, signed peak,
        # area, seq
        # The levels, set per block from the floors (one array, not six attributes: the
        # instance dict stays in a smaller size class): the narrow band's onset, offset and
        # chain level, then the wide band's.
        self.lv = array("i", bytes(24))
        # The learned heartbeat: signed peak, area, learned (1), last onset, interval.
        self.rm = array("i", bytes(20))
        self.qn = 0
        self.qh = 0
        self.configure(fs, params)

    @micropython.native
    def configure(self, fs, params):
        self.thr = params["det_thresh"]
        self.off = min(params["det_off"], self.thr)
        self.w = min(64, max(1, params["det_win_ms"] * fs // 1000))
        self.hold = max(1, params["det_hold_ms"] * fs // 1000)
        self.twitch = params["det_twitch_ms"] * fs // 1000
        self.burst = params["det_burst_ms"] * fs // 1000
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
        # Mains: 0 automatic, 1..39 off, 40..65 a comb at that frequency.
        hz = params["det_mains_hz"]
        self.auto = hz == 0
        self.fixed = hz if hz >= 40 else 0
        self.fs = fs
        self.d5 = period(fs, 50)
        self.d6 = period(fs, 60)
        self.reset()

    @micropython.native
    def set_mains(self, hz):
        """Comb at hz (0: none); the bands' floors start again (their scale changes)."""
        self.mains = hz
        self.d = period(self.fs, hz) if hz else 0
        self.kc = taps(self.fs, self.d, self.lw)
        fl = self.fl
        for k in range(FN, F0):
            fl[k] = BIG
        lv = self.lv
        for k in range(6):
            lv[k] = BIG

    @micropython.native
    def reset(self):
        self.flush()
        self.qh = 0
        self.due = NEVER
        self.seq = 0
        self.fresh = 1  # the first sample fills the delay lines: no start-up transient
        sv = self.sv
        for k in range(NSV):
            sv[k] = 0
        sv[CS] = -65536  # the chain of samples above the chain level: its start, its last
        sv[CL] = -65536
        fl = self.fl
        for k in range(25):
            fl[k] = BIG
        rm = self.rm
        for k in range(5):
            rm[k] = 0
        self.bk = 0
        self.noise = 0
        sv[PB] = 8
        self.set_mains(self.fixed)

    @micropython.native
    def block(self, s, sw, s0, s5, s6):
        # Minimum statistics over the last 25-32 blocks: events raise single blocks, so the
        # floor ignores them without being frozen (which would tie it to the event state).
        k = self.bk
        self.bk = k + 1
        fl = self.fl
        mu4 = floor(fl, FN, k, s)
        self.noise = (mu4 >> 2) // (self.kc or 1)  # counts of x, whatever the comb's gain
        levels(self.lv, 0, mu4, self.thr, self.off, self.w)
        if self.gthr:
            levels(self.lv, 3, floor(fl, FW, k, sw), self.gthr, self.off, self.ww)
        if self.auto:
            self.decide(floor(fl, F0, k, s0), floor(fl, F5, k, s5), floor(fl, F6, k, s6))

    @micropython.native
    def decide(self, m0, m5, m6):
        # The comb pays where the decision band's floor minus itself one period back is below
        # its floor as is (the hum raised that by more than the 2-tap comb's own sqrt 2 on
        # white noise); it stops paying at 5/4 of it. The other frequency takes over at 7/8.
        hz = self.mains
        best = 50 if m5 <= m6 else 60
        mb = m5 if m5 <= m6 else m6
        if hz == 0:
            new = best if mb < m0 else 0
        else:
            cur = m5 if hz == 50 else m6
            if 4 * cur >= 5 * m0:
                new = 0
            elif 8 * mb < 7 * cur:
                new = best
            else:
                new = hz
        if new != hz:
            self.set_mains(new)

    @micropython.native
    def y(self, j):
        """The raw signal minus itself one comb delay back (the hum out; x without a comb)."""
        dl = self.dl
        d = self.d
        return dl[j & 255] - dl[(j - d) & 255] if d else dl[j & 255]

    @micropython.native
    def begin(self, idx, e, eg):
        # Onset: back from the crossing over the run of samples where either envelope is above
        # its offset level (e[j-1] = e[j] - |f[j]| + |f[j-w]|, the same for eg; at most `cap`
        # samples: the delay lines reach that far), then the first sample of that run's window
        # whose own |f| reaches half the offset level, or whose |g| reaches all of the wide
        # band's (its window is twice as long): a burst whose first potentials stayed below the
        # onset level starts with them.
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
            b += self.y(j)
        sv = self.sv
        sv[BASE] = b
        # The raw level before, over a whole mains period with a comb (the hum averages out)
        dl = self.dl
        p = self.d or 8
        sv[PB] = p
        xb = 0
        for j in range(g - p, g):
            xb += dl[j & 255]
        sv[XBASE] = xb
        area = 0
        ymax = -131072
        ymin = 131071
        xmax = -32768
        xmin = 32767
        for j in range(k, idx + 1):
            area += ah[j & 63]
            v = self.y(j)
            if v > ymax:
                ymax = v
            if v < ymin:
                ymin = v
            v = dl[j & 255]
            if v > xmax:
                xmax = v
            if v < xmin:
                xmin = v
        sv[YMAX] = ymax
        sv[YMIN] = ymin
        sv[XMAX] = xmax
        sv[XMIN] = xmin
        # The polarity, from the run that crossed: later samples may hold the comb's echo of it
        # (x - x[n-d] repeats a potential inverted one period on).
        sv[POL] = 1 if b - 8 * ymin > 8 * ymax - b else 0
        # Earlier potentials at 5/6 of the onset level, closer to each other than the hold time,
        # belong to this event (the first ones of a burst): it starts where their chain starts,
        # at most det_burst_ms back. Peak and area are measured from the run that crossed.
        cs = sv[CS]
        sv[ONSET] = cs if idx - self.burst <= cs < k else k
        return area

    @micropython.native
    def finish(self, idx, last, wide, area, xmax, xmin, ymax, ymin):
        # Peak and polarity from y = x - x[n-d] (the hum out; x without a comb); saturation,
        # steps and one-sided excursions from the raw signal too, its levels over a whole mains
        # period: a pop's slow decay leaves an echo in y one period on that looks two-sided.
        sv = self.sv
        onset = sv[ONSET]
        base = sv[BASE]
        up = 8 * ymax - base
        down = base - 8 * ymin
        peak = max(up, down) >> 3
        p = sv[PB]
        xb = sv[XBASE]
        shift = -xb
        dl = self.dl
        for j in range(idx - p, idx):
            shift += dl[j & 255]
        xup = p * xmax - xb
        xdown = xb - p * xmin
        # What the filters add to an event's length: the spread of the band that held it last,
        # and two of the comb's K periods (its echoes, each 1/K of a potential, keep a large
        # one above the offset level for about that long; all K would make motion swings
        # through the comb bursts).
        dur = last - onset - ((self.ww + self.lw if wide else self.w + self.l)
                              + min(2, self.kc) * self.d - 2)
        if dur < 1:
            dur = 1
        if xmax >= self.sat or xmin <= -self.sat:
            kind = 3
        elif self.step and 16 * abs(shift) > self.step * peak * p:
            kind = 3  # the level moved and stayed: a step or an electrode pop
        elif (16 * min(up, down) < self.sided * (8 * peak)
              or 16 * min(xup, xdown) < self.sided * max(xup, xdown)):
            # A one-sided excursion (pop, ramp, kink); potentials swing both ways. Held as 4:
            # an artifact that may still be a heartbeat (a small QRS in noise can look
            # one-sided), so it can teach and keep the beat's rhythm; sent as an artifact.
            kind = 4
        elif dur <= self.twitch:
            kind = 0
        elif dur <= self.burst:
            kind = 1
        else:
            kind = 2
        seq = self.seq
        self.seq = seq + 1
        peak = min(peak, 65535)
        if sv[POL]:
            peak = -peak  # held signed: the heartbeat check compares polarity too
        area = min(area >> 4, 65535)
        dur = min(dur, 4095)
        if kind != 3 and self.rr_hi:  # contractions too: a beat merged with its T wave is long
            kind = self.heart(onset, peak, area, kind)
        # Held back (in order) until a heartbeat could have been learned behind it, so the
        # first beats are artifacts too; released at the first block end once due; a full queue
        # lets its oldest go early.
        if self.qn == QN:
            self.pop()
        q = self.q
        j = ((self.qh + self.qn) % QN) * 6
        q[j] = onset
        q[j + 1] = dur
        q[j + 2] = kind
        q[j + 3] = peak
        q[j + 4] = area
        q[j + 5] = seq
        self.qn += 1
        self.due = q[self.qh * 6] + self.horizon

    @micropython.native
    def pop(self):
        q = self.q
        j = self.qh * 6
        self.qh = (self.qh + 1) % QN
        self.qn -= 1
        self.due = q[self.qh * 6] + self.horizon if self.qn else NEVER
        k = q[j + 2]
        self.emit(q[j], q[j + 1], 3 if k == 4 else k, self.channel, abs(q[j + 3]), q[j + 4])

    @micropython.native
    def flush(self):
        """Emit every held event now (end of a recording, or before a reset)."""
        while self.qn:
            self.pop()

    @micropython.native
    def like(self, p, a, p2, a2, tail):
        """The same shape: polarity, peak within 1/4 (+ the noise level: small beats in
        noise), area within 1/2 (+ 1); with `tail` (an event against the learned beat), peak
        within 1/3 (a beat's peak wanders with breathing and what it merges with; the
        rhythm check narrows what else passes) and area at least half (+ 1): a beat that
        merged with its T wave, background activity or a twitch in the hold time has more.
        (Not the duration: it varies with the envelope's tail.)"""
        if (p < 0) != (p2 < 0):
            return False
        p = abs(p)
        p2 = abs(p2)
        if (3 if tail else 4) * abs(p - p2) > p2 + 4 * self.noise:
            return False
        return 2 * a + 3 >= a2 if tail else 2 * abs(a - a2) <= a2 + 3

    @micropython.native
    def heart(self, onset, peak, area, kind):
        # Heartbeats have one shape, beat after beat; twitches do not. Shape first: three events
        # of the same shape (polarity, peak, area) at heart-rate intervals (300 ms ..
        # det_rr_ms, each within 3/4..4/3 of the other: irregular rhythms too; or one about
        # twice the other, up to 2 x det_rr_ms: a beat too small to be seen) teach the beat;
        # they, and from then on every event of that polarity and peak, with at least half its
        # area (a beat merged with what follows it has more), at least 300 ms and half an
        # interval after the last beat (early beats, pauses and beats too small to be seen in
        # between included), are artifacts. Rhythm second: a beat not seen for 4 x det_rr_ms is
        # forgotten (learned again from three).
        rm = self.rm
        if rm[2]:
            iv = onset - rm[3]
            if iv > 4 * self.rr_hi:
                rm[2] = 0
            elif self.like(peak, area, rm[0], rm[1], 1):
                if iv < self.rr_lo or 2 * iv < rm[4]:
                    return kind  # too soon after a beat to be the next one
                if 2 * iv <= 3 * rm[4]:  # not a pause: the interval follows
                    rm[4] += (iv - rm[4]) >> 2
                if 2 * abs(area - rm[1]) <= rm[1] + 3:  # the beat alone: its area follows
                    rm[1] += (area - rm[1]) >> 2
                rm[0] += (peak - rm[0]) >> 2
                rm[3] = onset
                return 3
            else:
                return kind
        # Learning: the newest held event of this shape one interval back, and the newest
        # before that one another interval back.
        q = self.q
        lo = self.rr_lo
        hi = self.rr_hi
        j2 = -1
        iv2 = 0
        for i in range(self.qn - 1, -1, -1):
            j = ((self.qh + i) % QN) * 6
            if q[j + 2] == 3 or not self.like(peak, area, q[j + 3], q[j + 4], 0):
                continue
            iv = (onset if j2 < 0 else q[j2]) - q[j]
            if not lo <= iv <= 2 * hi:
                continue
            if j2 < 0:
                j2 = j
                iv2 = iv
            elif (4 * iv >= 3 * iv2 and 3 * iv <= 4 * iv2 and iv <= hi and iv2 <= hi
                  or 4 * iv >= 7 * iv2 and 4 * iv <= 9 * iv2  # (one beat unseen between)
                  or 4 * iv2 >= 7 * iv and 4 * iv2 <= 9 * iv):
                rm[0] = (peak + q[j2 + 3] + q[j + 3]) // 3
                rm[1] = (area + q[j2 + 4] + q[j + 4]) // 3
                rm[2] = 1
                rm[3] = onset
                rm[4] = (onset - q[j]) >> 1
                q[j + 2] = 3
                q[j2 + 2] = 3
                return 3
        return kind
