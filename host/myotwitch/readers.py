"""Reading recordings from files: CSV, NPY, WAV and EDF/EDF+ into int16 ADC counts.

Every reader returns a list of `Signal` (one per channel, each with its own rate, since EDF
signals may differ), or raises `ReaderError` naming the file and what is wrong with it.

The rule for values: the detector works on integer ADC counts exactly as the device's ADC
delivers them, so nothing is rescaled. Integer data must fit int16. Floating-point data is
taken as counts and rounded to the nearest integer if every value then fits int16; data whose
non-integer values all lie within +-16 look like physical units (volts, millivolts) and are
refused, because rounding would flatten them to a few counts. NaN or infinite values, empty
files and wrong shapes are errors, never silently dropped.

The sample rate comes from the file where the format carries one (WAV, EDF, a CSV time
column); otherwise `fs` must be given. A given `fs` that contradicts the file is an error.
"""

from __future__ import annotations

import csv
import re
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_CHANNELS = 64
PHYSICAL_LIMIT = 16  # non-integer data within +-16 is taken for physical units, not counts
TIME_COLUMN = re.compile(r"^\s*(t|time|times|timestamp|sec|secs|seconds|ms|millis)"
                         r"(\s*[_(\[]\s*(s|sec|ms)\s*[)\]]?)?\s*$", re.I)


class ReaderError(ValueError):
    pass


@dataclass
class Signal:
    name: str
    fs: float | None  # Hz; None where the file carries no rate and none was given
    samples: np.ndarray  # int16, 1-D


def to_counts(values, where: str) -> np.ndarray:
    """int16 counts from numbers, by the rule in the module docstring."""
    a = np.asarray(values)
    if a.size == 0:
        raise ReaderError("%s: no samples" % where)
    if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
        raise ReaderError("%s: data of type %s are not numbers of ADC counts" % (where, a.dtype))
    if a.dtype.kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo < -32768 or hi > 32767:
            raise ReaderError("%s: integer values %d..%d do not fit int16 ADC counts "
                              "(-32768..32767); nothing is rescaled" % (where, lo, hi))
        return a.astype(np.int16)
    a = a.astype(np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        bad = int(np.flatnonzero(~finite.ravel())[0])
        raise ReaderError("%s: contains NaN or infinite values (first at value %d)" % (where, bad))
    r = np.rint(a)
    if (r != a).any() and np.abs(a).max() <= PHYSICAL_LIMIT:
        raise ReaderError("%s: values within +-%d that are not whole numbers look like physical "
                          "units, not ADC counts; convert them to counts first"
                          % (where, PHYSICAL_LIMIT))
    if r.min() < -32768 or r.max() > 32767:
        raise ReaderError("%s: values %g..%g do not fit int16 ADC counts (-32768..32767); "
                          "nothing is rescaled" % (where, a.min(), a.max()))
    return r.astype(np.int16)


def _check_fs(fs, where):
    if fs is not None and not (fs > 0 and np.isfinite(fs)):
        raise ReaderError("%s: the sample rate must be a positive number of Hz, got %r" % (where, fs))


def _file_rate(file_fs, given, where):
    if given is not None and abs(given - file_fs) > 1e-6 * file_fs:
        raise ReaderError("%s: the file says %g Hz but --fs says %g Hz" % (where, file_fs, given))
    return file_fs


# ---------------------------------------------------------------- CSV


def _split_rows(text: str, where: str):
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    if not lines:
        raise ReaderError("%s: empty file" % where)
    head = lines[0][1]
    if ";" in head:
        delim = ";"
    elif "," in head:
        delim = ","
    elif "\t" in head:
        delim = "\t"
    else:
        delim = None  # runs of spaces
    if delim is None:
        return [(n, ln.split()) for n, ln in lines]
    rows = csv.reader([ln for _, ln in lines], delimiter=delim)
    return [(n, [c.strip() for c in r]) for (n, _), r in zip(lines, rows)]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _time_rate(t: np.ndarray, name: str, where: str) -> float:
    if len(t) < 2:
        raise ReaderError("%s: a time column needs at least two rows to give the sample rate" % where)
    d = np.diff(t)
    step = float(np.median(d))
    if step <= 0 or (d <= 0).any():
        raise ReaderError("%s: the time column %r does not increase row by row" % (where, name))
    if np.abs(d - step).max() > 0.01 * step + 1e-9:
        raise ReaderError("%s: the time column %r is not evenly spaced (steps %g..%g): "
                          "samples must be at a fixed rate" % (where, name, d.min(), d.max()))
    span = (t[-1] - t[0]) / (len(t) - 1)  # over the whole file: less rounding than one step
    unit = 1e-3 if "ms" in name.lower() or "milli" in name.lower() else 1.0
    fs = 1.0 / (span * unit)
    return float(round(fs)) if abs(fs - round(fs)) < 1e-3 * fs else fs


def read_csv(path, fs=None) -> list[Signal]:
    """CSV with or without a header row; comma, semicolon, tab or spaces between columns.
    A first column headed time/t/seconds/ms (e.g. "time (s)", "t_ms") gives the rate."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ReaderError("%s: not a text file" % where) from None
    rows = _split_rows(text, where)
    names = None
    if not all(_is_number(c) for c in rows[0][1]):
        names = rows[0][1]
        rows = rows[1:]
        if not rows:
            raise ReaderError("%s: a header row but no samples" % where)
    width = len(names) if names else len(rows[0][1])
    values = np.empty((len(rows), width))
    for i, (line, cells) in enumerate(rows):
        if len(cells) != width:
            raise ReaderError("%s: line %d has %d columns, expected %d"
                              % (where, line, len(cells), width))
        try:
            values[i] = [float(c) for c in cells]
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            raise ReaderError("%s: line %d: %r is not a number" % (where, line, bad)) from None
    names = names or ["ch%d" % i for i in range(width)]
    if width > 1 and TIME_COLUMN.match(names[0]):
        rate = _time_rate(values[:, 0], names[0], where)
        if fs is not None and abs(fs - rate) > 0.01 * rate:
            raise ReaderError("%s: the time column says %g Hz but --fs says %g Hz" % (where, rate, fs))
        fs = fs if fs is not None else rate
        values, names = values[:, 1:], names[1:]
    return _columns(values, names, fs, where)


def _columns(values: np.ndarray, names, fs, where) -> list[Signal]:
    if values.shape[1] > MAX_CHANNELS:
        raise ReaderError("%s: %d columns; expected (samples, channels) with at most %d channels"
                          % (where, values.shape[1], MAX_CHANNELS))
    _check_fs(fs, where)
    counts = to_counts(values, where)
    return [Signal(str(n), fs, np.ascontiguousarray(counts[:, i])) for i, n in enumerate(names)]


# ---------------------------------------------------------------- NPY


def read_npy(path, fs=None) -> list[Signal]:
    """1-D (one channel) or 2-D (samples, channels) array of counts."""
    where = str(path)
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ReaderError("%s: not a readable .npy file (%s)" % (where, e)) from None
    if not isinstance(a, np.ndarray):
        raise ReaderError("%s: holds several arrays (.npz); save one array with np.save" % where)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ReaderError("%s: array of shape %s; expected 1-D (samples) or 2-D (samples, channels)"
                          % (where, a.shape))
    return _columns(a, ["ch%d" % i for i in range(a.shape[1])], fs, where)


# ---------------------------------------------------------------- WAV


def read_wav(path, fs=None) -> list[Signal]:
    """PCM WAV, 8-bit (unsigned, centred on 128), 16- or 32-bit signed; the rate from the file."""
    where = str(path)
    try:
        with wave.open(str(path), "rb") as w:
            nch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
            raw = w.readframes(n)
    except (wave.Error, EOFError) as e:
        raise ReaderError("%s: not a PCM WAV file this reader takes (%s)" % (where, e)) from None
    dtype = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}.get(width)
    if dtype is None:
        raise ReaderError("%s: %d-bit samples; this reader takes 8-, 16- or 32-bit PCM"
                          % (where, 8 * width))
    if len(raw) != n * nch * width:
        raise ReaderError("%s: truncated: %d bytes of sample data for %d frames"
                          % (where, len(raw), n))
    a = np.frombuffer(raw, dtype=dtype).reshape(-1, nch)
    if width == 1:
        a = a.astype(np.int16) - 128
    return _columns(a, ["ch%d" % i for i in range(nch)], _file_rate(rate, fs, where), where)


# ---------------------------------------------------------------- EDF / EDF+

_EDF_FIELDS = ((16, "label"), (80, "transducer"), (8, "physical_dimension"), (8, "physical_min"),
               (8, "physical_max"), (8, "digital_min"), (8, "digital_max"), (80, "prefiltering"),
               (8, "samples_per_record"), (32, "reserved"))


def _edf_number(text: str, what: str, where: str, cast=float):
    try:
        return cast(text.strip())
    except ValueError:
        raise ReaderError("%s: EDF header field %s is %r, not a number" % (where, what, text)) from None


def read_edf(path, fs=None) -> list[Signal]:
    """EDF and EDF+C: the digital values of each signal at that signal's own rate (samples per
    data record / record duration). EDF+ annotation signals are skipped; EDF+D (discontinuous)
    and BDF (24-bit) are refused."""
    path = Path(path)
    where = str(path)
    data = path.read_bytes()
    if len(data) < 256:
        raise ReaderError("%s: %d bytes, shorter than an EDF header (256)" % (where, len(data)))
    if data[0:1] == b"\xff":
        raise ReaderError("%s: a BDF (24-bit) file; this reader takes 16-bit EDF" % where)
    head = data[:256].decode("ascii", "replace")
    if head[0:8].strip() != "0":
        raise ReaderError("%s: not an EDF file (version field %r)" % (where, head[0:8]))
    header_bytes = _edf_number(head[184:192], "header bytes", where, int)
    reserved = head[192:236].strip()
    n_records = _edf_number(head[236:244], "number of data records", where, int)
    duration = _edf_number(head[244:252], "data record duration", where)
    ns = _edf_number(head[252:256], "number of signals", where, int)
    if reserved.startswith("EDF+D"):
        raise ReaderError("%s: EDF+D (discontinuous) recordings are not supported: the detector "
                          "needs samples at a fixed rate" % where)
    if ns < 1 or header_bytes != 256 * (ns + 1) or len(data) < header_bytes:
        raise ReaderError("%s: EDF header is inconsistent (%d signals, %d header bytes, file %d bytes)"
                          % (where, ns, header_bytes, len(data)))
    if duration <= 0:
        raise ReaderError("%s: EDF data record duration %g s; continuous signals need > 0"
                          % (where, duration))
    sig = {}
    pos = 256
    for width, name in _EDF_FIELDS:
        sig[name] = [data[pos + i * width:pos + (i + 1) * width].decode("ascii", "replace").strip()
                     for i in range(ns)]
        pos += width * ns
    spr = [_edf_number(s, "samples per record", where, int) for s in sig["samples_per_record"]]
    if min(spr) < 1:
        raise ReaderError("%s: a signal with %d samples per record" % (where, min(spr)))
    record = sum(spr) * 2
    body = len(data) - header_bytes
    if n_records == -1:  # still being written when the header was made
        n_records = body // record
    if n_records < 1:
        raise ReaderError("%s: no data records" % where)
    if body < n_records * record:
        raise ReaderError("%s: truncated: %d bytes of data for %d records of %d bytes"
                          % (where, body, n_records, record))
    table = np.frombuffer(data, dtype="<i2", count=n_records * record // 2,
                          offset=header_bytes).reshape(n_records, -1)
    out = []
    col = 0
    for i in range(ns):
        block = table[:, col:col + spr[i]]
        col += spr[i]
        label = sig["label"][i]
        if label == "EDF Annotations":
            continue
        rate = spr[i] / duration
        rate = float(round(rate)) if abs(rate - round(rate)) < 1e-9 * rate else rate
        out.append(Signal(label or "signal%d" % i, rate, np.ascontiguousarray(block.ravel())))
    if not out:
        raise ReaderError("%s: only annotation signals, no samples" % where)
    rates = {s.fs for s in out}
    if fs is not None and fs not in rates:
        raise ReaderError("%s: the file's signals are at %s Hz but --fs says %g Hz"
                          % (where, "/".join("%g" % r for r in sorted(rates)), fs))
    return out


# ---------------------------------------------------------------- dispatch

READERS = {".csv": read_csv, ".txt": read_csv, ".tsv": read_csv, ".npy": read_npy,
           ".wav": read_wav, ".edf": read_edf}


def read_file(path, fs=None) -> list[Signal]:
    """Signals of a recording file, by its extension (see READERS)."""
    path = Path(path)
    if not path.is_file():
        raise ReaderError("%s: no such file" % path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ReaderError("%s: unknown format %r (readable: %s)"
                          % (path, path.suffix, ", ".join(sorted(READERS))))
    if path.stat().st_size == 0:
        raise ReaderError("%s: empty file" % path)
    try:
        signals = reader(path, fs)
    except OSError as e:
        raise ReaderError("%s: cannot read (%s)" % (path, e)) from None
    if any(s.fs is None for s in signals):
        raise ReaderError("%s: the file carries no sample rate; give --fs" % path)
    return signals
