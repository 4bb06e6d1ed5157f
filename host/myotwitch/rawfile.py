"""Raw sample files: `<name>.i16` (interleaved little-endian int16, one row per
sample index, one column per channel) plus a JSON sidecar `<name>.json`.

The sidecar maps rows to device time: a *segment* is a run of consecutive
sample indices of one boot (`first_index`, `row_offset`, `rows`). Samples
that never arrived (lost SAMPLES frames) are written as 0 and listed in `gaps`
(boot_id, channel, first_index, count), so nothing is silently closed up: the
file keeps its time base and a reader knows which values are not data. A jump
larger than `max_fill_s` starts a new segment instead of filling.

The writer never needs the whole recording in memory; the sidecar is
rewritten atomically at each flush, and a reader trusts the file length over
a sidecar left behind by a crash.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DTYPE = np.dtype("<i2")
FORMAT = "myotwitch-raw"
FORMAT_VERSION = 1


def sidecar_path(path) -> Path:
    return Path(path).with_suffix(".json")


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RawWriter:
    """Assembles SAMPLES frames (per channel, by first_index) into rows."""

    def __init__(self, path, channels, fs, max_fill_s: float = 10.0, hold_s: float = 2.0):
        self.path = Path(path)
        self.meta_path = sidecar_path(self.path)
        self.channels = sorted(set(int(c) for c in channels))
        if not self.channels:
            raise ValueError("a raw file needs at least one channel")
        self._col = {ch: i for i, ch in enumerate(self.channels)}
        self.fs = int(fs)
        self.max_fill_s = max_fill_s
        self.hold_s = hold_s
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._f = os.fdopen(fd, "wb")
        self.segments: list[dict] = []
        self.gaps: list[dict] = []
        self.discarded = 0  # duplicate or too-late samples not written
        self.ignored = 0  # samples of channels this file does not hold
        self.rows = 0
        self._seg = None
        self._boot = None
        self._seg_fs = self.fs
        self._next: dict[int, int] = {}
        self._chunks: dict[int, deque] = {}
        self._written = 0
        self.closed = False
        self.write_meta()

    # ---- input

    def begin_boot(self, boot_id, fs=None) -> None:
        """Samples from now on belong to a new boot: close the current segment."""
        self._close_segment()
        self._boot = boot_id
        if fs:
            self._seg_fs = int(fs)

    def add(self, channel: int, first_index: int, samples, boot_id=None) -> None:
        if boot_id is not None and boot_id != self._boot:
            self.begin_boot(boot_id)
        if channel not in self._col:
            self.ignored += len(samples)
            return
        arr = np.asarray(samples, dtype=np.int64).astype(DTYPE)
        if len(arr) == 0:
            return
        if self._seg is None:
            self._open_segment(first_index)
        nxt = self._next[channel]
        if first_index < nxt:
            skip = nxt - first_index
            if skip >= len(arr):
                self.discarded += len(arr)
                return
            self.discarded += skip
            arr = arr[skip:]
            first_index = nxt
        elif first_index > nxt:
            gap = first_index - nxt
            if gap > self.max_fill_s * self._seg_fs:
                self._close_segment()
                self._gap(channel, nxt, gap)
                self._open_segment(first_index)
            else:
                self._gap(channel, nxt, gap)
        self._chunks[channel].append((first_index, arr))
        self._next[channel] = first_index + len(arr)
        self._release_laggards()
        self._write_ready(min(self._next.values()))

    # ---- segments and gaps

    def _open_segment(self, first_index):
        self._seg = {"boot_id": self._boot, "fs": self._seg_fs, "first_index": int(first_index),
                     "row_offset": self.rows, "rows": 0}
        self.segments.append(self._seg)
        self._written = int(first_index)
        for ch in self.channels:
            self._next[ch] = int(first_index)
            self._chunks[ch] = deque()

    def _gap(self, channel, start, count):
        if count <= 0:
            return
        for g in reversed(self.gaps[-len(self.channels):]):
            if (g["channel"] == channel and g["boot_id"] == self._boot
                    and g["first_index"] + g["count"] == start):
                g["count"] += int(count)
                return
        self.gaps.append({"boot_id": self._boot, "channel": int(channel),
                          "first_index": int(start), "count": int(count)})

    def _release_laggards(self):
        # A channel that stays silent while the others run on is declared missing
        # (a gap) after hold_s, so rows keep flowing to disk.
        if len(self.channels) < 2:
            return
        limit = max(self._next.values()) - int(self.hold_s * self._seg_fs)
        for ch in self.channels:
            if self._next[ch] < limit:
                self._gap(ch, self._next[ch], limit - self._next[ch])
                self._next[ch] = limit

    def _write_ready(self, ready):
        if self._seg is None or ready <= self._written:
            return
        start = self._written
        n = ready - start
        block = np.zeros((n, len(self.channels)), dtype=DTYPE)
        for ch in self.channels:
            col = self._col[ch]
            chunks = self._chunks[ch]
            while chunks:
                fi, arr = chunks[0]
                end = fi + len(arr)
                lo = max(fi, start)
                hi = min(end, ready)
                if hi > lo:
                    block[lo - start:hi - start, col] = arr[lo - fi:hi - fi]
                if end <= ready:
                    chunks.popleft()
                else:
                    break
        self._f.write(block.tobytes())
        self.rows += n
        self._seg["rows"] += n
        self._written = ready

    def _close_segment(self):
        if self._seg is None:
            return
        end = max(self._next.values())
        for ch in self.channels:
            if self._next[ch] < end:
                self._gap(ch, self._next[ch], end - self._next[ch])
                self._next[ch] = end
        self._write_ready(end)
        self._seg = None

    # ---- output

    def meta(self, complete=False) -> dict:
        return {
            "format": FORMAT, "version": FORMAT_VERSION, "dtype": "<i2",
            "channels": self.channels, "fs": self.fs,
            "segments": [dict(s) for s in self.segments if s["rows"] or s is self._seg],
            "gaps": [dict(g) for g in self.gaps],
            "discarded": self.discarded, "ignored": self.ignored,
            "rows": self.rows, "complete": complete,
        }

    def write_meta(self, complete=False) -> None:
        _write_private(self.meta_path, json.dumps(self.meta(complete), indent=1).encode())

    def flush(self) -> None:
        """Data to disk, then the sidecar that describes it."""
        if self.closed:
            return
        self._f.flush()
        os.fsync(self._f.fileno())
        self.write_meta()

    def close(self) -> None:
        if self.closed:
            return
        self._close_segment()
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()
        self.write_meta(complete=True)
        self.closed = True

    @property
    def gap_samples(self) -> int:
        return sum(g["count"] for g in self.gaps)


# ---------------------------------------------------------------- reading


@dataclass
class RawSegment:
    boot_id: int | None
    fs: int
    first_index: int
    data: np.ndarray  # shape (rows, channels), int16

    @property
    def rows(self) -> int:
        return self.data.shape[0]


@dataclass
class RawData:
    path: Path
    channels: list
    fs: int
    segments: list = field(default_factory=list)
    gaps: list = field(default_factory=list)
    discarded: int = 0
    complete: bool = True

    @property
    def samples(self) -> int:
        return sum(s.rows for s in self.segments)

    @property
    def gap_samples(self) -> int:
        return sum(g["count"] for g in self.gaps)

    def channel(self, ch: int, segment: int = 0) -> np.ndarray:
        return self.segments[segment].data[:, self.channels.index(ch)]

    def valid_mask(self, segment: int = 0) -> np.ndarray:
        """True where every channel holds received data (False inside gaps)."""
        seg = self.segments[segment]
        mask = np.ones(seg.data.shape, dtype=bool)
        for g in self.gaps:
            if g["boot_id"] != seg.boot_id:
                continue
            lo = max(g["first_index"], seg.first_index) - seg.first_index
            hi = min(g["first_index"] + g["count"], seg.first_index + seg.rows) - seg.first_index
            if hi > lo:
                mask[lo:hi, self.channels.index(g["channel"])] = False
        return mask


def raw_extent(path) -> dict:
    """{boot_id: (first, last sample index)} of the rows on disk, without reading them: the
    sidecar's segments, the last one as long as the file (rows written after the sidecar's
    last update, as after a crash). {} if the sidecar is unreadable."""
    path = Path(path)
    try:
        meta = json.loads(sidecar_path(path).read_text())
        nch = len(meta["channels"])
        segs = meta["segments"]
        total = path.stat().st_size // (DTYPE.itemsize * nch)
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError):
        return {}
    out: dict = {}
    for i, s in enumerate(segs):
        rows = s["rows"] if i < len(segs) - 1 else total - s["row_offset"]
        rows = min(rows, total - s["row_offset"])
        if rows <= 0:
            continue
        lo, hi = s["first_index"], s["first_index"] + rows - 1
        old = out.get(s["boot_id"])
        out[s["boot_id"]] = (min(lo, old[0]), max(hi, old[1])) if old else (lo, hi)
    return out


def load_raw(path, mmap: bool = False) -> RawData:
    """Read a raw file (give the .i16 or the .json path). mmap=True maps the samples instead
    of reading them (plots and exports of sessions of hours touch only what they use)."""
    path = Path(path)
    if path.suffix == ".json":
        path = path.with_suffix(".i16")
    meta = json.loads(sidecar_path(path).read_text())
    if meta.get("format") != FORMAT:
        raise ValueError("%s is not a myotwitch raw sidecar" % sidecar_path(path))
    channels = list(meta["channels"])
    nch = len(channels)
    if mmap and path.stat().st_size >= DTYPE.itemsize:
        flat = np.memmap(path, dtype=DTYPE, mode="r")
    else:
        flat = np.fromfile(path, dtype=DTYPE)
    total = len(flat) // nch
    table = flat[:total * nch].reshape(total, nch)
    segs = meta["segments"]
    out = RawData(path=path, channels=channels, fs=meta["fs"], gaps=meta.get("gaps", []),
                  discarded=meta.get("discarded", 0), complete=meta.get("complete", False))
    for i, s in enumerate(segs):
        off = s["row_offset"]
        rows = s["rows"]
        if i == len(segs) - 1 and not out.complete:
            rows = max(rows, total - off)  # rows written after the last sidecar update
        rows = min(rows, total - off)
        out.segments.append(RawSegment(s["boot_id"], s["fs"], s["first_index"], table[off:off + rows]))
    return out
