"""The semi-synthetic twitch set: real rest EMG from the bundled recordings with injected
twitches and distractors, ground truth known, seeded and deterministic.

Background: random 10 s windows of the real rest stretches (REST below). Noise RMS per window:
the robust (MAD) standard deviation of the window minus its 21-sample moving mean.
Twitches: single motor-unit potentials (biphasic: Gaussian derivative; triphasic: its second
derivative; random polarity, total width 3-30 ms) and short bursts (3-8 potentials at 15-60
ms intervals, <= 300 ms), peak amplitude 2-20x the noise RMS (log-uniform), at irregular (Poisson-like) times at
least 400 ms apart. Truth onset: the
first sample where the waveform reaches 5 % of its peak.
Distractor windows hold no twitches: voluntary contractions, motion swings, electrode pops and
steps, mains hum (50 Hz + harmonics, fading in over 0.2-1 s), ECG-like spikes at a steady
heart rate. Motion swings are smooth (Hann-tapered); abrupt level changes are the pops/steps.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from myotwitch.recordings import load

FS = 1000
SEG = 10 * FS
WARM = 1500  # samples left free at the start of a window (the detector's floor warms up)

# Real rest stretches (seconds): the rest recording without the stretches its metadata
# describes as raised low-level activity or isolated spikes (~12.3 s, ~95.8 s: of unknown
# nature, so neither right nor wrong to detect); the bursts recording away from its four
# annotated bursts and two minor events.
REST = {
    "biosppy_emg_rest": [(0.0, 11.8), (12.8, 35.0), (40.0, 50.0), (58.0, 95.3), (96.3, 100.0)],
    "biosppy_emg_bursts": [(3.0, 14.0), (18.0, 24.5), (28.0, 35.0), (37.0, 44.0), (46.5, 63.8)],
}
# A motor unit of the rest recording itself: it fires through the stretches its metadata calls
# raised activity (35-40 s, 50-58 s; largest discharge at 52.486 s) and now and then between
# them. Its discharges are real spontaneous potentials - twitches by this project's own
# definition - so a claim at one is neither right nor wrong (set aside, and counted). They are
# found without our detector: the unit's own 13-sample waveform at 52.486 s matched over the
# whole recording (UNIT_Z robust SDs of the correlation). No unit is visible in the bursts
# recording (its noise is 8x higher).
UNITS = {"biosppy_emg_rest": 52.486}
UNIT_Z = 6.0
BANDS = ((2, 4), (4, 8), (8, 20.01))
DISTRACTORS = ("contraction", "motion", "pop", "hum", "ecg")


@dataclass
class Segment:
    x: np.ndarray  # int16
    sigma: float
    kind: str  # "twitch" or a distractor name
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # truth
    amps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # in noise RMS
    spans: list = field(default_factory=list)  # distractor (start, end) samples
    units: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # background's own
    widths: np.ndarray = field(default_factory=lambda: np.zeros(0))  # potential width, ms


@functools.lru_cache(maxsize=None)  # every detector's scoring asks again
def unit_discharges(name):
    """Sample indices of the discharges of the recording's own motor unit (UNITS), or none
    (read-only: the array is shared)."""
    out = np.zeros(0, np.int64)
    if name in UNITS:
        x = load(name).samples[:, 0].astype(float)
        x = x - np.convolve(x, np.ones(41) / 41, "same")  # the slow level out
        i0 = int(round(UNITS[name] * FS))
        tpl = x[i0 - 5:i0 + 8] - x[i0 - 5:i0 + 8].mean()
        c = np.correlate(x, tpl, "same") / np.sqrt((tpl ** 2).sum())
        z = c / (1.4826 * np.median(np.abs(c)))
        z[:300] = z[-300:] = 0
        peaks = np.flatnonzero(z > UNIT_Z)
        # one per discharge: the largest within +-20 ms
        out = np.array([i for i in peaks if z[i] == z[max(i - 20, 0):i + 21].max()], np.int64)
    out.flags.writeable = False
    return out


def rest_sources():
    """[(rest stretch samples, the unit's discharges in it)] from the bundled recordings."""
    out = []
    for name, spans in REST.items():
        x = load(name).samples[:, 0].astype(np.int64)
        units = unit_discharges(name)
        for a, b in spans:
            i, j = int(a * FS), int(b * FS)
            out.append((x[i:j], units[(units >= i) & (units < j)] - i))
    return out


def noise_rms(x):
    x = np.asarray(x, float)
    k = np.ones(21) / 21
    hp = x[10:-10] - np.convolve(x, k, mode="valid")
    return 1.4826 * np.median(np.abs(hp - np.median(hp)))


def background(rng, sources):
    """A random 10 s rest window (float) and the unit's discharges in it."""
    while True:
        src, units = sources[rng.integers(len(sources))]
        if len(src) >= SEG:
            a = int(rng.integers(0, len(src) - SEG + 1))
            return src[a:a + SEG].astype(float), units[(units >= a) & (units < a + SEG)] - a


def muap(rng, width_ms):
    """A unit-peak motor-unit potential and the offset of its truth onset (5 % of peak)."""
    n = max(3, int(round(width_ms * FS / 1000)))
    # Each sample is the shape's mean over its sample period (as an ADC behind an anti-alias
    # filter sees it): the difference of the antiderivative at the period edges. Point samples
    # at linspace(-3, 3, n) broke the narrowest ones: at n = 4 they fall on t = +-1, the zeros
    # of (1 - t^2), and the "triphasic potential" became two one-sided spikes 3 ms apart.
    t = np.linspace(-3, 3, n + 1)
    g = np.exp(-t * t / 2)
    w = np.diff(g if rng.random() < 0.6 else t * g)  # of -t g (biphasic), (1 - t^2) g (triphasic)
    w = w / np.abs(w).max() * rng.choice((-1, 1))
    first = int(np.flatnonzero(np.abs(w) >= 0.05)[0])
    return w, first


def twitch_segment(rng, sources):
    x, units = background(rng, sources)
    sigma = noise_rms(x)
    onsets, amps, widths = [], [], []
    t = WARM + int(rng.integers(0, 400))
    while t < SEG - 500:
        amp = float(np.exp(rng.uniform(np.log(2), np.log(20))))
        if rng.random() < 0.75:  # a single potential
            width = rng.uniform(3, 30)
            w, first = muap(rng, width)
            x[t:t + len(w)] += amp * sigma * w
            onsets.append(t + first)
        else:  # a short burst: 3-8 discharges at 15-60 ms intervals, at most 300 ms
            k = int(rng.integers(3, 9))
            at = np.concatenate([[0], np.cumsum(rng.uniform(15, 60, k - 1))]).astype(int)
            at = at[at <= 270]
            base_w = width = rng.uniform(4, 20)
            f0 = None
            for s in at:
                w, first = muap(rng, base_w * rng.uniform(0.8, 1.25))
                x[t + s:t + s + len(w)] += amp * sigma * rng.uniform(0.6, 1.0) * w
                f0 = first if f0 is None else f0
            onsets.append(t + f0)
        amps.append(amp)
        widths.append(width)
        t += 400 + int(rng.exponential(700))  # irregular, as fasciculations fire
    return Segment(np.clip(np.round(x), -32768, 32767).astype(np.int16), sigma, "twitch",
                   np.array(onsets, np.int64), np.array(amps), widths=np.array(widths),
                   units=units)


def _ramp(n, r):
    env = np.ones(n)
    r = min(r, n // 2)
    env[:r] = np.linspace(0, 1, r)
    env[n - r:] = np.linspace(1, 0, r)
    return env


def distractor_segment(rng, sources, kind):
    x, units = background(rng, sources)
    sigma = noise_rms(x)
    n = len(x)
    tt = np.arange(n)
    spans = []
    if kind == "contraction":  # 1-4 s of band-limited noise, 10-50x rest, ramped
        t = WARM
        while t < n - 2000:
            d = int(rng.uniform(1000, min(4000, n - t - 300)))
            g = rng.normal(0, 1, d + 200)
            k = np.exp(-np.arange(-10, 11) ** 2 / 8.0)
            g = np.convolve(g - np.convolve(g, np.ones(25) / 25, "same"), k / k.sum(), "same")[100:-100]
            g /= g.std()
            x[t:t + d] += rng.uniform(10, 50) * sigma * g * _ramp(d, int(rng.uniform(100, 300)))
            spans.append((t, t + d))
            t += d + int(rng.uniform(800, 2000))
    elif kind == "motion":  # slow smooth swings (tapered), 0.3-3 Hz, 20-200x rest
        t = WARM
        while t < n - 1500:
            f = rng.uniform(0.3, 3)
            d = int(min(n - t - 100, FS / f * rng.integers(1, 4)))
            x[t:t + d] += (rng.uniform(20, 200) * sigma * np.sin(2 * np.pi * f * np.arange(d) / FS)
                           * np.hanning(d))
            spans.append((t, t + d))
            t += d + int(rng.uniform(300, 1500))
    elif kind == "pop":  # electrode pops (step, slow decay) and plain steps, 20-150x rest
        t = WARM
        while t < n - 800:
            a = rng.uniform(20, 150) * sigma * rng.choice((-1, 1))
            tau = rng.uniform(50, 600) if rng.random() < 0.7 else 1e9
            x[t:] += a * np.exp(-np.arange(n - t) / tau)
            spans.append((t, t + 50))
            t += int(rng.uniform(600, 1500))
    elif kind == "hum":  # mains 50 Hz (+3rd, 5th), 3-30x rest, fading in and out over 0.2-1 s
        t = WARM
        while t < n - 1500:
            d = int(rng.uniform(1000, min(4000, n - t - 100)))
            f = 50 + rng.uniform(-0.1, 0.1)
            ph = np.arange(d) / FS * 2 * np.pi * f
            h = np.sin(ph) + 0.3 * np.sin(3 * ph + 1) + 0.1 * np.sin(5 * ph + 2)
            x[t:t + d] += rng.uniform(3, 30) * sigma * h * _ramp(d, int(rng.uniform(200, 1000)))
            spans.append((t, t + d))
            t += d + int(rng.uniform(300, 1000))
    elif kind == "ecg":  # QRS-like spikes at a steady rate (50-100 bpm, +-3 %), 5-30x rest
        rr = rng.uniform(0.6, 1.2) * FS
        a = rng.uniform(5, 30) * sigma * rng.choice((-1, 1))
        qw = rng.uniform(20, 40)  # QRS length, ms
        q = np.linspace(-3, 3, int(qw))
        qrs = (1 - q * q) * np.exp(-q * q / 2)
        tw = np.sin(np.linspace(0, np.pi, 160)) * 0.25
        t = WARM + int(rng.uniform(0, rr))
        while t < n - 400:
            x[t:t + len(qrs)] += a * qrs
            x[t + 200:t + 360] += a * tw
            spans.append((t, t + len(qrs)))
            t += int(rr * rng.uniform(0.97, 1.03))
    else:
        raise ValueError(kind)
    del tt
    return Segment(np.clip(np.round(x), -32768, 32767).astype(np.int16), sigma, kind, spans=spans,
                   units=units)


def build(seed=2024, twitch_segments=40, per_distractor=6):
    rng = np.random.default_rng(seed)
    src = rest_sources()
    segs = [twitch_segment(rng, src) for _ in range(twitch_segments)]
    for kind in DISTRACTORS:
        segs += [distractor_segment(rng, src, kind) for _ in range(per_distractor)]
    return segs
