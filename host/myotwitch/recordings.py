"""Recordings the virtual board can play: the bundled real EMG, or a file of ADC counts.

A recording is integer ADC counts, shape (samples, channels), at a known rate. The virtual
board plays counts exactly as an ESP32 would read them, so values must be integers that fit
int16; data in physical units are converted only where the bundled metadata gives the scale.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch.paths import data_dir

DEFAULT = "biosppy_emg_bursts"


class RecordingError(ValueError):
    pass


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


def _to_int16(values: np.ndarray, where: str) -> np.ndarray:
    if values.size == 0:
        raise RecordingError("%s: no samples" % where)
    if not np.all(np.isfinite(values)):
        raise RecordingError("%s: contains NaN or infinite values" % where)
    if not np.all(values == np.round(values)):
        raise RecordingError("%s: values are not integer ADC counts (the virtual board plays "
                             "counts as an ADC reads them)" % where)
    if values.min() < -32768 or values.max() > 32767:
        raise RecordingError("%s: values outside the int16 range" % where)
    return values.astype(np.int16)


def _read_csv(path: Path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    rows = [r for r in rows if r and any(c.strip() for c in r)]
    if not rows:
        raise RecordingError("%s: empty file" % path)
    names = None
    try:
        [float(c) for c in rows[0]]
    except ValueError:
        names = [c.strip() for c in rows[0]]
        rows = rows[1:]
    width = len(rows[0]) if rows else 0
    try:
        data = np.array([[float(c) for c in r] for r in rows], dtype=float)
    except ValueError as e:
        raise RecordingError("%s: not a numeric CSV (%s)" % (path, e)) from None
    if data.ndim != 2 or data.shape[1] != width:
        raise RecordingError("%s: rows have different numbers of columns" % path)
    return data, names


def load(name_or_path=None, fs: int | None = None) -> Recording:
    """A bundled recording by name (default: the demo's), or a CSV/NPY file of ADC counts."""
    name_or_path = name_or_path or DEFAULT
    folder = bundled_dir() / str(name_or_path)
    if (folder / "meta.json").exists():
        meta = json.loads((folder / "meta.json").read_text())
        data, names = _read_csv(folder / "samples.csv")
        ch = meta.get("channels") or []
        if ch and all(c.get("units") == "adc_counts" for c in ch):
            samples = _to_int16(data, str(folder))
        else:
            raise RecordingError("%s: bundled recording not in ADC counts" % folder)
        return Recording(folder.name, int(meta["fs_hz"]), samples, names or [], meta)
    path = Path(name_or_path)
    if not path.exists():
        raise RecordingError("%s: no such file, and not a bundled recording (bundled: %s)"
                             % (path, ", ".join(bundled())))
    if path.suffix.lower() == ".npy":
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as e:
            raise RecordingError("%s: not a readable .npy file (%s)" % (path, e)) from None
        names = None
    elif path.suffix.lower() in (".csv", ".txt"):
        data, names = _read_csv(path)
    else:
        raise RecordingError("%s: unsupported format (the virtual board plays CSV or NPY "
                             "files of ADC counts)" % path)
    data = np.asarray(data)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[1] > 4 or data.shape[1] < 1:
        raise RecordingError("%s: expected (samples, 1..4 channels), got shape %s"
                             % (path, data.shape))
    if fs is None:
        raise RecordingError("%s: the file carries no sample rate; give --fs" % path)
    if not 500 <= fs <= 2000:
        raise RecordingError("--fs must be 500..2000 Hz")
    return Recording(path.stem, int(fs), _to_int16(data.astype(float), str(path)), names or [], {})


def load_default() -> Recording:
    return load(DEFAULT)


def write_i16(rec: Recording, path) -> Path:
    """The raw int16 little-endian interleaved file the virtual board's HAL reads."""
    path = Path(path)
    path.write_bytes(np.ascontiguousarray(rec.samples, dtype="<i2").tobytes())
    return path
