"""The idealised reference detector: what the background's noise allows at all.

A whitened matched-filter bank of the very shapes bench/synth.py injects (biphasic and
triphasic potentials, WIDTHS_MS, either polarity), in floating point, non-causal, and
clairvoyant where a device cannot be:
- it whitens with the true spectrum of the window's background (Welch, from the background
  alone, before anything was injected);
- it is told the hum frequency and notches it and its harmonics (+-1.5 Hz);
- it sees the background, the twitches and the hum only: heartbeats, motion swings,
  contractions and pops are not in its input (a twitch next to one is lost to our detector,
  never to this one: that loss counts against ours).
Each filter's output is scaled to unit SD over the background; Z(t) = the largest |z| over the bank.
A claim is a run of samples above CHAIN of the threshold (never below Z = 5), gaps at most
`hold` (60 ms, our det_hold_ms), that reaches the threshold, as our detector's onset chain. Its
onset: the earliest local peak of Z in it that reaches 0.45 of the claim's highest (a burst's
first potential; a matched filter's earlier side lobe, at most 0.45 of its peak, lies at most
0.41 of the potential's width, 12 ms, before it: within the scoring's +-25 ms), moved to the
onset of the template that peaks there. The threshold is not chosen here: bench_detection sets it so
that this detector makes as many false claims on the same windows as ours does.

The same statistic on a window's background alone finds the background's own potentials
(`real`): real rest EMG holds motor-unit potentials its annotations missed (tonic activity,
spontaneous discharges). At Z > REAL_Z (far beyond any Gaussian noise peak in these windows)
they are real transients; claims at them are set aside, neither right nor wrong.
"""

from __future__ import annotations

import functools

import numpy as np

from bench.synth import shape

WIDTHS_MS = (3, 4, 5, 6, 7, 8, 10, 12, 14, 17, 20, 24, 28)
NOTCH_HZ = 1.5
REAL_Z = 6.0
PEAK_SHARE = 0.45
CHAIN = 0.6  # a claim starts with the earlier potentials above this part of the threshold
CHAIN_MIN = 5.0  # (never below this Z: noise peaks would chain)


@functools.lru_cache(maxsize=None)
def bank(fs):
    """[(waveform, onset offset)]: both shapes at every width (polarity: |z|)."""
    return tuple(shape(w, bi, fs) for w in WIDTHS_MS for bi in (True, False))


def psd(x, nfft, fs):
    """Welch PSD of x (Hann, 50 % overlap) on the rfft grid of length nfft."""
    seg = min(len(x), max(64, fs // 4))
    win = np.hanning(seg)
    starts = np.arange(0, len(x) - seg + 1, seg // 2)
    frames = np.stack([x[s:s + seg] for s in starts])
    frames = (frames - frames.mean(axis=1, keepdims=True)) * win
    p = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    return np.interp(np.fft.rfftfreq(nfft, 1 / fs), np.fft.rfftfreq(seg, 1 / fs), p)


def zscore(xs, background, fs, hum_hz=0):
    """[(Z, best template) per sample] for each signal in xs, whitened by the spectrum of
    `background` and scaled by the bank's robust SD over it."""
    templates = bank(fs)
    n = max(len(x) for x in list(xs) + [background])
    nfft = 1 << int(np.ceil(np.log2(n + max(len(t) for t, _ in templates))))
    b = np.asarray(background, float)
    s = psd(b, nfft, fs)
    w2 = 1.0 / np.maximum(s, s.max() * 1e-9)
    f = np.fft.rfftfreq(nfft, 1 / fs)
    w2[f < 1] = 0
    if hum_hz:
        for k in range(1, int(fs / 2 / hum_hz) + 1):
            w2[np.abs(f - k * hum_hz) <= NOTCH_HZ] = 0
    spectra = [np.fft.rfft(np.asarray(x, float) - np.mean(x), nfft) * w2 for x in xs]
    bw = np.fft.rfft(b - b.mean(), nfft) * w2
    out = [(np.zeros(len(x), np.float32), np.zeros(len(x), np.int16)) for x in xs]
    for k, (t, _) in enumerate(templates):
        tc = np.conj(np.fft.rfft(t, nfft))
        # one SD over the background: RMS with its top 1 % clipped (its own potentials, which
        # are rare, do not count; a median would not do: at 10 bits a background can be
        # mostly flat, its filter output mostly near 0); 0.991: that clipping's share of a
        # Gaussian's RMS
        c = np.abs(np.fft.irfft(bw * tc, nfft)[:len(b)])
        sd = np.sqrt(np.mean(np.minimum(c, np.percentile(c, 99)) ** 2)) / 0.991 + 1e-12
        for (best, which), xw, x in zip(out, spectra, xs):
            c = np.abs(np.fft.irfft(xw * tc, nfft)[:len(x)]) / sd
            better = c > best
            best[better] = c[better]
            which[better] = k
    return out


def statistic(win):
    """(Z, best template) of the window from win.start on, and the background's own
    potentials (sample indices)."""
    (z, k), (zb, kb) = zscore([win.ideal, win.pure], win.pure, win.fs, win.hum_hz)
    real = claims((zb[win.start:], kb[win.start:]), REAL_Z, win.fs) + win.start
    return z[win.start:], k[win.start:], real


def claims(stat, threshold, fs, hold_ms=60, burst_ms=300):
    """Claimed onsets (samples from the start of stat's Z) at `threshold`."""
    z, k = stat[0], stat[1]
    chain = max(CHAIN * threshold, CHAIN_MIN)
    idx = np.flatnonzero(z > min(chain, threshold))
    if not len(idx):
        return np.zeros(0, np.int64)
    hold = hold_ms * fs // 1000
    cut = np.flatnonzero(np.diff(idx) > hold) + 1
    offsets = np.array([o for _, o in bank(fs)])
    out = []
    for a, b in zip(np.concatenate([[0], cut]), np.append(cut, len(idx))):
        lo, hi = idx[a], idx[b - 1] + 1
        seg = z[lo:hi]
        cross = np.flatnonzero(seg > threshold)
        if not len(cross):
            continue  # a chain that never reached the threshold
        first = max(0, cross[0] - burst_ms * fs // 1000)
        seg = seg[first:]
        lo += first
        if len(seg) > 2:
            peak = np.flatnonzero((seg[1:-1] >= seg[:-2]) & (seg[1:-1] >= seg[2:])) + 1
            peak = np.concatenate([[0] if seg[0] >= seg[1] else [], peak,
                                   [len(seg) - 1] if seg[-1] >= seg[-2] else []]).astype(int)
        else:
            peak = np.array([int(np.argmax(seg))])
        tall = peak[seg[peak] >= max(min(chain, threshold), PEAK_SHARE * seg.max())]
        p = lo + int(tall[0])
        out.append(p + offsets[k[p]])
    return np.array(out, np.int64)
