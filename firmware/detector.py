# The per-channel twitch detector: causal, integer only, nothing allocated per sample.
# host/myotwitch/detect.py is its NumPy twin and must stay bit-exact: change both together.
# Algorithm, units and the fixed-point bounds: DETECTOR.md.
#
# Every stage is either an FIR (box band-pass, comb, moving sum) or depends only on block
# statistics, never on the event state, so the host can rebuild it exactly without a loop
# per sample; only the hysteresis and the per-event work are sequential.
#
# Bounds (MicroPython small ints are 31-bit signed on 32-bit chips, |v| < 2**30), x in int16,
# l <= 4 (2 kHz), d <= 50, w <= 64:
#   f = b[n] - b[n-d], |b| <= l * 65535 < 2**18, so |f| = c < 2**19
#   e = moving sum of c over w: < 2**25;  block sum over 128: < 2**26
#   mu4 = min(block sums) >> 5, clamped to < 2**19;  mu4 * thr (thr < 2**10) < 2**29;
#   ((mu4 * thr) >> 6) * w < 2**29;  2 * w * c < 2**26
#   area stops growing at 2**29 (so < 2**29 + 2**19); 8-sample sums of x < 2**18
# so every intermediate fits; tests/test_detector_twin.py checks it at full-scale input.
# The 128-sample delay line covers every look-back: taps <= d + 2l <= 58 samples, the level
# before an event <= (w - 1) + cap + 56 + 8 <= 127 (cap <= 64 - w); the 64-sample |f| line
# covers the onset search (cap + w - 1 <= 63 back).

from array import array

PARAMS = (
    # (key, default, min, max): units and what each key does are told on the host
    # (myotwitch.detect.UNITS, DESCRIPTIONS; DETECTOR.md), not here: every object costs the heap.
    ("det_thresh", 96, 16, 1023),
    ("det_off", 48, 8, 1023),
    ("det_win_ms", 8, 1, 32),
    ("det_hold_ms", 60, 1, 500),
    ("det_twitch_ms", 30, 1, 1000),
    ("det_burst_ms", 300, 1, 4000),
    ("det_mains_hz", 0, 0, 65),
    ("det_step", 8, 0, 16),
    ("det_sided", 2, 0, 16),
    ("det_sat", 32700, 1, 32768),
    ("det_rr_ms", 1600, 0, 3000),
)

BIG = 1 << 29  # "no floor yet": above any envelope (< 2**26), so nothing triggers
NEVER = (1 << 30) - 1  # release time of an empty queue (largest small int)
QN = 8  # events held at most


class Detector:
    def __init__(self, channel, fs, params, emit):
        self.channel = channel
        self.emit = emit
        self.dl = array("h", bytes(256))  # raw samples: filter taps and the 8-sample levels
        self.ah = array("i", bytes(256))  # |f| over the envelope window (64)
        self.st = array("i", bytes(128))  # block sums: the noise floor is their minimum (~4 s)
        self.q = array("i", bytes(24 * QN))  # held events: onset, duration, kind, peak, area, seq
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
        self.tail = self.w + self.d + self.l - 2  # what the filters add to an event's length
        self.cap = min(fs * 40 // 1000, 64 - self.w)  # onset look-back over the run (40 ms)
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
        self.bpos = 0
        self.bk = 0
        st = self.st
        for k in range(32):
            st[k] = BIG
        self.ton = BIG
        self.toff = BIG
        self.noise = 0
        self.active = 0
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

    def process(self, buf, start, count, first_index, mask):
        dl = self.dl
        ah = self.ah
        if self.fresh:
            self.fresh = 0
            x = buf[start & mask]
            for k in range(128):
                dl[k] = x
            for k in range(64):
                ah[k] = 0
        w = self.w
        d = self.d
        l = self.l
        l2 = 2 * l
        dl1 = d + l
        dl2 = d + l2
        hold = self.hold
        f = self.f
        e = self.e
        bsum = self.bsum
        bpos = self.bpos
        ton = self.ton
        toff = self.toff
        active = self.active
        last = self.last
        area = self.area
        xmax = self.xmax
        xmin = self.xmin
        sh = (start - first_index) & mask  # ring position of sample idx: (idx + sh) & mask
        idx = first_index
        stop = first_index + count
        while idx < stop:
            # Up to the next block end, so the loop itself needs no block counter.
            n = idx + 128 - bpos
            if n > stop:
                n = stop
            bpos += n - idx
            for idx in range(idx, n):
                x = buf[(idx + sh) & mask]
                dl[idx & 127] = x
                # f[n] = b[n] - b[n-d], b[n] = sum(x[n-l+1..n]) - sum(x[n-2l+1..n-l]): advanced
                # by its exact integer increment (an FIR, so no rounding ever accumulates).
                f += x - 2 * dl[(idx - l) & 127] + dl[(idx - l2) & 127]
                if d:
                    f -= dl[(idx - d) & 127] - 2 * dl[(idx - dl1) & 127] + dl[(idx - dl2) & 127]
                c = f if f >= 0 else -f
                e += c - ah[(idx - w) & 63]
                ah[idx & 63] = c
                bsum += c
                if active:
                    if e > toff:
                        last = idx
                    elif idx - last >= hold:
                        active = 0
                        self.finish(idx, last, area, xmax, xmin)
                    if active:
                        if area < BIG:
                            area += c
                        if x > xmax:
                            xmax = x
                        elif x < xmin:
                            xmin = x
                elif e > ton:
                    active = 1
                    last = idx
                    area = self.begin(idx, e)
                    xmax = self.xmax
                    xmin = self.xmin
            idx = n
            if bpos == 128:  # block end: the floor, and held events that are due
                bpos = 0
                self.block(bsum)
                bsum = 0
                ton = self.ton
                toff = self.toff
                while self.qn and idx > self.due:
                    self.pop()
        self.f = f
        self.e = e
        self.bsum = bsum
        self.bpos = bpos
        self.active = active
        self.last = last
        self.area = area
        self.xmax = xmax
        self.xmin = xmin

    def block(self, s):
        # Minimum statistics over the last 32 blocks: events raise single blocks, so the
        # floor ignores them without being frozen (which would tie it to the event state).
        st = self.st
        st[self.bk & 31] = s
        self.bk += 1
        m = BIG
        for k in range(32):
            if st[k] < m:
                m = st[k]
        mu4 = m >> 5  # mean |f| per sample, in 1/4 counts
        if mu4 < 4:
            mu4 = 4
        elif mu4 > 524287:
            mu4 = 524287  # only full-scale garbage gets here; keeps mu4 * thr < 2**29
        self.noise = mu4 >> 2
        w = self.w
        self.ton = ((mu4 * self.thr) >> 6) * w
        self.toff = ((mu4 * self.off) >> 6) * w

    def begin(self, idx, e):
        # Onset: back from the crossing over the run of envelope samples above the offset level
        # (e[j-1] = e[j] - |f[j]| + |f[j-w]|, at most `cap` samples: the delay lines reach that
        # far), then the first sample of that run's window whose own |f| reaches half the offset
        # level: a burst whose first potentials stayed below the onset level starts with them.
        dl = self.dl
        ah = self.ah
        w = self.w
        toff = self.toff
        j = idx
        stop = idx - self.cap
        while j > stop:
            e -= ah[j & 63] - ah[(j - w) & 63]
            if e <= toff:
                break
            j -= 1
        k = j - w + 1
        while 2 * w * ah[k & 63] <= toff:
            k += 1
        self.onset = k
        g = k - min(w, 56)  # the level before: clear of the rise (and within the delay line)
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
        return area

    def finish(self, idx, last, area, xmax, xmin):
        onset = self.onset
        base = self.base
        dl = self.dl
        peak = max(8 * xmax - base, base - 8 * xmin) >> 3
        shift = -base
        for j in range(idx - 8, idx):
            shift += dl[j & 127]
        dur = last - onset - self.tail
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
        if kind < 2 and self.rr_hi:
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


try:
    import micropython
except ImportError:  # CPython (the host's reference run of this file)
    micropython = None

if micropython:

    class ViperDetector(Detector):
        # process() compiled to machine code (viper): the same arithmetic on machine words
        # (32-bit on the ESP32; every value stays below 2**30 as argued at the top), the same
        # events bit for bit. Needs mpy-cross -march (xtensawin on the chip, x64 in the
        # virtual board). ptr16 loads are unsigned: (v ^ 0x8000) - 0x8000 restores the sign.
        @micropython.viper
        def process(self, buf, start: int, count: int, first_index: int, mask: int):
            rb = ptr16(buf)
            dl = ptr16(self.dl)
            ah = ptr32(self.ah)
            if self.fresh:
                self.fresh = 0
                x = (int(rb[start & mask]) ^ 0x8000) - 0x8000
                for k in range(128):
                    dl[k] = x
                for k in range(64):
                    ah[k] = 0
            big = int(BIG)
            w = int(self.w)
            d = int(self.d)
            l = int(self.l)
            l2 = 2 * l
            dl1 = d + l
            dl2 = d + l2
            hold = int(self.hold)
            f = int(self.f)
            e = int(self.e)
            bsum = int(self.bsum)
            bpos = int(self.bpos)
            ton = int(self.ton)
            toff = int(self.toff)
            active = int(self.active)
            last = int(self.last)
            area = int(self.area)
            xmax = int(self.xmax)
            xmin = int(self.xmin)
            sh = (start - first_index) & mask
            idx = first_index
            stop = first_index + count
            while idx < stop:
                n = idx + 128 - bpos
                if n > stop:
                    n = stop
                bpos += n - idx
                for j in range(idx, n):
                    x = (int(rb[(j + sh) & mask]) ^ 0x8000) - 0x8000
                    dl[j & 127] = x
                    f += (x - 2 * ((int(dl[(j - l) & 127]) ^ 0x8000) - 0x8000)
                          + ((int(dl[(j - l2) & 127]) ^ 0x8000) - 0x8000))
                    if d:
                        f -= (((int(dl[(j - d) & 127]) ^ 0x8000) - 0x8000)
                              - 2 * ((int(dl[(j - dl1) & 127]) ^ 0x8000) - 0x8000)
                              + ((int(dl[(j - dl2) & 127]) ^ 0x8000) - 0x8000))
                    c = f if f >= 0 else 0 - f
                    e += c - int(ah[(j - w) & 63])
                    ah[j & 63] = c
                    bsum += c
                    if active:
                        if e > toff:
                            last = j
                        elif j - last >= hold:
                            active = 0
                            self.finish(j, last, area, xmax, xmin)
                        if active:
                            if area < big:
                                area += c
                            if x > xmax:
                                xmax = x
                            elif x < xmin:
                                xmin = x
                    elif e > ton:
                        active = 1
                        last = j
                        area = int(self.begin(j, e))
                        xmax = int(self.xmax)
                        xmin = int(self.xmin)
                idx = n
                if bpos == 128:
                    bpos = 0
                    self.block(bsum)
                    bsum = 0
                    ton = int(self.ton)
                    toff = int(self.toff)
                    while int(self.qn) and idx > int(self.due):
                        self.pop()
            self.f = f
            self.e = e
            self.bsum = bsum
            self.bpos = bpos
            self.active = active
            self.last = last
            self.area = area
            self.xmax = xmax
            self.xmin = xmin
