# STAND-IN threshold detector: keeps the data path whole until the real fixed-point detector
# (its own issue) replaces this file with the same interface. Integer only, no allocation.
#
# DC is tracked by an exponential average in 1/256 counts; an event runs while |x - dc|
# exceeds det_thresh counts and ends after det_hold samples below it.

PARAMS = (
    # (key, default, min, max, unit, description)
    ("det_thresh", 40, 2, 4000, "counts", "absolute deviation from baseline that starts an event"),
    ("det_hold", 20, 1, 500, "samples", "quiet samples that end an event"),
)


class Detector:
    def __init__(self, channel, fs, params, emit):
        self.channel = channel
        self.emit = emit
        self.configure(fs, params)

    def configure(self, fs, params):
        self.fs = fs
        self.thresh = params["det_thresh"]
        self.hold = params["det_hold"]
        self.reset()

    def reset(self):
        self.dc = -1  # 1/256 counts; -1: take the first sample
        self.active = 0
        self.onset = 0
        self.last = 0
        self.peak = 0
        self.area = 0
        self.noise = 0

    def process(self, buf, start, count, first_index, mask):
        dc = self.dc
        if dc < 0:
            dc = buf[start & mask] << 8
        thresh = self.thresh
        hold = self.hold
        active = self.active
        onset = self.onset
        last = self.last
        peak = self.peak
        area = self.area
        noise = self.noise
        idx = first_index
        i = start
        for _ in range(count):
            x = (buf[i & mask] << 8) - dc
            if x < 0:
                x = -x
            a = x >> 8
            if a > thresh:
                if not active:
                    active = 1
                    onset = idx
                    peak = 0
                    area = 0
                last = idx
                if a > peak:
                    peak = a
            else:
                dc += ((buf[i & mask] << 8) - dc) >> 9
                noise += (a - noise) >> 6
            if active:
                area += a
                if idx - last >= hold:
                    active = 0
                    self.emit(onset, last - onset + 1, 0, self.channel, peak, area >> 4)
            idx += 1
            i += 1
        self.dc = dc
        self.active = active
        self.onset = onset
        self.last = last
        self.peak = peak
        self.area = area
        self.noise = noise
