"""Recordings the virtual board can play: the bundled real EMG, or a file of ADC counts.

A recording is integer ADC counts, shape (samples, channels), at a known rate. The virtual
board plays counts exactly as an ESP32 would read them; files are read by `readers`, whose rule
for values (counts that fit int16, nothing rescaled) applies here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch.paths import data_dir
from myotwitch.readers import ReaderError, Signal, quote, read_file

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


def _folder(name) -> Path | None:
    """The folder of a recording in the bundled layout (meta.json beside samples.csv): a
    bundled one by its plain name, or any folder given by its path."""
    name = str(name)
    if name and Path(name).name == name and name not in (".", ".."):
        f = bundled_dir() / name
        if (f / "meta.json").is_file():
            return f
    p = Path(name)
    return p if name and p.is_dir() and (p / "meta.json").is_file() else None


def _meta(folder: Path) -> tuple[dict, int]:
    from myotwitch import jsonfile

    where = folder / "meta.json"
    meta = jsonfile.load(where, RecordingError, "a recording's meta.json")
    if not isinstance(meta, dict):
        raise RecordingError("%s: expected a JSON object with fs_hz and channels" % where)
    fs = meta.get("fs_hz")
    if not isinstance(fs, int) or isinstance(fs, bool) or fs <= 0:
        raise RecordingError("%s: fs_hz must be a whole number of Hz, got %s" % (where, quote(fs)))
    ch = meta.get("channels")
    if not isinstance(ch, list) or not ch or not all(
            isinstance(c, dict) and c.get("units") == "adc_counts" for c in ch):
        raise RecordingError("%s: channels must list each channel with units \"adc_counts\" "
                             "(recordings are ADC counts)" % where)
    return meta, fs


def _bundled(name) -> Recording | None:
    folder = _folder(name)
    if folder is None:
        return None
    meta, fs = _meta(folder)
    signals = read_file(folder / "samples.csv", fs)
    return Recording(folder.name, fs, np.stack([s.samples for s in signals], axis=1),
                     [s.name for s in signals], meta)


def _name(name_or_path):
    """None: the default recording; "" is not a name."""
    if name_or_path is None:
        return DEFAULT
    if not str(name_or_path).strip():
        raise RecordingError("give a recording: a bundled name (%s) or a file" % ", ".join(bundled()))
    return name_or_path


def signals(name_or_path=None, fs: float | None = None) -> list[Signal]:
    """Every channel of a bundled recording (by name) or of a file in any format `readers`
    takes (CSV, NPY, WAV, EDF), each with its own rate."""
    name_or_path = _name(name_or_path)
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
    name_or_path = _name(name_or_path)
    rec = _bundled(name_or_path)
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
