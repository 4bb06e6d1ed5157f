# The detector's per-sample loop in plain Python: the reference (the host runs it in CPython,
# myotwitch.detect.reference; the tests run it in the MicroPython unix port against the NumPy
# twin) and the fallback for a MicroPython port without viper. detviper.py is the same loop in
# machine code, which app.py runs. Everything else of the detector: detector.py.

try:
    from detector import (ACTIVE, AREA, BIG, BPOS, BSUM, CL, CS, EG, GSUM, H5, H6, LAST, S0, S5,
                          S6, WIDE, XMAX, XMIN, YMAX, YMIN, Detector, E, F, G, H)
except ImportError:  # the host: the firmware is the package myotwitch.firmware
    from .detector import (ACTIVE, AREA, BIG, BPOS, BSUM, CL, CS, EG, GSUM, H5, H6, LAST, S0,
                           S5, S6, WIDE, XMAX, XMIN, YMAX, YMIN, Detector, E, F, G, H)


class RefDetector(Detector):
    def process(self, buf, start, count, first_index, mask):
        dl = self.dl
        cr = self.cr
        ah = self.ah
        gh = self.gh
        sv = self.sv
        if self.fresh:
            self.fresh = 0
            x = buf[start & mask]
            for k in range(256):
                dl[k] = x
            c = 0 if self.d else x
            for k in range(32):
                cr[k] = c
            for k in range(64):
                ah[k] = 0
                gh[k] = 0
        w = self.w
        l = self.l
        l2 = 2 * l
        wide_on = self.gthr
        ww = self.ww
        lw = self.lw
        lw2 = 2 * lw
        hold = self.hold
        auto = self.auto
        d5 = self.d5
        d6 = self.d6
        d = self.d
        kc = self.kc
        f = sv[F]
        e = sv[E]
        bsum = sv[BSUM]
        g = sv[G]
        eg = sv[EG]
        gsum = sv[GSUM]
        h = sv[H]
        h5 = sv[H5]
        h6 = sv[H6]
        s0 = sv[S0]
        s5 = sv[S5]
        s6 = sv[S6]
        bpos = sv[BPOS]
        active = sv[ACTIVE]
        wide = sv[WIDE]
        last = sv[LAST]
        area = sv[AREA]
        xmax = sv[XMAX]
        xmin = sv[XMIN]
        ymax = sv[YMAX]
        ymin = sv[YMIN]
        cs = sv[CS]
        cl = sv[CL]
        lv = self.lv
        ton = lv[0]
        toff = lv[1]
        tcn = lv[2]
        gon = lv[3]
        goff = lv[4]
        tcw = lv[5]
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
                dl[idx & 255] = x
                if auto:
                    # The mains decision band (the wide band's box band-pass on x) and itself one
                    # 50 Hz and one 60 Hz period back, each advanced by its exact increment.
                    h += x - 2 * dl[(idx - lw) & 255] + dl[(idx - lw2) & 255]
                    j = idx - d5
                    h5 += dl[j & 255] - 2 * dl[(j - lw) & 255] + dl[(j - lw2) & 255]
                    j = idx - d6
                    h6 += dl[j & 255] - 2 * dl[(j - lw) & 255] + dl[(j - lw2) & 255]
                    s0 += h if h >= 0 else -h
                    v = h - h5
                    s5 += v if v >= 0 else -v
                    v = h - h6
                    s6 += v if v >= 0 else -v
                # The mains comb: K times the sample minus the K samples whole periods before it.
                c = x
                if d:
                    c = kc * x
                    j = idx - d
                    for _ in range(kc):
                        c -= dl[j & 255]
                        j -= d
                cr[idx & 31] = c
                # f[n] = sum(c[n-l+1..n]) - sum(c[n-2l+1..n-l]): advanced by its exact integer
                # increment (an FIR, so no rounding ever accumulates).
                f += c - 2 * cr[(idx - l) & 31] + cr[(idx - l2) & 31]
                v = f if f >= 0 else -f
                e += v - ah[(idx - w) & 63]
                ah[idx & 63] = v
                bsum += v
                if wide_on:  # the same filter at 5 ms half-length (off: eg stays 0)
                    g += c - 2 * cr[(idx - lw) & 31] + cr[(idx - lw2) & 31]
                    cg = g if g >= 0 else -g
                    eg += cg - gh[(idx - ww) & 63]
                    gh[idx & 63] = cg
                    gsum += cg
                if active:
                    if eg > goff:
                        last = idx
                        wide = 1
                    elif e > toff:
                        last = idx
                        wide = 0
                    elif idx - last >= hold:
                        active = 0
                        self.finish(idx, last, wide, area, xmax, xmin, ymax, ymin)
                    if active:
                        if area < BIG:
                            area += v
                        if x > xmax:
                            xmax = x
                        elif x < xmin:
                            xmin = x
                        y = x - dl[(idx - d) & 255] if d else x  # the hum out, as begin() does
                        if y > ymax:
                            ymax = y
                        elif y < ymin:
                            ymin = y
                elif e > tcn or eg > tcw:  # at the chain level: may belong to what follows
                    if idx - cl > hold:
                        cs = idx
                    cl = idx
                    if e > ton or eg > gon:
                        sv[CS] = cs
                        active = 1
                        last = idx
                        wide = 1 if eg > goff else 0
                        area = self.begin(idx, e, eg)
                        xmax = sv[XMAX]
                        xmin = sv[XMIN]
                        ymax = sv[YMAX]
                        ymin = sv[YMIN]
            idx = n
            if bpos == 128:  # block end: the floors, the mains comb, held events that are due
                bpos = 0
                self.block(bsum, gsum, s0, s5, s6)
                bsum = 0
                gsum = 0
                s0 = 0
                s5 = 0
                s6 = 0
                d = self.d
                kc = self.kc
                ton = lv[0]
                toff = lv[1]
                tcn = lv[2]
                gon = lv[3]
                goff = lv[4]
                tcw = lv[5]
                while self.qn and idx > self.due:
                    self.pop()
        sv[F] = f
        sv[E] = e
        sv[BSUM] = bsum
        sv[G] = g
        sv[EG] = eg
        sv[GSUM] = gsum
        sv[H] = h
        sv[H5] = h5
        sv[H6] = h6
        sv[S0] = s0
        sv[S5] = s5
        sv[S6] = s6
        sv[BPOS] = bpos
        sv[ACTIVE] = active
        sv[WIDE] = wide
        sv[LAST] = last
        sv[AREA] = area
        sv[XMAX] = xmax
        sv[XMIN] = xmin
        sv[YMAX] = ymax
        sv[YMIN] = ymin
        sv[CS] = cs
        sv[CL] = cl
