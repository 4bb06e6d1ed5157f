"""The semi-synthetic twitch set: real rest EMG from every bundled recording with twitches and
interference injected, ground truth known, seeded and deterministic.

Backgrounds (`backgrounds()`): the rest stretches of every surface-EMG recording the project
has - the two bundled BioSPPy files (host/myotwitch/data/recordings) and the copies in
bench/data (BioAmp EXG Pill 500 Hz, biosignalsplux 16-bit thumb and biceps recordings, the
8-bit/16-bit pair, the 12-bit fatigue recording) - and, as a separate condition, the three
PhysioNet needle recordings (4 kHz, averaged over 4 samples to 1 kHz; MUAP-dense, no rest).
Rest stretches: the recording minus its annotated segments (bursts, minor events, artifacts,
of any of its channels) with 0.5 s either side; for the BioSPPy files the stretches listed in REST (their metadata's
raised activity and spikes left out). A background's rest stretches are joined end to end
(each minus its median, cut where it crosses zero, so no step) into a tape, and windows are cut
from the tape (wrapping round a short one).

Resolution: every window is built in the recording's own counts and rescaled to 10-, 12- or
16-bit counts (x 2**(bits - native bits), then rounded): 10 and 12 bits around mid-scale as
the ESP32's and hobby ADCs give them, 16 bits around 0 as the ADS1x9x path gives them. Noise
RMS: the robust (MAD) SD of the window's background minus its 21-sample moving mean, in the
new counts, with the new rounding's own noise (1/12 count**2) added where the counts got
coarser; where the noise is below the quantisation step (the 8-bit channel; the quietest
recording at 10 bits), the RMS of the quantised levels instead (window_noise).

Twitches: single motor-unit potentials (biphasic: Gaussian derivative; triphasic: its second
derivative; random polarity; 3-30 ms) and short bursts (3-8 potentials at 15-60 ms intervals,
<= 300 ms), peak 2-20x the noise RMS (log-uniform), at irregular times at least 400 ms apart.
Truth onset: the first sample where the waveform reaches 5 % of its peak.

Interference under the twitches (INTERFERENCE), after a lead-in of LEAD samples with the
interference and no twitches (the detector's settled state, as on a worn device):
- clean;
- hum50 / hum60: mains at 50 or 60 Hz (+-0.1 Hz, the phase drifting) with 2nd-5th harmonics
  of random size and phase, total RMS 0.5-5x the noise RMS, the amplitude drifting between
  those bounds every 1-4 s;
- ecg: heartbeats at 50-100 bpm, each interval +-15 % of the mean at random, an ectopic beat
  (premature, 60-75 % of the interval, the same QRS: atrial or junctional) followed by its
  compensatory pause in 5 % of beats, a dropped beat (a pause of two intervals) in 3 %; QRS
  8-30 ms (Q-R-S as three Gaussians), either polarity, 2-10x the noise RMS, each beat +-10 %
  in size (breathing), a T wave of 20-35 % 150-250 ms later;
- motion: slow swings (0.3-3 Hz, 20-200x, Hann-tapered) and voluntary contractions (1-3 s of
  band-limited noise, 10-50x, ramped over 100-300 ms) in turn, with twitches near their
  onsets: 150-800 ms before each, 0-20 % into a swing, 300-1000 ms after a contraction's end
  (never inside a contraction: buried there for any detector).
Distractor windows (DISTRACTORS) hold no twitches: contractions, motion swings, electrode pops
and steps, hum alone, and an irregular ECG of 2-30x.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch.recordings import load

FS = 1000
DATA = Path(__file__).resolve().parent / "data"
RESOLUTIONS = (10, 12, 16)
BANDS = ((2, 4), (4, 8), (8, 20.01))
INTERFERENCE = ("clean", "hum50", "hum60", "ecg", "motion")
DISTRACTORS = ("contraction", "motion", "pop", "hum", "ecg")
WINDOW_S = 20
LEAD_S = 5  # of each window: interference, no twitches (the detector settles, as when worn)
MARGIN_S = 0.5  # rest stretches keep this far from annotated activity

# Real rest stretches (seconds) of the two bundled BioSPPy recordings: the rest recording
# without the stretches its metadata describes as raised low-level activity or isolated
# spikes (~12.3 s, ~95.8 s); the bursts recording away from its four annotated bursts and two
# minor events.
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
SHORT = {  # names for the bench's table
    "biosppy_emg_rest": "biosppy rest 12b", "biosppy_emg_bursts": "biosppy bursts 12b",
    "bioamp_exg_pill_uno_r4_500hz/ch1": "bioamp 500Hz 14b",
    "bioamp_exg_pill_uno_r4_500hz/ch2": "bioamp no electrode",
    "bsnb_adductor_pollicis_8bit_16bit_pair/emg_16bit": "plux pair 16b",
    "bsnb_adductor_pollicis_8bit_16bit_pair/emg_8bit": "plux pair 8b",
    "bsnb_adductor_pollicis_brief_16bit/emg": "plux thumb 16b",
    "bsnb_biceps_cyclic_bursts/emg": "plux biceps 16b", "bsnb_biceps_fatigue/emg": "plux fatigue 12b",
    "physionet_emgdb_healthy": "needle healthy", "physionet_emgdb_myopathy": "needle myopathy",
    "physionet_emgdb_neuropathy": "needle neuropathy",
}
UNIT_Z = 6.0


@dataclass(frozen=True, eq=False)  # hashed by identity (rest_tape caches)
class Background:
    name: str  # recording[/channel]
    fs: int
    bits: int  # the ADC's
    x: np.ndarray  # the whole recording, counts (float, read-only)
    rest: tuple  # ((start, end) samples, ...)
    needle: bool = False
    twitches: bool = True  # False: a channel with no electrode (rest only, never under twitches)

    @property
    def short(self) -> str:
        return SHORT.get(self.name, self.name)

    @property
    def rest_s(self) -> float:
        return sum(b - a for a, b in self.rest) / self.fs


@dataclass
class Window:
    x: np.ndarray  # int16: what the detector gets
    ideal: np.ndarray  # int16: the same without the interference the ideal is not told of
    pure: np.ndarray  # int16: the background alone (the ideal whitens with it)
    fs: int
    sigma: float  # noise RMS, counts
    background: str
    bits: int
    kind: str  # an INTERFERENCE (twitches present) or a DISTRACTOR (none)
    hum_hz: int = 0
    start: int = 0  # first scored sample
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # truth
    ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    amps: np.ndarray = field(default_factory=lambda: np.zeros(0))  # x noise RMS
    spans: list = field(default_factory=list)  # interference (start, end) samples
    units: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # background's own


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


def _rest_from_annotations(n, fs, onsets, offsets):
    keep = np.ones(n, bool)
    m = int(MARGIN_S * fs)
    for a, b in zip(onsets, offsets):
        keep[max(0, a - m):b + m] = False
    edges = np.flatnonzero(np.diff(np.concatenate([[0], keep.astype(np.int8), [0]])))
    return tuple((int(a), int(b)) for a, b in zip(edges[::2], edges[1::2]) if b - a >= fs // 2)


def _ro(a):
    a = np.asarray(a)
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=None)
def backgrounds(needle=False) -> tuple:
    """Every surface background (needle=False) or the needle ones (needle=True)."""
    out = []
    if needle:
        for path in sorted(DATA.glob("physionet_emgdb_*.npz")):
            z = np.load(path)
            x = z["x_emg"].astype(float)
            x = x[:len(x) // 4 * 4].reshape(-1, 4).mean(axis=1)  # 4 kHz -> 1 kHz, as an ADC
            out.append(Background(path.stem, FS, int(z["bits_emg"]), _ro(x), ((0, len(x)),), True))
        return tuple(out)
    for name, spans in REST.items():
        rec = load(name)
        out.append(Background(name, rec.fs, 12, _ro(rec.samples[:, 0].astype(float)),
                              tuple((int(a * rec.fs), int(b * rec.fs)) for a, b in spans)))
    for path in sorted(DATA.glob("*.npz")):
        if path.stem.startswith("physionet_"):
            continue
        z = np.load(path)
        fs = int(z["fs"])
        for key in sorted(k for k in z.files if k.startswith("x_")):
            ch = key[2:]
            x = z[key].astype(float) + int(z["offset_" + ch])
            if "ann_onset" in z.files:
                # every channel's annotations: the channels of one recording saw one muscle (the
                # 8-bit channel of the pair misses activity the 16-bit one annotates)
                rest = _rest_from_annotations(len(x), fs, z["ann_onset"], z["ann_offset"])
            else:
                rest = ((0, len(x)),)
            # a channel with no annotations of its own (BioAmp ch2: no electrode; its rest
            # leaves out the other channel's activity too, which it picks up on the board)
            bare = "ann_onset" in z.files and not (z["ann_channel"] == ch).any()
            out.append(Background("%s/%s" % (path.stem, ch), fs, int(z["bits_" + ch]), _ro(x),
                                  rest, twitches=not bare))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def rest_tape(bg: Background) -> np.ndarray:
    """The background's rest stretches end to end, each minus its median and cut where it
    crosses zero (no steps at the joins); the end joins the start the same way."""
    parts = []
    units = unit_discharges(bg.name)
    for a, b in bg.rest:
        s = bg.x[a:b] - np.median(bg.x[a:b])
        # a stretch with the recording's own motor unit in it is cut around its discharges
        cuts = [a] + sorted(int(u) for u in units if a <= u < b) + [b]
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            piece = s[lo - a + (30 if lo != a else 0):hi - a - (30 if hi != b else 0)]
            cross = np.flatnonzero(np.diff(np.sign(piece)) != 0)
            if len(cross) >= 2 and cross[-1] - cross[0] > bg.fs // 4:
                parts.append(piece[cross[0] + 1:cross[-1] + 1])
    return _ro(np.concatenate(parts))


def noise_rms(x):
    """Robust (MAD) SD of x minus its 21-sample moving mean."""
    x = np.asarray(x, float)
    k = np.ones(21) / 21
    hp = x[10:-10] - np.convolve(x, k, mode="valid")
    return 1.4826 * np.median(np.abs(hp - np.median(hp)))


def window_noise(x):
    """The RMS of x minus its 21-sample moving mean, its top 1 % clipped (the background's own
    potentials), / 0.991 (that clipping's share of a Gaussian's RMS): the noise of a background
    quantised to a few levels (the 8-bit channel), whose median deviation says nothing."""
    x = np.asarray(x, float)
    hp = x[10:-10] - np.convolve(x, np.ones(21) / 21, mode="valid")
    hp = np.abs(hp - hp.mean())
    return float(np.sqrt(np.mean(np.minimum(hp, np.percentile(hp, 99)) ** 2)) / 0.991)


def muap(rng, width_ms, fs=FS):
    """A unit-peak motor-unit potential and the offset of its truth onset (5 % of peak)."""
    return shape(width_ms, rng.random() < 0.6, fs, rng.choice((-1, 1)))


def shape(width_ms, biphasic, fs=FS, sign=1):
    """(waveform, onset offset): each sample is the shape's mean over its sample period (as an
    ADC behind an anti-alias filter sees it): the difference of the antiderivative at the
    period edges. (Point samples at linspace(-3, 3, n) broke the narrowest ones: at n = 4 they
    fall on t = +-1, the zeros of (1 - t^2), and the "triphasic potential" became two
    one-sided spikes 3 ms apart.)"""
    n = max(3, int(round(width_ms * fs / 1000)))
    t = np.linspace(-3, 3, n + 1)
    g = np.exp(-t * t / 2)
    w = np.diff(g if biphasic else t * g)  # of -t g (biphasic), (1 - t^2) g (triphasic)
    w = w / np.abs(w).max() * sign
    return w, int(np.flatnonzero(np.abs(w) >= 0.05)[0])


def _ramp(n, r):
    env = np.ones(n)
    r = min(r, n // 2)
    env[:r] = np.linspace(0, 1, r)
    env[n - r:] = np.linspace(1, 0, r)
    return env


def _drift(rng, n, fs, lo, hi):
    """A level wandering between lo and hi (log scale), a new target every 1-4 s."""
    knots = [0]
    while knots[-1] < n:
        knots.append(knots[-1] + int(rng.uniform(1, 4) * fs))
    vals = np.exp(rng.uniform(np.log(lo), np.log(hi), len(knots)))
    return np.interp(np.arange(n), knots, vals)


def hum(rng, n, fs, hz):
    """Unit-RMS mains hum (times a drifting level): fundamental + 2nd-5th harmonics."""
    f = hz + rng.uniform(-0.1, 0.1)
    # the phase drifts: a slow random walk (a few degrees a second)
    ph = 2 * np.pi * f * np.arange(n) / fs + np.cumsum(rng.normal(0, 0.002, n))
    h = np.sin(ph + rng.uniform(0, 2 * np.pi))
    for k, (lo, hi) in zip((2, 3, 4, 5), ((0, 0.1), (0.1, 0.5), (0, 0.05), (0.05, 0.3))):
        if k * f < fs / 2:
            h += rng.uniform(lo, hi) * np.sin(k * ph + rng.uniform(0, 2 * np.pi))
    return h / h.std()


def ecg(rng, n, fs, lo, hi):
    """An irregular heartbeat (see the module docstring) at lo..hi x 1 (the caller scales), and
    the QRS spans."""
    out = np.zeros(n + fs)
    rr = rng.uniform(0.6, 1.2) * fs
    amp = rng.uniform(lo, hi) * rng.choice((-1, 1))
    qw = rng.uniform(8, 30) * fs / 1000  # QRS, samples
    t = np.arange(int(qw * 2) + 1) - qw
    s = qw / 6
    qrs = (np.exp(-((t + qw / 3) / s) ** 2 / 2) * -0.15 + np.exp(-(t / s) ** 2 / 2)
           - 0.25 * np.exp(-((t - qw / 3) / s) ** 2 / 2))
    qrs = qrs[int(qw / 2):int(qw * 1.5) + 1]  # the QRS's own width
    tw_len = int(rng.uniform(100, 180) * fs / 1000)
    tw = np.sin(np.linspace(0, np.pi, tw_len)) ** 2 * rng.uniform(0.2, 0.35)
    t_at = int(rng.uniform(150, 250) * fs / 1000)
    spans = []
    at = float(rng.uniform(0, rr))
    pending = None
    while at < n:
        a = int(at)
        size = amp * float(np.clip(1 + rng.normal(0, 0.05), 0.9, 1.1))
        out[a:a + len(qrs)] += size * qrs
        out[a + t_at:a + t_at + tw_len] += size * tw[:max(0, n + fs - a - t_at)]
        spans.append((a, a + len(qrs)))
        if pending is not None:
            at += pending
            pending = None
            continue
        u = rng.random()
        if u < 0.05:  # ectopic: early, then the compensatory pause
            early = rr * rng.uniform(0.6, 0.75)
            at += early
            pending = 2 * rr - early
        elif u < 0.08:  # a dropped beat
            at += 2 * rr * rng.uniform(0.85, 1.15)
        else:
            at += rr * rng.uniform(0.85, 1.15)
    return out[:n], spans


def _contraction(rng, d, fs):
    g = rng.normal(0, 1, d + 200)
    k = np.exp(-np.arange(-10, 11) ** 2 / 8.0)
    g = np.convolve(g - np.convolve(g, np.ones(25) / 25, "same"), k / k.sum(), "same")[100:-100]
    return g / g.std() * _ramp(d, int(rng.uniform(100, 300) * fs / 1000))


def _window_background(rng, bg, n):
    tape = rest_tape(bg)
    a = int(rng.integers(len(tape)))
    return np.take(tape, np.arange(a, a + n), mode="wrap")


def _twitches(rng, x, sigma, fs, start, end, at=None):
    """Adds twitches in [start, end) (or at the given times); (onsets, ends, amps)."""
    onsets, ends, amps = [], [], []
    t = start + int(rng.integers(0, int(0.4 * fs)))
    times = iter(at) if at is not None else None
    while True:
        if times is not None:
            t = next(times, None)
            if t is None:
                break
        elif t >= end - fs // 2:
            break
        amp = float(np.exp(rng.uniform(np.log(2), np.log(20))))
        if rng.random() < 0.75:  # a single potential
            w, first = muap(rng, rng.uniform(3, 30), fs)
            x[t:t + len(w)] += amp * sigma * w
            onsets.append(t + first)
            ends.append(t + len(w))
        else:  # a short burst: 3-8 discharges at 15-60 ms intervals, at most 300 ms
            k = int(rng.integers(3, 9))
            gaps = (np.concatenate([[0], np.cumsum(rng.uniform(15, 60, k - 1))]) * fs / 1000)
            gaps = gaps[gaps <= 0.27 * fs].astype(int)
            base = rng.uniform(4, 20)
            f0 = None
            for s in gaps:
                w, first = muap(rng, base * rng.uniform(0.8, 1.25), fs)
                x[t + s:t + s + len(w)] += amp * sigma * rng.uniform(0.6, 1.0) * w
                f0 = first if f0 is None else f0
            onsets.append(t + f0)
            ends.append(t + int(gaps[-1]) + len(w))
        amps.append(amp)
        if times is None:
            t += int((0.4 + rng.exponential(0.7)) * fs)  # irregular, as fasciculations fire
    return onsets, ends, amps


def _quantise(v, bits):
    if bits == 16:
        return np.clip(np.round(v), -32768, 32767).astype(np.int16)
    return np.clip(np.round(v) + (1 << (bits - 1)), 0, (1 << bits) - 1).astype(np.int16)


def window(rng, bg: Background, bits: int, kind: str, twitches=True) -> Window:
    """One window of WINDOW_S seconds on background `bg` at `bits` resolution: twitches under the
    interference `kind` (an INTERFERENCE), or a distractor `kind` alone (twitches=False)."""
    fs = bg.fs
    n = WINDOW_S * fs
    lead = LEAD_S * fs
    scale = 2.0 ** (bits - bg.bits)
    b = _window_background(rng, bg, n) * scale
    sigma = noise_rms(b)
    if sigma < max(1.0, scale):  # coarser than the noise: the quantised levels' own RMS
        sigma = window_noise(np.round(b / max(1.0, scale)) * max(1.0, scale))
    elif scale < 1:  # the new rounding's own noise
        sigma = float(np.sqrt(sigma ** 2 + 1 / 12))
    sig = np.zeros(n)  # twitches
    inter = np.zeros(n)  # interference the ideal detector is not told of
    told = np.zeros(n)  # interference it is told of (the hum: its frequency)
    spans = []
    hum_hz = 0
    at = None
    if kind in ("hum50", "hum60") or (kind == "hum" and not twitches):
        hum_hz = 50 if kind != "hum60" and (kind != "hum" or rng.random() < 0.5) else 60
        told += sigma * _drift(rng, n, fs, 0.5, 5) * hum(rng, n, fs, hum_hz)
        if not twitches:  # the distractor: hum alone, stronger, fading in and out
            told *= rng.uniform(1, 6)
            spans.append((lead, n))
    elif kind == "ecg":
        lo, hi = (2, 10) if twitches else (2, 30)
        e, spans = ecg(rng, n, fs, lo, hi)
        inter += sigma * e
    elif twitches and kind == "motion" or kind == "contraction":
        # voluntary contractions and slow swings, one after the other; twitches near their
        # onsets (150-800 ms before; 0-20 % into a swing, where its taper is still gentle)
        # and 300-1000 ms after a contraction's end, never inside a contraction
        at = []
        t = lead + int(rng.uniform(0.8, 1.5) * fs)
        swing = False
        while t < n - 2 * fs:
            at.append(t - int(rng.uniform(0.15, 0.8) * fs))
            if swing and kind == "motion":
                f = rng.uniform(0.3, 3)
                d = int(min(n - t - fs // 2, fs / f * rng.integers(1, 4)))
                inter[t:t + d] += (rng.uniform(20, 200) * sigma
                                   * np.sin(2 * np.pi * f * np.arange(d) / fs) * np.hanning(d))
                at.append(t + int(rng.uniform(0, 0.2) * d))
            else:
                d = min(int(rng.uniform(1, 3) * fs), n - t - fs // 2)
                inter[t:t + d] += rng.uniform(10, 50) * sigma * _contraction(rng, d, fs)
                at.append(t + d + int(rng.uniform(0.3, 1.0) * fs))
            spans.append((t, t + d))
            swing = not swing
            t += d + int(rng.uniform(1.2, 2.5) * fs)
        keep = []  # 400 ms apart (closer ones would be one event), inside the scored part
        for a in sorted(at):
            if lead <= a < n - fs // 2 and (not keep or a - keep[-1] >= 0.4 * fs):
                keep.append(a)
        at = keep
    elif kind == "motion":  # distractor: slow swings alone
        t = lead
        while t < n - 1500 * fs // 1000:
            f = rng.uniform(0.3, 3)
            d = int(min(n - t - fs // 10, fs / f * rng.integers(1, 4)))
            inter[t:t + d] += (rng.uniform(20, 200) * sigma
                               * np.sin(2 * np.pi * f * np.arange(d) / fs) * np.hanning(d))
            spans.append((t, t + d))
            t += d + int(rng.uniform(0.3, 1.5) * fs)
    elif kind == "pop":  # electrode pops (step, slow decay) and plain steps, 20-150x
        t = lead
        while t < n - 800 * fs // 1000:
            a = rng.uniform(20, 150) * sigma * rng.choice((-1, 1))
            tau = rng.uniform(50, 600) * fs / 1000 if rng.random() < 0.7 else 1e9
            inter[t:] += a * np.exp(-np.arange(n - t) / tau)
            spans.append((t, t + fs // 20))
            t += int(rng.uniform(600, 1500) * fs / 1000)
    elif kind != "clean":
        raise ValueError(kind)
    onsets, ends, amps = [], [], []
    if twitches:
        onsets, ends, amps = _twitches(rng, sig, sigma, fs, lead, n, at)
    unit = np.zeros(0, np.int64)
    return Window(_quantise(b + sig + told + inter, bits), _quantise(b + sig + told, bits),
                  _quantise(b, bits), fs, sigma, bg.name, bits, kind, hum_hz, lead,
                  np.array(onsets, np.int64), np.array(ends, np.int64), np.array(amps),
                  spans, unit)


def rows(seed, windows_per_bits=4):
    """{(background, interference): [Window, ...]}: every surface background under every
    interference, `windows_per_bits` windows at each of RESOLUTIONS; and the needle
    backgrounds, clean. Each window has its own random stream (seed, row, bits, k), so a row
    does not change when another is added."""
    out = {}
    for i, bg in enumerate(backgrounds() + backgrounds(needle=True)):
        if not bg.twitches:
            continue
        kinds = ("clean",) if bg.needle else INTERFERENCE
        for j, kind in enumerate(kinds):
            out[(bg.name, kind)] = [
                window(np.random.default_rng([seed, i, j, bits, k]), bg, bits, kind)
                for bits in RESOLUTIONS for k in range(windows_per_bits)]
    return out


def distractors(seed, per_kind=2):
    """{kind: [Window, ...]}: twitch-free windows of every DISTRACTOR on every surface
    background, at each of RESOLUTIONS."""
    out = {}
    for j, kind in enumerate(DISTRACTORS):
        out[kind] = [window(np.random.default_rng([seed, 1000 + j, i, bits, k]), bg, bits, kind,
                            twitches=False)
                     for i, bg in enumerate(backgrounds()) if bg.twitches for bits in RESOLUTIONS
                     for k in range(per_kind)]
    return out
