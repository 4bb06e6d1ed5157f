"""Recordings the virtual board can play: the bundled real EMG, or a file of ADC counts.

A recording is integer ADC counts, shape (samples, channels), at a known rate. The virtual
board plays counts exactly as an ESP32 would read them; files are read by `readers`, whose rule
for values (counts that fit int16, nothing rescaled) applies here too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch.paths import data_dir
from myotwitch.readers import ReaderError, Signal, read_csv, read_file

DEFAULT = "rest_with_twitches"  # real rest EMG with injected twitches (the demo's)


RecordingError = ReaderError  # the name callers of load() already catch


@dataclass
class Recording:
    name: str
    fs: int
    samples: np.ndarray  # int16, (n, channels)
    channel_names: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def channels(self) -> int:
        return self.samples.shape[1]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.fs


def bundled_dir() -> Path:
    return data_dir() / "recordings"


def bundled() -> list[str]:
    return sorted(p.name for p in bundled_dir().iterdir() if (p / "meta.json").exists())


def _bundled(name) -> Recording | None:
    folder = bundled_dir() / str(name)
    if not (folder / "meta.json").exists():
        return None
    meta = json.loads((folder / "meta.json").read_text())
    ch = meta.get("channels") or []
    if not ch or not all(c.get("units") == "adc_counts" for c in ch):
        raise RecordingError("%s: bundled recording not in ADC counts" % folder)
    signals = read_csv(folder / "samples.csv", int(meta["fs_hz"]))
    return Recording(folder.name, int(meta["fs_hz"]), np.stack([s.samples for s in signals], axis=1),
                     [s.name for s in signals], meta)


def signals(name_or_path=None, fs: float | None = None) -> list[Signal]:
    """Every channel of a bundled recording (by name) or of a file in any format `readers`
    takes (CSV, NPY, WAV, EDF), each with its own rate."""
    name_or_path = name_or_path or DEFAULT
    rec = _bundled(name_or_path)
    if rec is not None:
        return [Signal(n, rec.fs, rec.samples[:, i]) for i, n in enumerate(rec.channel_names)]
    if not Path(name_or_path).exists():
        raise RecordingError("%s: no such file, and not a bundled recording (bundled: %s)"
                             % (name_or_path, ", ".join(bundled())))
    return read_file(name_or_path, fs)


def load(name_or_path=None, fs: int | None = None) -> Recording:
    """What the virtual board can play: a bundled recording by name (default: the demo's), or a
    file of ADC counts with 1..4 channels at one rate of 500..2000 Hz."""
    rec = _bundled(name_or_path or DEFAULT)
    if rec is not None:
        return rec
    if fs is not None and not 500 <= fs <= 2000:
        raise RecordingError("--fs must be 500..2000 Hz")
    sigs = signals(name_or_path, fs)
    path = Path(name_or_path)
    rates = {s.fs for s in sigs}
    if not 1 <= len(sigs) <= 4 or len(rates) != 1:
        raise RecordingError("%s: the virtual board plays 1..4 channels at one rate; this file has "
                             "%d at %s Hz" % (path, len(sigs), "/".join("%g" % r for r in sorted(rates))))
    rate = rates.pop()
    if rate != int(rate) or not 500 <= rate <= 2000:
        raise RecordingError("%s: %g Hz; the virtual board samples at 500..2000 Hz" % (path, rate))
    return Recording(path.stem, int(rate), np.stack([s.samples for s in sigs], axis=1),
                     [s.name for s in sigs], {})


def load_default() -> Recording:
    return load(DEFAULT)


def write_i16(rec: Recording, path) -> Path:
    """The raw int16 little-endian interleaved file the virtual board's HAL reads."""
    path = Path(path)
    path.write_bytes(np.ascontiguousarray(rec.samples, dtype="<i2").tobytes())
    return path
