# The detector's per-sample loop in plain Python: the reference (the host runs it in CPython,
# myotwitch.detect.reference; the tests run it in the MicroPython unix port against the NumPy
# twin) and the fallback for a MicroPython port without viper. detviper.py is the same loop in
# machine code, which app.py runs. Everything else of the detector: detector.py.

try:
    from detector import BIG, Detector
except ImportError:  # the host: the firmware is the package myotwitch.firmware
    from .detector import BIG, Detector


class RefDetector(Detector):
    def process(self, buf, start, count, first_index, mask):
        dl = self.dl
        ah = self.ah
        gh = self.gh
        if self.fresh:
            self.fresh = 0
            x = buf[start & mask]
            for k in range(128):
                dl[k] = x
            for k in range(64):
                ah[k] = 0
                gh[k] = 0
        w = self.w
        d = self.d
        l = self.l
        l2 = 2 * l
        dl1 = d + l
        dl2 = d + l2
        wide_on = self.gthr
        ww = self.ww
        lw = self.lw
        lw2 = 2 * lw
        dlw1 = d + lw
        dlw2 = d + lw2
        hold = self.hold
        f = self.f
        e = self.e
        bsum = self.bsum
        g = self.g
        eg = self.eg
        gsum = self.gsum
        bpos = self.bpos
        lv = self.lv
        ton = lv[0]
        toff = lv[1]
        tcn = lv[2]
        gon = lv[3]
        goff = lv[4]
        tcw = lv[5]
        cs = self.cs
        cl = self.cl
        active = self.active
        wide = self.wide
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
                if wide_on:  # the same filters at 5 ms half-length (off: eg stays 0)
                    g += x - 2 * dl[(idx - lw) & 127] + dl[(idx - lw2) & 127]
                    if d:
                        g -= (dl[(idx - d) & 127] - 2 * dl[(idx - dlw1) & 127]
                              + dl[(idx - dlw2) & 127])
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
                        self.finish(idx, last, wide, area, xmax, xmin)
                    if active:
                        if area < BIG:
                            area += c
                        if x > xmax:
                            xmax = x
                        elif x < xmin:
                            xmin = x
                elif e > tcn or eg > tcw:  # at the chain level: may belong to what follows
                    if idx - cl > hold:
                        cs = idx
                    cl = idx
                    if e > ton or eg > gon:
                        self.cs = cs
                        active = 1
                        last = idx
                        wide = 1 if eg > goff else 0
                        area = self.begin(idx, e, eg)
                        xmax = self.xmax
                        xmin = self.xmin
            idx = n
            if bpos == 128:  # block end: the floors, and held events that are due
                bpos = 0
                self.block(bsum, gsum)
                bsum = 0
                gsum = 0
                ton = lv[0]
                toff = lv[1]
                tcn = lv[2]
                gon = lv[3]
                goff = lv[4]
                tcw = lv[5]
                while self.qn and idx > self.due:
                    self.pop()
        self.f = f
        self.e = e
        self.bsum = bsum
        self.g = g
        self.eg = eg
        self.gsum = gsum
        self.bpos = bpos
        self.active = active
        self.wide = wide
        self.cs = cs
        self.cl = cl
        self.last = last
        self.area = area
        self.xmax = xmax
        self.xmin = xmin
