"""Make the bundled demo recording `rest_with_twitches`: real rest EMG with injected twitches
whose times are known, so `make demo` can end with twitches found against twitches known.

    .venv/bin/python -m bench.make_demo_recording      # rewrites host/myotwitch/data/recordings/rest_with_twitches/

Run by hand, only when the recording should change on purpose (it is seeded: the same bytes
every time). Nothing reads this script at run or test time; the files it writes are committed.

Background: the four stretches of the bundled `biosppy_emg_rest` (BioSPPy, BSD-3-Clause) in
which its own motor unit does not fire (bench.synth.unit_discharges finds its 67 discharges
without any detector), joined end to end where the signal crosses its median, 60 s in all,
values unchanged. Injected (added to the real counts, then rounded): single motor-unit
potentials (biphasic or triphasic, 4-14 ms, peak 6-20x the background's noise RMS,
log-uniform, random polarity) and a few doublets (two potentials 15-40 ms apart, one
twitch), at Poisson-like times at least 800 ms apart. A twitch's true onset is the first
sample where its waveform reaches 5 % of its peak.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.synth import noise_rms
from myotwitch.paths import data_dir
from myotwitch.recordings import load

NAME = "rest_with_twitches"
SOURCE = "biosppy_emg_rest"
STRETCHES = [(0.0, 21.5), (22.5, 35.5), (67.5, 82.5), (85.0, 95.5)]  # seconds, unit-free
FS = 1000
SEED = 2026
N_TWITCHES = 24
DOUBLETS = 4  # of them


def splice(x, stretches):
    """The stretches end to end, each cut where it crosses the recording's median (no step)."""
    med = np.median(x)
    parts = []
    for a, b in stretches:
        i, j = int(a * FS), int(b * FS)
        s = x[i:j]
        cross = np.flatnonzero(np.diff(np.sign(s - med)) != 0)
        lo, hi = cross[cross < 200], cross[cross > len(s) - 200]
        parts.append(s[(lo[-1] + 1 if len(lo) else 0):(hi[0] + 1 if len(hi) else len(s))])
    return np.concatenate(parts)


def potential(rng, width_ms):
    """A unit-peak biphasic or triphasic potential (each sample the mean of the shape over its
    period, as an ADC behind an anti-alias filter sees it) and its onset offset (5 % of peak)."""
    n = max(3, int(round(width_ms * FS / 1000)))
    t = np.linspace(-3, 3, n + 1)
    g = np.exp(-t * t / 2)
    w = np.diff(g if rng.random() < 0.6 else t * g)
    w = w / np.abs(w).max() * rng.choice((-1, 1))
    return w, int(np.flatnonzero(np.abs(w) >= 0.05)[0])


def make(seed=SEED):
    rng = np.random.default_rng(seed)
    x = splice(load(SOURCE).samples[:, 0].astype(np.int64), STRETCHES)
    sigma = noise_rms(x)
    y = x.astype(float)
    times = []
    t = 1.5
    while len(times) < N_TWITCHES:
        t += 0.8 + rng.exponential(1.4)
        if t > len(x) / FS - 1.0:
            t = 1.5 + rng.random() * 2  # start over with what is placed
            times = []
            continue
        times.append(t)
    truth = []
    doublets = set(rng.choice(N_TWITCHES, DOUBLETS, replace=False).tolist())
    for k, t in enumerate(times):
        amp = float(np.exp(rng.uniform(np.log(6), np.log(20))))
        width = float(rng.uniform(4, 14))
        w, off = potential(rng, width)
        at = int(t * FS)
        y[at:at + len(w)] += amp * sigma * w
        end = at + len(w)
        if k in doublets:
            gap = int(rng.uniform(15, 40))
            w2, _ = potential(rng, width)
            y[at + gap:at + gap + len(w2)] += amp * sigma * rng.uniform(0.6, 1.0) * w2
            end = at + gap + len(w2)
        truth.append((at + off, end, amp, width, "doublet" if k in doublets else "single"))
    return np.rint(y).astype(np.int64), sigma, truth


def write(folder=None):
    folder = Path(folder) if folder else data_dir() / "recordings" / NAME
    folder.mkdir(parents=True, exist_ok=True)
    y, sigma, truth = make()
    (folder / "samples.csv").write_text("emg\n" + "\n".join(str(int(v)) for v in y) + "\n")
    rows = ["onset_sample,offset_sample,onset_s,offset_s,label,channel,amplitude_x_noise,"
            "width_ms,shape"]
    rows += ["%d,%d,%.3f,%.3f,twitch,emg,%.1f,%.1f,%s" % (a, b, a / FS, b / FS, amp, wd, shape)
             for a, b, amp, wd, shape in truth]
    (folder / "annotations.csv").write_text("\n".join(rows) + "\n")
    meta = {
        "id": NAME,
        "title": "Real rest EMG (BioSPPy examples/emg.txt) with %d injected twitches whose times "
                 "are known: the demo recording" % len(truth),
        "fs_hz": FS, "n_samples": int(len(y)), "duration_s": round(len(y) / FS, 3),
        "channels": [{"name": "emg", "units": "adc_counts", "dtype": "int", "adc_bits": 12,
                      "dc_offset_counts": 2048, "scale_mv_per_count": None,
                      "scale_note": "as biosppy_emg_rest"}],
        "source": {"derived_from": SOURCE, "stretches_s": STRETCHES,
                   "license": "BSD-3-Clause (the background, BioSPPy); the injection: MIT "
                              "(this project)",
                   "made_by": "bench/make_demo_recording.py (seed %d)" % SEED},
        "description": "Semi-synthetic: the real rest EMG of biosppy_emg_rest where its own "
                       "motor unit is silent, joined at median crossings (%.1f s), with %d "
                       "injected motor-unit potentials (%d of them doublets), 6-20x the noise "
                       "RMS of %.2f counts. The twitches are synthetic; annotations.csv gives "
                       "their true onsets (5 %% of peak)." % (len(y) / FS, len(truth), DOUBLETS,
                                                              sigma),
        "activity": "rest with injected twitches",
        "files": {"samples": "samples.csv", "annotations": "annotations.csv"},
        "annotations": {"origin": "injected: exact (the truth of the injection)",
                        "counts": {"twitch": len(truth)}},
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


if __name__ == "__main__":
    print("wrote", write())
