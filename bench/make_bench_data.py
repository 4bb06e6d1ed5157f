"""Copy the real EMG recordings the detection bench needs into bench/data/ (compact .npz).

    .venv/bin/python -m bench.make_bench_data /path/to/emg    # rewrites bench/data/*.npz

Run by hand, only when the set should change (the bench and the tests never read the source
folder; they read the committed .npz). The source folder holds one directory per recording
with samples.csv, meta.json and (optionally) annotations.csv, as described in
bench/data/README.md. Sample values are copied unchanged except for one exact offset where the
ADC's counts do not fit int16 (16-bit unsigned counts are stored minus 32768, and the offset is
stored beside them). The two BioSPPy recordings are not copied: they are bundled with the
package already (host/myotwitch/data/recordings).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "data"
# recording -> the channels the bench uses (surface EMG; ch2 of the BioAmp board has no
# electrode: mains hum and the amplifier's own noise, a rest channel)
SURFACE = {
    "bioamp_exg_pill_uno_r4_500hz": ("ch1", "ch2"),
    "bsnb_adductor_pollicis_brief_16bit": ("emg",),
    "bsnb_adductor_pollicis_8bit_16bit_pair": ("emg_16bit", "emg_8bit"),
    "bsnb_biceps_cyclic_bursts": ("emg",),
    "bsnb_biceps_fatigue": ("emg",),
}
NEEDLE = {name: ("emg",) for name in ("physionet_emgdb_healthy", "physionet_emgdb_myopathy",
                                      "physionet_emgdb_neuropathy")}


def copy(src: Path, name: str, channels) -> Path:
    meta = json.loads((src / name / "meta.json").read_text())
    cols = {}
    with open(src / name / "samples.csv", newline="") as f:
        rows = csv.DictReader(f)
        for ch in channels:
            cols[ch] = []
        for r in rows:
            for ch in channels:
                cols[ch].append(float(r[ch]))
    out = {"fs": np.int32(meta["fs_hz"])}
    info = {c["name"]: c for c in meta["channels"]}
    for ch in channels:
        v = np.array(cols[ch])
        assert np.all(v == np.round(v)), (name, ch)
        offset = 32768 if v.max() > 32767 else 0
        stored = (v - offset).astype(np.int16)
        assert np.array_equal(stored.astype(np.int64) + offset, v.astype(np.int64))
        out["x_" + ch] = stored
        out["offset_" + ch] = np.int32(offset)
        out["bits_" + ch] = np.int32(info[ch]["adc_bits"])
    ann = src / name / "annotations.csv"
    if ann.exists():
        with open(ann, newline="") as f:
            a = list(csv.DictReader(f))
        out["ann_onset"] = np.array([int(r["onset_sample"]) for r in a], np.int64)
        out["ann_offset"] = np.array([int(r["offset_sample"]) for r in a], np.int64)
        out["ann_label"] = np.array([r["label"] for r in a])
        out["ann_channel"] = np.array([r["channel"] for r in a])
    path = OUT / (name + ".npz")
    np.savez_compressed(path, **out)
    return path


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit(__doc__)
    src = Path(argv[0])
    OUT.mkdir(exist_ok=True)
    for name, channels in {**SURFACE, **NEEDLE}.items():
        p = copy(src, name, channels)
        print("%s: %d bytes" % (p.name, p.stat().st_size))


if __name__ == "__main__":
    main()
