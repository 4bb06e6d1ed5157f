"""Reading recordings from files: CSV, NPY, WAV and EDF/EDF+ as int16 ADC counts, streamed.

    rd = open_file(path, fs=None)    # reads the header (and a CSV's first block), no more
    rd.channels                      # [Channel(name, fs)]: the metadata, up front
    for chunk in rd.chunks():        # [int16 array per channel] (EDF: each at its own rate)
        ...
    read_file(path, fs) -> [Signal]  # everything at once, for callers that need it whole

Memory is bounded by a constant whatever the file's size: a chunk holds at most CHUNK samples
per channel (EDF: CHUNK in all), the CSV parser one BLOCK of text; nothing else grows with the
file. Errors (`ReaderError`) name the file and what is wrong, and quote at most QUOTE characters
of the offending input.

The rule for values: the detector works on integer ADC counts exactly as the device's ADC
delivers them, so nothing is rescaled. Integer data must fit int16. Floating-point data is
taken as counts and rounded to the nearest integer if every value then fits int16; data whose
non-integer values all lie within +-16 look like physical units (volts, millivolts) and are
refused, because rounding would flatten them to a few counts (said when the stream ends: only
then is the whole range known). NaN or infinite values, empty files and wrong shapes are
errors, never silently dropped.

The sample rate comes from the file where the format carries one (WAV, EDF, a CSV time
column); otherwise `fs` must be given. A given `fs` that contradicts the file is an error.
Whether the detector runs at that rate is the caller's question (detect.check_fs).
"""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_CHANNELS = 64
PHYSICAL_LIMIT = 16  # non-integer data within +-16 is taken for physical units, not counts
CHUNK = 1 << 18  # samples per channel per chunk (256 Ki: 512 KB of int16)
BLOCK = 1 << 21  # bytes of CSV text parsed at a time
MAX_LINE = 1 << 16  # a CSV line longer than this is not a row of samples
QUOTE = 80  # characters of the input an error shows at most
TIME_COLUMN = re.compile(r"^\s*(t|time|times|timestamp|sec|secs|seconds|ms|millis)"
                         r"(\s*[_(\[]\s*(s|sec|ms)\s*[)\]]?)?\s*$", re.I)


class ReaderError(ValueError):
    pass


def quote(text) -> str:
    """A piece of the input for an error message: at most QUOTE characters, said if cut."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text[:4 * QUOTE]).decode("utf-8", "replace")
    text = str(text)
    if len(text) <= QUOTE:
        return repr(text)
    return "%r... (%d characters, cut)" % (text[:QUOTE], len(text))


@dataclass
class Channel:
    name: str
    fs: float | None  # Hz; None where the file carries no rate and none was given


@dataclass
class Signal:
    name: str
    fs: float | None
    samples: np.ndarray  # int16, 1-D


# ---------------------------------------------------------------- values to counts


class Counts:
    """int16 counts from numbers, chunk by chunk, by the rule in the module docstring."""

    def __init__(self, where: str):
        self.where = where
        self.values = 0
        self.fraction = False  # some value was not a whole number
        self.peak = 0.0  # the largest |value| so far

    def __call__(self, values) -> np.ndarray:
        a = np.asarray(values)
        where = self.where
        if a.dtype.kind == "b" or a.dtype.kind not in "iuf":
            raise ReaderError("%s: data of type %s are not numbers of ADC counts" % (where, a.dtype))
        first = self.values
        self.values += a.size
        if a.size == 0:
            return a.astype(np.int16)
        if a.dtype.kind in "iu":
            lo, hi = int(a.min()), int(a.max())
            if lo < -32768 or hi > 32767:
                raise ReaderError("%s: integer values %d..%d do not fit int16 ADC counts "
                                  "(-32768..32767); nothing is rescaled" % (where, lo, hi))
            return a.astype(np.int16)
        a = a.astype(np.float64)
        finite = np.isfinite(a)
        if not finite.all():
            bad = first + int(np.flatnonzero(~finite.ravel())[0])
            raise ReaderError("%s: contains NaN or infinite values (first at value %d)"
                              % (where, bad))
        r = np.rint(a)
        if (r != a).any():
            self.fraction = True
        self.peak = max(self.peak, float(np.abs(a).max()))
        if r.min() < -32768 or r.max() > 32767:
            raise ReaderError("%s: values %g..%g do not fit int16 ADC counts (-32768..32767); "
                              "nothing is rescaled" % (where, a.min(), a.max()))
        return r.astype(np.int16)

    def finish(self) -> None:
        if self.values == 0:
            raise ReaderError("%s: no samples" % self.where)
        if self.fraction and self.peak <= PHYSICAL_LIMIT:
            raise ReaderError("%s: values within +-%d that are not whole numbers look like "
                              "physical units, not ADC counts; convert them to counts first"
                              % (self.where, PHYSICAL_LIMIT))


def to_counts(values, where: str) -> np.ndarray:
    """int16 counts from all the numbers at once (see Counts)."""
    c = Counts(where)
    out = c(values)
    c.finish()
    return out


def _check_fs(fs, where):
    if fs is not None and not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
        raise ReaderError("%s: the sample rate must be a positive number of Hz, got %s"
                          % (where, quote(fs)))


def _file_rate(file_fs, given, where):
    if given is not None and abs(given - file_fs) > 1e-6 * file_fs:
        raise ReaderError("%s: the file says %g Hz but --fs says %g Hz" % (where, file_fs, given))
    return file_fs


# ---------------------------------------------------------------- a file being read


class Reading:
    """An open recording: `channels` (metadata) now, `chunks()` (the samples) as they are read.
    chunks() can be run once; it closes the file at its end (or on close())."""

    def __init__(self, path, channels, gen, frames=None):
        self.path = Path(path)
        self.channels: list[Channel] = channels
        self.frames = frames  # samples per channel, where the header says (None: unknown)
        self._gen = gen

    def chunks(self):
        if self._gen is None:
            raise ReaderError("%s: already read" % self.path)
        gen, self._gen = self._gen, None
        yield from gen

    def close(self):
        if self._gen is not None:
            self._gen.close()
            self._gen = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self) -> list[Signal]:
        """Every sample, collected: one Signal per channel."""
        parts: list = [[] for _ in self.channels]
        for chunk in self.chunks():
            for i, a in enumerate(chunk):
                parts[i].append(a)
        return [Signal(c.name, c.fs, np.concatenate(p) if p else np.zeros(0, np.int16))
                for c, p in zip(self.channels, parts)]


def _columns(counts: Counts, values, ncols):
    """A (rows, channels) block as one int16 array per channel."""
    c = counts(values)
    return [np.ascontiguousarray(c[:, i]) for i in range(ncols)]


def _check_width(n, where):
    if n > MAX_CHANNELS:
        raise ReaderError("%s: %d columns; expected (samples, channels) with at most %d channels"
                          % (where, n, MAX_CHANNELS))


# ---------------------------------------------------------------- CSV


def _text_blocks(f, where):
    """(number of its first line, text) of whole lines, about BLOCK bytes at a time."""
    line, carry, offset = 1, b"", 0
    while True:
        data = f.read(BLOCK)
        if offset == 0 and data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        nul = data.find(b"\x00")
        if nul >= 0:
            raise ReaderError("%s: binary data (a NUL byte at byte %d): not a CSV text file"
                              % (where, offset + nul))
        offset += len(data)
        buf = carry + data
        if data and buf.endswith(b"\r"):  # its "\n" may come with the next read
            buf, data_cr = buf[:-1], b"\r"
        else:
            data_cr = b""
        # Line ends: "\n", "\r\n" and (old Mac files) a lone "\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        cut = buf.rfind(b"\n") + 1 if data else len(buf)
        block, carry = buf[:cut], buf[cut:] + data_cr
        if len(carry) > MAX_LINE:
            raise ReaderError("%s: line %d is longer than %d bytes (%s): not a row of samples"
                              % (where, line + block.count(b"\n"), MAX_LINE, quote(carry)))
        if block:
            try:
                text = block.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line + block[:e.start].count(b"\n")
                raise ReaderError("%s: line %d is not UTF-8 text: not a CSV file" % (where, bad)) \
                    from None
            yield line, text
            line += block.count(b"\n")
        if not data:
            return


def _split(line: str, delim):
    if delim is None:
        return line.split()
    try:
        return [c.strip() for c in next(csv.reader([line], delimiter=delim))]
    except (csv.Error, StopIteration):
        return [line]  # not cells of numbers: the caller says which line


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _parse_slow(text, line0, delim, width, where) -> np.ndarray:
    """Line by line, for a block the fast parser refused: blank lines are skipped, and the
    first bad line is named."""
    rows = []
    for k, ln in enumerate(text.split("\n")):
        if not ln.strip():
            continue
        if len(ln) > MAX_LINE:
            raise ReaderError("%s: line %d is longer than %d characters (%s): not a row of "
                              "samples" % (where, line0 + k, MAX_LINE, quote(ln)))
        cells = _split(ln, delim)
        if len(cells) != width:
            raise ReaderError("%s: line %d has %d columns, expected %d"
                              % (where, line0 + k, len(cells), width))
        try:
            rows.append([float(c) for c in cells])
        except ValueError:
            bad = next(c for c in cells if not _is_number(c))
            raise ReaderError("%s: line %d: %s is not a number" % (where, line0 + k, quote(bad))) \
                from None
    return np.array(rows, dtype=np.float64).reshape(-1, width)


def _parse(text, line0, delim, width, where) -> np.ndarray:
    """A block of lines as a (rows, width) float array: NumPy's C parser, else line by line."""
    if not text.strip():
        return np.empty((0, width))
    try:
        kw = {"delimiter": delim, "quotechar": '"'} if delim else {}
        a = np.loadtxt(io.StringIO(text), ndmin=2, dtype=np.float64, comments=None, **kw)
    except ValueError:
        a = None
    if a is None or (a.size and a.shape[1] != width):
        return _parse_slow(text, line0, delim, width, where)
    return a.reshape(-1, width)


class _TimeColumn:
    """The rate from a time column, and every later step checked against it."""

    def __init__(self, name, where):
        self.name, self.where = name, where
        self.unit = 1e-3 if "ms" in name.lower() or "milli" in name.lower() else 1.0
        self.step = self.last = None
        self.rows = 0

    def _bad(self, what):
        raise ReaderError("%s: the time column %s %s" % (self.where, quote(self.name), what))

    def first(self, t) -> float:
        if len(t) < 2:
            raise ReaderError("%s: a time column needs at least two rows to give the sample "
                              "rate" % self.where)
        self.check(t, first=True)
        span = (t[-1] - t[0]) / (len(t) - 1)  # over the block: less rounding than one step
        fs = 1.0 / (span * self.unit)
        return float(round(fs)) if abs(fs - round(fs)) < 1e-3 * fs else fs

    def check(self, t, first=False):
        bad = ~np.isfinite(t)
        if bad.any():
            k = self.rows + int(np.flatnonzero(bad)[0]) + 1
            self._bad("holds %s in sample row %d: the time of every sample must be a number"
                      % ("NaN" if np.isnan(t).any() else "an infinite value", k))
        d = np.diff(t if self.last is None else np.concatenate(([self.last], t)))
        if first:
            self.step = float(np.median(d))
        step = self.step
        if len(d) and (step <= 0 or (d <= 0).any()):
            self._bad("does not increase row by row")
        if len(d) and np.abs(d - step).max() > 0.01 * step + 1e-9:
            self._bad("is not evenly spaced (steps %g..%g): samples must be at a fixed rate"
                      % (d.min(), d.max()))
        self.last = float(t[-1])
        self.rows += len(t)


def open_csv(path, fs=None) -> Reading:
    """CSV with or without a header row; comma, semicolon, tab or spaces between columns.
    A first column headed time/t/seconds/ms (e.g. "time (s)", "t_ms") gives the rate."""
    path = Path(path)
    where = str(path)
    _check_fs(fs, where)
    f = open(path, "rb")
    try:
        blocks = _text_blocks(f, where)
        head = None
        pending = []  # blocks read to learn the layout, parsed again by the stream
        for line0, text in blocks:
            pending.append((line0, text))
            for k, ln in enumerate(text.split("\n")):
                if ln.strip():
                    head = (line0 + k, ln.rstrip("\r"))
                    break
            if head:
                break
        if head is None:
            raise ReaderError("%s: empty file" % where)
        hline, htext = head
        if len(htext) > MAX_LINE:
            raise ReaderError("%s: line %d is longer than %d characters (%s): not a row of samples"
                              % (where, hline, MAX_LINE, quote(htext)))
        delim = next((d for d in (";", ",", "\t") if d in htext), None)  # else runs of spaces
        cells = _split(htext, delim)
        names = None if all(_is_number(c) for c in cells) else cells
        width = len(cells)
        _check_width(width, where)
        skip_head = names is not None

        def parsed():
            nonlocal skip_head
            for line0, text in _chain(pending, blocks):
                if skip_head:  # the header line is not data
                    lines = text.split("\n")
                    k = hline - line0
                    text = "\n".join(lines[k + 1:])
                    line0 = hline + 1
                    skip_head = False
                yield line0, _parse(text, line0, delim, width, where)

        rows = parsed()
        first = []  # parsed blocks until one has two rows (a time column needs two)
        for item in rows:
            first.append(item)
            if sum(len(a) for _, a in first) >= 2:
                break
        if sum(len(a) for _, a in first) == 0:
            raise ReaderError("%s: a header row but no samples" % where if names else
                              "%s: no samples" % where)
        names = [n[:QUOTE] for n in names] if names else ["ch%d" % i for i in range(width)]
        clock = None
        if width > 1 and TIME_COLUMN.match(names[0]):
            clock = _TimeColumn(names[0], where)
            t = np.concatenate([a[:, 0] for _, a in first])
            rate = clock.first(t)
            if fs is not None and abs(fs - rate) > 0.01 * rate:
                raise ReaderError("%s: the time column says %g Hz but --fs says %g Hz"
                                  % (where, rate, fs))
            fs = fs if fs is not None else rate
            names = names[1:]
    except BaseException:
        f.close()
        raise
    counts = Counts(where)
    ncols = len(names)

    def gen():
        try:
            for i, (_, a) in enumerate(_chain(first, rows)):
                if clock is not None:
                    if i >= len(first):
                        clock.check(a[:, 0])
                    a = a[:, 1:]
                if len(a):
                    yield _columns(counts, a, ncols)
            counts.finish()
        finally:
            f.close()

    return Reading(path, [Channel(str(n), fs) for n in names], gen())


def _chain(head, rest):
    yield from head
    yield from rest


# ---------------------------------------------------------------- NPY


def open_npy(path, fs=None) -> Reading:
    """1-D (one channel) or 2-D (samples, channels) array of counts, memory-mapped."""
    where = str(path)
    _check_fs(fs, where)
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as e:
        if "empty" not in str(e) and "mmap" not in str(e):
            raise ReaderError("%s: not a readable .npy file (%s)" % (where, e)) from None
        try:  # an empty array cannot be mapped
            a = np.load(path, allow_pickle=False)
        except Exception as e2:
            raise ReaderError("%s: not a readable .npy file (%s)" % (where, e2)) from None
    except Exception as e:
        raise ReaderError("%s: not a readable .npy file (%s)" % (where, e)) from None
    if not isinstance(a, np.ndarray):
        if hasattr(a, "close"):
            a.close()
        raise ReaderError("%s: holds several arrays (.npz); save one array with np.save" % where)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2:
        raise ReaderError("%s: array of shape %s; expected 1-D (samples) or 2-D (samples, channels)"
                          % (where, a.shape))
    _check_width(a.shape[1], where)
    counts = Counts(where)
    n, ncols = a.shape

    def gen():
        for i in range(0, n, CHUNK):
            yield _columns(counts, np.asarray(a[i:i + CHUNK]), ncols)
        counts.finish()

    return Reading(path, [Channel("ch%d" % i, fs) for i in range(ncols)], gen(), frames=n)


# ---------------------------------------------------------------- WAV


WAVE_ERRORS = (wave.Error, EOFError, RuntimeError, ValueError, struct.error)


def open_wav(path, fs=None) -> Reading:
    """PCM WAV, 8-bit (unsigned, centred on 128), 16- or 32-bit signed; the rate from the file."""
    where = str(path)
    _check_fs(fs, where)
    try:
        w = wave.open(str(path), "rb")
    except WAVE_ERRORS as e:  # the wave module's own, and what its chunk reader raises
        raise ReaderError("%s: not a PCM WAV file this reader takes (%s)"
                          % (where, str(e)[:QUOTE] or type(e).__name__)) from None
    try:
        nch, width, rate, n = w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getnframes()
        dtype = {1: np.uint8, 2: np.dtype("<i2"), 4: np.dtype("<i4")}.get(width)
        if dtype is None:
            raise ReaderError("%s: %d-bit samples; this reader takes 8-, 16- or 32-bit PCM"
                              % (where, 8 * width))
        if nch < 1:
            raise ReaderError("%s: no channels" % where)
        _check_width(nch, where)
        rate = _file_rate(rate, fs, where)
    except BaseException:
        w.close()
        raise
    counts = Counts(where)

    def gen():
        got = 0
        try:
            while got < n:
                raw = w.readframes(min(CHUNK, n - got))
                if len(raw) % (nch * width) or not raw:
                    break
                a = np.frombuffer(raw, dtype=dtype).reshape(-1, nch)
                got += len(a)
                if width == 1:
                    a = a.astype(np.int16) - 128
                yield _columns(counts, a, nch)
        except ReaderError:
            raise
        except WAVE_ERRORS as e:
            raise ReaderError("%s: not a PCM WAV file this reader takes (%s)"
                              % (where, str(e)[:QUOTE] or type(e).__name__)) from None
        finally:
            w.close()
        if got < n:
            raise ReaderError("%s: truncated: %d of the %d frames its header announces"
                              % (where, got, n))
        counts.finish()

    return Reading(path, [Channel("ch%d" % i, rate) for i in range(nch)], gen(), frames=n)


# ---------------------------------------------------------------- EDF / EDF+ (pyedflib)


def _edf_header(path, where):
    """The fixed header fields pyedflib does not check (or gets wrong): version, BDF, EDF+D,
    the record count and the record duration. Returns the duration in seconds."""
    with open(path, "rb") as f:
        head = f.read(256)
    if len(head) < 256:
        raise ReaderError("%s: %d bytes, shorter than an EDF header (256)" % (where, len(head)))
    if head[0:1] == b"\xff":
        raise ReaderError("%s: a BDF (24-bit) file; this reader takes 16-bit EDF" % where)
    text = head.decode("ascii", "replace")
    if text[0:8].strip() != "0":
        raise ReaderError("%s: not an EDF file (version field %s)" % (where, quote(text[0:8])))
    if text[192:236].strip().startswith("EDF+D"):
        raise ReaderError("%s: EDF+D (discontinuous) recordings are not supported: the detector "
                          "needs samples at a fixed rate" % where)
    records = text[236:244].strip()
    if records == "-1":
        raise ReaderError("%s: the header says -1 data records (the file was still being "
                          "written): not supported" % where)
    try:
        duration = float(text[244:252])
    except ValueError:
        raise ReaderError("%s: EDF header field data record duration is %s, not a number"
                          % (where, quote(text[244:252]))) from None
    if not (math.isfinite(duration) and duration > 0):
        raise ReaderError("%s: EDF data record duration %s s; continuous signals need a finite "
                          "duration > 0" % (where, text[244:252].strip()))
    return duration


# What pyedflib's "not EDF(+) or BDF(+) compliant (...)" means, in the reader's words.
_EDFLIB_REASONS = {
    "Filesize": "truncated (or padded): its size does not match what its header announces",
    "Number of Datarecords": "EDF header field number of data records is not a number > 0",
    "Duration": "EDF header field data record duration is not a number > 0",
    "Number of Signals": "EDF header field number of signals is not a number > 0",
}


def _edflib_reason(text, where):
    text = text.replace(where + ": ", "")
    m = re.search(r"compliant \((.*)\)", text)
    reason = _EDFLIB_REASONS.get(m.group(1)) if m else None
    return reason or "not an EDF file pyedflib can read (%s)" % text[:4 * QUOTE]


def open_edf(path, fs=None) -> Reading:
    """EDF and EDF+C through pyedflib: the digital values of each signal at that signal's own
    rate (samples per data record / record duration), read in chunks. EDF+ annotation signals
    are skipped; EDF+D (discontinuous) and BDF (24-bit) are refused."""
    import pyedflib

    path = Path(path)
    where = str(path)
    _check_fs(fs, where)
    duration = _edf_header(path, where)
    try:
        r = pyedflib.EdfReader(str(path), annotations_mode=0)  # annotations are not read
    except OSError as e:
        raise ReaderError("%s: %s" % (where, _edflib_reason(str(e), where))) from None
    try:
        records = r.datarecords_in_file
        ns = r.signals_in_file
        if ns < 1:
            raise ReaderError("%s: only annotation signals, no samples" % where)
        if records < 1:
            raise ReaderError("%s: no data records" % where)
        spr = [int(n) // records for n in r.getNSamples()]
        labels = r.getSignalLabels()
        rates = []
        for s in spr:
            rate = s / duration
            rates.append(float(round(rate)) if abs(rate - round(rate)) < 1e-9 * rate else rate)
        if fs is not None and fs not in set(rates):
            raise ReaderError("%s: the file's signals are at %s Hz but --fs says %g Hz"
                              % (where, "/".join("%g" % x for x in sorted(set(rates))), fs))
    except BaseException:
        r.close()
        raise
    counts = [Counts("%s (signal %d)" % (where, i)) for i in range(ns)]
    step = max(1, CHUNK // sum(spr))  # data records per chunk

    def gen():
        try:
            for rec in range(0, records, step):
                k = min(step, records - rec)
                yield [counts[i](r.readSignal(i, rec * spr[i], k * spr[i], digital=True))
                       for i in range(ns)]
        finally:
            r.close()
        for c in counts:
            c.finish()

    channels = [Channel(label or "signal%d" % i, rate)
                for i, (label, rate) in enumerate(zip(labels, rates))]
    return Reading(path, channels, gen(), frames=None)


# ---------------------------------------------------------------- dispatch

READERS = {".csv": open_csv, ".txt": open_csv, ".tsv": open_csv, ".npy": open_npy,
           ".wav": open_wav, ".edf": open_edf}


def open_file(path, fs=None) -> Reading:
    """A recording file, opened by its extension (see READERS): metadata now, samples by
    chunks()."""
    path = Path(path)
    if path.is_dir():
        raise ReaderError("%s: a folder, not a recording file (a folder recording holds "
                          "meta.json and samples.csv)" % path)
    if not path.is_file():
        raise ReaderError("%s: no such file" % path)
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise ReaderError("%s: unknown format %s (readable: %s)"
                          % (path, quote(path.suffix), ", ".join(sorted(READERS))))
    if path.stat().st_size == 0:
        raise ReaderError("%s: empty file" % path)
    try:
        rd = reader(path, fs)
    except OSError as e:
        raise ReaderError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    if any(c.fs is None for c in rd.channels):
        rd.close()
        raise ReaderError("%s: the file carries no sample rate; give --fs" % path)
    return rd


def read_file(path, fs=None) -> list[Signal]:
    """Every channel of a recording file, whole (open_file(...).read())."""
    with open_file(path, fs) as rd:
        try:
            return rd.read()
        except OSError as e:
            raise ReaderError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
