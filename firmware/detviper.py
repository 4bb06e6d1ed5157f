# The detector's per-sample loop as machine code (@micropython.viper), what app.py runs: the
# same arithmetic and the same events, bit for bit, as detref.py's plain-Python loop (the
# reference). Needs an mpy-cross -march (xtensawin on the chip, the host's CPU in the virtual
# board). Everything else of the detector: detector.py.

import micropython

from detector import BIG, Detector


class ViperDetector(Detector):
    # Machine words are 32-bit on the ESP32; every value stays below 2**30 (detector.py's
    # bounds), so nothing wraps. ptr16 loads are unsigned: (v ^ 0x8000) - 0x8000 restores
    # the sign.
    @micropython.viper
    def process(self, buf, start: int, count: int, first_index: int, mask: int):
        rb = ptr16(buf)
        dl = ptr16(self.dl)
        ah = ptr32(self.ah)
        gh = ptr32(self.gh)
        if self.fresh:
            self.fresh = 0
            x = (int(rb[start & mask]) ^ 0x8000) - 0x8000
            for k in range(128):
                dl[k] = x
            for k in range(64):
                ah[k] = 0
                gh[k] = 0
        big = int(BIG)
        w = int(self.w)
        d = int(self.d)
        l = int(self.l)
        l2 = 2 * l
        dl1 = d + l
        dl2 = d + l2
        wide_on = int(self.gthr)
        ww = int(self.ww)
        lw = int(self.lw)
        lw2 = 2 * lw
        dlw1 = d + lw
        dlw2 = d + lw2
        hold = int(self.hold)
        f = int(self.f)
        e = int(self.e)
        bsum = int(self.bsum)
        g = int(self.g)
        eg = int(self.eg)
        gsum = int(self.gsum)
        bpos = int(self.bpos)
        lv = ptr32(self.lv)
        ton = int(lv[0])
        toff = int(lv[1])
        tcn = int(lv[2])
        gon = int(lv[3])
        goff = int(lv[4])
        tcw = int(lv[5])
        cs = int(self.cs)
        cl = int(self.cl)
        active = int(self.active)
        wide = int(self.wide)
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
                if wide_on:
                    g += (x - 2 * ((int(dl[(j - lw) & 127]) ^ 0x8000) - 0x8000)
                          + ((int(dl[(j - lw2) & 127]) ^ 0x8000) - 0x8000))
                    if d:
                        g -= (((int(dl[(j - d) & 127]) ^ 0x8000) - 0x8000)
                              - 2 * ((int(dl[(j - dlw1) & 127]) ^ 0x8000) - 0x8000)
                              + ((int(dl[(j - dlw2) & 127]) ^ 0x8000) - 0x8000))
                    cg = g if g >= 0 else 0 - g
                    eg += cg - int(gh[(j - ww) & 63])
                    gh[j & 63] = cg
                    gsum += cg
                if active:
                    if eg > goff:
                        last = j
                        wide = 1
                    elif e > toff:
                        last = j
                        wide = 0
                    elif j - last >= hold:
                        active = 0
                        self.finish(j, last, wide, area, xmax, xmin)
                    if active:
                        if area < big:
                            area += c
                        if x > xmax:
                            xmax = x
                        elif x < xmin:
                            xmin = x
                elif e > tcn or eg > tcw:
                    if j - cl > hold:
                        cs = j
                    cl = j
                    if e > ton or eg > gon:
                        self.cs = cs
                        active = 1
                        last = j
                        wide = 1 if eg > goff else 0
                        area = int(self.begin(j, e, eg))
                        xmax = int(self.xmax)
                        xmin = int(self.xmin)
            idx = n
            if bpos == 128:
                bpos = 0
                self.block(bsum, gsum)
                bsum = 0
                gsum = 0
                ton = int(lv[0])
                toff = int(lv[1])
                tcn = int(lv[2])
                gon = int(lv[3])
                goff = int(lv[4])
                tcw = int(lv[5])
                while int(self.qn) and idx > int(self.due):
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
