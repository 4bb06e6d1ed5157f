# The detector's per-sample loop as machine code (@micropython.viper), what app.py runs: the
# same arithmetic and the same events, bit for bit, as detref.py's plain-Python loop (the
# reference). Needs an mpy-cross -march (xtensawin on the chip, the host's CPU in the virtual
# board). Everything else of the detector: detector.py.

import micropython

from detector import BIG, Detector


class ViperDetector(Detector):
    # Machine words are 32-bit on the ESP32; every value stays below 2**30 (detector.py's
    # bounds), so nothing wraps. ptr16 loads are unsigned: (v ^ 0x8000) - 0x8000 restores
    # the sign. ptr32 loads are unsigned on a 64-bit host (the virtual board): the comb ring
    # holds c + 2**18 (never negative; the bands only take differences of it, so the offset
    # cancels), and the loop's state (sv, signed) is read as objects once per call. sv[...]
    # indices are detector.py's F, E, BSUM, ... (literals: no global lookups in machine
    # code).
    @micropython.viper
    def process(self, buf, start: int, count: int, first_index: int, mask: int):
        rb = ptr16(buf)
        dl = ptr16(self.dl)
        cr = ptr32(self.cr)
        ah = ptr32(self.ah)
        gh = ptr32(self.gh)
        so = self.sv  # loaded as objects (signed); stored through sv
        sv = ptr32(so)
        if self.fresh:
            self.fresh = 0
            x = (int(rb[start & mask]) ^ 0x8000) - 0x8000
            for k in range(256):
                dl[k] = x
            c = 0 if self.d else x
            for k in range(32):
                cr[k] = c + 262144
            for k in range(64):
                ah[k] = 0
                gh[k] = 0
        big = int(BIG)
        w = int(self.w)
        l = int(self.l)
        l2 = 2 * l
        wide_on = int(self.gthr)
        ww = int(self.ww)
        lw = int(self.lw)
        lw2 = 2 * lw
        hold = int(self.hold)
        auto = int(self.auto)
        d5 = int(self.d5)
        d6 = int(self.d6)
        d = int(self.d)
        kc = int(self.kc)
        f = int(so[0])
        e = int(so[1])
        bsum = int(so[2])
        g = int(so[3])
        eg = int(so[4])
        gsum = int(so[5])
        h = int(so[6])
        h5 = int(so[7])
        h6 = int(so[8])
        s0 = int(so[9])
        s5 = int(so[10])
        s6 = int(so[11])
        bpos = int(so[12])
        active = int(so[13])
        wide = int(so[14])
        last = int(so[15])
        area = int(so[16])
        xmax = int(so[17])
        xmin = int(so[18])
        cs = int(so[19])
        cl = int(so[20])
        ymax = int(so[21])
        ymin = int(so[22])
        lv = ptr32(self.lv)
        ton = lv[0]
        toff = lv[1]
        tcn = lv[2]
        gon = lv[3]
        goff = lv[4]
        tcw = lv[5]
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
                dl[j & 255] = x
                if auto:
                    h += (x - 2 * ((int(dl[(j - lw) & 255]) ^ 0x8000) - 0x8000)
                          + ((int(dl[(j - lw2) & 255]) ^ 0x8000) - 0x8000))
                    i = j - d5
                    h5 += (((int(dl[i & 255]) ^ 0x8000) - 0x8000)
                           - 2 * ((int(dl[(i - lw) & 255]) ^ 0x8000) - 0x8000)
                           + ((int(dl[(i - lw2) & 255]) ^ 0x8000) - 0x8000))
                    i = j - d6
                    h6 += (((int(dl[i & 255]) ^ 0x8000) - 0x8000)
                           - 2 * ((int(dl[(i - lw) & 255]) ^ 0x8000) - 0x8000)
                           + ((int(dl[(i - lw2) & 255]) ^ 0x8000) - 0x8000))
                    s0 += h if h >= 0 else 0 - h
                    v = h - h5
                    s5 += v if v >= 0 else 0 - v
                    v = h - h6
                    s6 += v if v >= 0 else 0 - v
                c = x
                if d:
                    c = kc * x
                    i = j - d
                    for _ in range(kc):
                        c -= (int(dl[i & 255]) ^ 0x8000) - 0x8000
                        i -= d
                c += 262144  # stored non-negative (below)
                cr[j & 31] = c
                f += c - 2 * cr[(j - l) & 31] + cr[(j - l2) & 31]
                v = f if f >= 0 else 0 - f
                e += v - ah[(j - w) & 63]
                ah[j & 63] = v
                bsum += v
                if wide_on:
                    g += c - 2 * cr[(j - lw) & 31] + cr[(j - lw2) & 31]
                    cg = g if g >= 0 else 0 - g
                    eg += cg - gh[(j - ww) & 63]
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
                        self.finish(j, last, wide, area, xmax, xmin, ymax, ymin)
                    if active:
                        if area < big:
                            area += v
                        if x > xmax:
                            xmax = x
                        elif x < xmin:
                            xmin = x
                        y = x
                        if d:
                            y = x - ((int(dl[(j - d) & 255]) ^ 0x8000) - 0x8000)
                        if y > ymax:
                            ymax = y
                        elif y < ymin:
                            ymin = y
                elif e > tcn or eg > tcw:
                    if j - cl > hold:
                        cs = j
                    cl = j
                    if e > ton or eg > gon:
                        sv[19] = cs
                        active = 1
                        last = j
                        wide = 1 if eg > goff else 0
                        area = int(self.begin(j, e, eg))
                        xmax = int(so[17])
                        xmin = int(so[18])
                        ymax = int(so[21])
                        ymin = int(so[22])
            idx = n
            if bpos == 128:
                bpos = 0
                self.block(bsum, gsum, s0, s5, s6)
                bsum = 0
                gsum = 0
                s0 = 0
                s5 = 0
                s6 = 0
                d = int(self.d)
                kc = int(self.kc)
                ton = lv[0]
                toff = lv[1]
                tcn = lv[2]
                gon = lv[3]
                goff = lv[4]
                tcw = lv[5]
                while int(self.qn) and idx > int(self.due):
                    self.pop()
        sv[0] = f
        sv[1] = e
        sv[2] = bsum
        sv[3] = g
        sv[4] = eg
        sv[5] = gsum
        sv[6] = h
        sv[7] = h5
        sv[8] = h6
        sv[9] = s0
        sv[10] = s5
        sv[11] = s6
        sv[12] = bpos
        sv[13] = active
        sv[14] = wide
        sv[15] = last
        sv[16] = area
        sv[17] = xmax
        sv[18] = xmin
        sv[19] = cs
        sv[20] = cl
        sv[21] = ymax
        sv[22] = ymin
