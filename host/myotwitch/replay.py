"""Replaying the device's detector on the host (`myotwitch replay`): on a bundled recording, a
file of ADC counts, a raw file made by `record --raw` (`raw/N.i16`), or a recorded session by
its id; with one or several detector settings, side by side.

A source becomes *runs*: stretches of one channel whose samples are all real (a raw file's
gaps, where frames were lost and zeros were written, end a run), each with the device's sample
index of its first sample, so that onsets are in the device's own time. The detector starts
afresh at each run, as it does at each stream start on the device.

    src = open_source("3", store=store)           # session 3 (or a path, or a bundled name)
    result = replay(src, [("recorded", None), ("mine.json", params)])
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from myotwitch import detect
from myotwitch.detparams import check_params
from myotwitch.protocol import myoproto as mp

MATCH_MS = 25  # events of two settings this close (the bench's onset tolerance) are one event


class SourceError(ValueError):
    pass


@dataclass
class Run:
    channel: int
    name: str
    fs: int  # Hz (a file's may say anything: replay() checks it, detect.check_fs)
    first_index: int
    samples: np.ndarray | None  # None: read from the source's file while it is replayed
    boot_id: int | None = None
    recorded: dict | None = None  # the detector settings the device used, if known


@dataclass
class Source:
    label: str  # what was asked for, e.g. "session 3" or a path
    runs: list = field(default_factory=list)
    duration_s: float = 0.0
    gaps: int = 0  # stretches of zeros written for lost frames (each ends a run)
    kind: str = "recording"  # recording | raw | session
    path: Path | None = None  # a file read chunk by chunk as it is replayed (runs hold no samples)
    fs_given: float | None = None  # --fs, for a file read that way

    @property
    def channels(self) -> list:
        return sorted({r.channel for r in self.runs})


def _raw_runs(raw, recorded_by_boot=None) -> tuple[list, int]:
    runs, gaps = [], 0
    for si, seg in enumerate(raw.segments):
        valid = raw.valid_mask(si)
        for col, ch in enumerate(raw.channels):
            ok = valid[:, col]
            # runs of valid samples: where ok switches
            edges = np.flatnonzero(np.diff(np.concatenate(([0], ok.view(np.int8), [0]))))
            gaps += max(0, len(edges) // 2 - 1)
            for lo, hi in zip(edges[::2], edges[1::2]):
                runs.append(Run(ch, "ch%d" % ch, seg.fs, seg.first_index + int(lo),
                                seg.data[lo:hi, col], seg.boot_id,
                                (recorded_by_boot or {}).get(seg.boot_id)))
    return runs, gaps


def _duration(runs) -> float:
    return max((len(r.samples) / r.fs for r in runs), default=0.0)


def open_raw(path) -> Source:
    """A raw file of `record --raw` (the .i16, with its .json sidecar beside it)."""
    from myotwitch.rawfile import load_raw, sidecar_path

    path = Path(path)
    if not sidecar_path(path).exists():
        raise SourceError("%s: a raw file needs its sidecar %s (written by `record --raw`)"
                          % (path, sidecar_path(path).name))
    try:
        raw = load_raw(path)
    except (OSError, ValueError, KeyError) as e:
        raise SourceError("%s: not a readable myotwitch raw file (%s)" % (path, e)) from None
    runs, gaps = _raw_runs(raw)
    return Source(str(path), runs, sum(s.rows for s in raw.segments) / raw.fs, gaps, "raw")


def open_session(store, session_id: int) -> Source:
    """A session recorded with --raw: its raw file, with the detector settings it ran with."""
    from myotwitch.rawfile import load_raw

    if store is None:
        raise SourceError("no session %d: there is no store yet (see `myotwitch sessions`)"
                          % session_id)
    path = store.session_raw(session_id, "replay")
    recorded = {}
    for b in store.session_boots(session_id):
        if b["detector_config"]:
            recorded[b["boot_id"]] = check_params(json.loads(b["detector_config"]))
    raw = load_raw(path)
    runs, gaps = _raw_runs(raw, recorded)
    return Source("session %d" % session_id, runs,
                  sum(s.rows for s in raw.segments) / raw.fs, gaps, "session")


def open_file(path, fs=None) -> Source:
    """A file of ADC counts (CSV, NPY, WAV, EDF), read chunk by chunk while it is replayed: a
    day at 1 kHz replays in the memory of a few chunks, not of the day."""
    from myotwitch import readers

    with readers.open_file(path, fs) as rd:
        runs = [Run(ch, c.name, c.fs, 0, None) for ch, c in enumerate(rd.channels)]
    return Source(str(path), runs, path=Path(path), fs_given=fs)


def open_recording(name_or_path, fs=None) -> Source:
    """A bundled recording by name (or a folder in the bundled layout), or a file (open_file)."""
    if Path(name_or_path).is_file():
        return open_file(name_or_path, fs)
    from myotwitch import recordings

    runs = [Run(ch, sig.name, sig.fs, 0, sig.samples)
            for ch, sig in enumerate(recordings.signals(name_or_path, fs))]
    return Source(str(name_or_path), runs, _duration(runs))


def open_source(what: str, store=None, fs=None) -> Source:
    """`what`: an existing file (a raw file if it ends in .i16), a session id, or a bundled
    recording's name."""
    if not what:
        raise SourceError("give a recording: a bundled name, a file, or a session id")
    p = Path(what)
    if p.is_file():
        return open_raw(p) if p.suffix == ".i16" else open_file(p, fs)
    if what.isdigit():
        return open_session(store, int(what))
    return open_recording(what, fs)


def pick_channel(src: Source, channel: str | None) -> Source:
    if channel is None:
        return src
    names = {}
    for r in src.runs:
        names.setdefault(r.name, r.channel)
    if channel.isdigit() and int(channel) in src.channels:
        keep = int(channel)
    elif channel in names:
        keep = names[channel]
    else:
        raise SourceError("no channel %r; this recording has %s" % (
            channel, ", ".join("%d (%s)" % (c, n) for n, c in sorted(names.items(),
                                                                     key=lambda x: x[1]))))
    src.runs = [r for r in src.runs if r.channel == keep]
    return src


@dataclass
class Result:
    source: Source
    labels: list  # one per setting
    params: list  # the settings each label ran with (None: each run's recorded settings)
    events: list = field(default_factory=list)  # dicts, each with "settings" (its label)

    def add(self, label, run, ev) -> None:
        for d in detect.events_to_dicts(ev, run.fs):
            d["channel_name"] = run.name
            d["settings"] = label
            if run.boot_id is not None:
                d["boot_id"] = "%08x" % run.boot_id
            self.events.append(d)

    def counts(self, label) -> dict:
        out = {k: 0 for k in mp.KIND_NAMES}
        for e in self.events:
            if e["settings"] == label:
                out[e["kind"]] += 1
        return out

    def differences(self, ms=MATCH_MS) -> list:
        """Events that not every setting found alike: [(channel, onset_s, {label: event or
        None})], an event being the same under two settings if its onset is within `ms` and
        its kind is the same."""
        if len(self.labels) < 2:
            return []
        by_ch: dict = {}
        for e in self.events:
            by_ch.setdefault(e["channel"], []).append(e)
        out = []
        for ch, evs in sorted(by_ch.items()):
            evs.sort(key=lambda e: e["onset_s"])
            groups: list = []
            for e in evs:
                g = groups[-1] if groups else None
                if g is not None and e["onset_s"] - g["t"] <= ms / 1000.0 \
                        and e["settings"] not in g["by"]:
                    g["by"][e["settings"]] = e
                else:
                    groups.append({"t": e["onset_s"], "by": {e["settings"]: e}})
            for g in groups:
                found = [g["by"].get(lab) for lab in self.labels]
                kinds = {e["kind"] if e else None for e in found}
                if len(kinds) > 1:
                    out.append((ch, g["t"], dict(zip(self.labels, found))))
        return out


def _chunks(src: Source):
    """(run, samples) in the order they were recorded: a file's as they are read (the
    duration is known at its end), the others' whole."""
    if src.path is None:
        for run in src.runs:
            yield run, run.samples
        return
    from myotwitch import readers

    counted = [0] * len(src.runs)
    with readers.open_file(src.path, src.fs_given) as rd:
        for parts in rd.chunks():
            for i, run in enumerate(src.runs):
                counted[i] += len(parts[run.channel])
                yield run, parts[run.channel]
    src.duration_s = max((n / r.fs for r, n in zip(src.runs, counted)), default=0.0)


def replay(src: Source, settings) -> Result:
    """Run the detector over every run of `src` once per setting: `settings` is a list of
    (label, params or None); None means each run's recorded settings (the device's defaults
    where nothing was recorded)."""
    labels = [lab for lab, _ in settings]
    for run in src.runs:  # the rate of every channel asked for (a file's header may say anything)
        try:
            run.fs = detect.check_fs(run.fs)
        except detect.DetectError as e:
            raise SourceError("%s: channel %s: %s%s" % (
                src.label, run.name, e, "; or pick a channel with --channel"
                if len({r.channel for r in src.runs}) > 1 else "")) from None
    res = Result(src, labels, [p for _, p in settings])
    streams = [(label, run, detect.Stream(
        run.fs, params if params is not None else (run.recorded or check_params({})),
        channel=run.channel, first_index=run.first_index))
        for label, params in settings for run in src.runs]
    for run, chunk in _chunks(src):
        for label, r, s in streams:
            if r is run:
                res.add(label, run, s.feed(chunk))
    for label, run, s in streams:
        res.add(label, run, s.flush())
    res.events.sort(key=lambda d: (d["onset_s"], d["channel"], labels.index(d["settings"])))
    return res
