"""Re-run detection on a session's raw samples and compare with the events the device sent.

The device restarts its detectors at the first streamed sample (firmware/app.py stream_start),
so from that sample on, the NumPy twin (detect.py) fed the same raw samples with the same
settings must produce the same events, bit for bit. Per boot of the session:

- comparable window: from the first raw sample of the boot's first raw segment up to its last
  sample, or up to the first gap (lost SAMPLES frames, written as zeros) on that channel: the
  device saw real samples there, so nothing after a gap can be re-run;
- an event is matched by (channel, onset); `differing` = same onset, other fields differ;
  `missing` = the re-run finds it but the session has no such event (lost or deleted);
  `extra` = the session has it but the re-run does not;
- not compared, and reported as such, never as differences: events before the raw stream
  began, events whose offset lies past the last raw sample or that end so close to it that the
  device decided them on samples the raw file does not hold ("beyond raw data"), and events in
  boots or channels without raw samples.

Field values are compared as they travel on the wire (duration saturates at 4095 samples,
peak and area at 65535).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from myotwitch import detect
from myotwitch.detparams import describe
from myotwitch.protocol import myoproto as mp
from myotwitch.rawfile import load_raw

FIELDS = ("duration", "kind", "peak", "area")


class VerifyError(Exception):
    pass


@dataclass
class Pair:
    boot_id: int
    channel: int
    onset: int
    device: dict | None  # the stored event (None: missing)
    host: dict | None  # the re-run's event (None: extra or not compared)
    status: str  # matched, differing, missing, extra, before raw data, beyond raw data, raw gap, no raw data


@dataclass
class BootCheck:
    boot_id: int
    fs: int
    first_index: int | None
    end_index: int | None  # one past the last raw sample
    params: dict
    params_recorded: bool
    samples: int = 0


@dataclass
class Verification:
    session_id: int
    boots: list = field(default_factory=list)
    pairs: list = field(default_factory=list)

    def count(self, status) -> int:
        return sum(1 for p in self.pairs if p.status == status)

    @property
    def problems(self) -> int:
        return sum(self.count(s) for s in ("differing", "missing", "extra"))

    @property
    def agree(self) -> bool:
        return self.problems == 0 and all(b.params_recorded for b in self.boots)


def _wire(ev: dict) -> dict:
    return {"onset": int(ev["onset"]) & 0xFFFFFFFF,
            "duration": min(int(ev["duration"]), mp.DURATION_MAX), "kind": int(ev["kind"]),
            "channel": int(ev["channel"]), "peak": min(int(ev["peak"]), 0xFFFF),
            "area": min(int(ev["area"]), 0xFFFF)}


def _compare_channel(out, boot_id, ch, dev_events, host_events, lo, hi, settle, seg_end):
    """hi: one past the last sample the re-run used (a gap's start, or seg_end)."""
    host = {e["onset"]: e for e in host_events}
    for d in dev_events:
        h = host.pop(d["onset"], None)
        offset = d["onset"] + d["duration"]
        if h is not None:
            same = all(d[f] == h[f] for f in FIELDS)
            out.append(Pair(boot_id, ch, d["onset"], d, h, "matched" if same else "differing"))
        elif d["onset"] < lo:
            out.append(Pair(boot_id, ch, d["onset"], d, None, "before raw data"))
        elif offset + settle > seg_end:
            out.append(Pair(boot_id, ch, d["onset"], d, None, "beyond raw data"))
        elif offset + settle > hi:
            out.append(Pair(boot_id, ch, d["onset"], d, None, "raw gap"))
        else:
            out.append(Pair(boot_id, ch, d["onset"], d, None, "extra"))
    for h in host.values():
        out.append(Pair(boot_id, ch, h["onset"], None, h, "missing"))


def verify_session(store, session_id: int) -> Verification:
    path = store.session_raw(session_id, "verify")
    raw = load_raw(path)
    out = Verification(session_id)
    events: dict = {}
    for e in store.events(session_id):
        events.setdefault((e["boot_id"], e["channel"]), []).append(_wire(dict(e)))
    for b in store.session_boots(session_id):
        boot_id = b["boot_id"]
        stored = b["detector_config"] if "detector_config" in b.keys() else None
        params = dict(detect.DEFAULTS)
        if stored:
            params.update(json.loads(stored))
        segs = [i for i, s in enumerate(raw.segments) if s.boot_id == boot_id]
        channels = sorted({ch for (bid, ch) in events if bid == boot_id} | set(raw.channels))
        if not segs:
            chk = BootCheck(boot_id, b["fs"], None, None, params, bool(stored))
            out.boots.append(chk)
            for ch in channels:
                for d in events.get((boot_id, ch), []):
                    out.pairs.append(Pair(boot_id, ch, d["onset"], d, None, "no raw data"))
            continue
        si = segs[0]  # only the first segment of a boot starts where the detectors restarted
        seg = raw.segments[si]
        try:
            detect.check_fs(seg.fs)
        except detect.DetectError as e:
            raise VerifyError("session %d, boot %08x: %s" % (session_id, boot_id, e)) from None
        chk = BootCheck(boot_id, seg.fs, seg.first_index, seg.first_index + seg.rows, params,
                        bool(stored), seg.rows)
        out.boots.append(chk)
        valid = raw.valid_mask(si)
        settle = detect.settle_samples(params, seg.fs)
        for ch in channels:
            dev = sorted(events.get((boot_id, ch), []), key=lambda e: e["onset"])
            if ch not in raw.channels:
                out.pairs += [Pair(boot_id, ch, d["onset"], d, None, "no raw data") for d in dev]
                continue
            col = raw.channels.index(ch)
            bad = np.flatnonzero(~valid[:, col])
            n = int(bad[0]) if len(bad) else seg.rows
            ev = detect.detect(seg.data[:n, col], seg.fs, params, channel=ch,
                               first_index=seg.first_index)
            host = [_wire({k: ev[k][i] for k in ("onset", "duration", "kind", "channel", "peak", "area")})
                    for i in range(len(ev))]
            _compare_channel(out.pairs, boot_id, ch, dev, host, seg.first_index,
                             seg.first_index + n, settle, seg.first_index + seg.rows)
    if not any(b.first_index is not None for b in out.boots):
        raise VerifyError("session %d: the raw file holds no samples to re-run" % session_id)
    out.pairs.sort(key=lambda p: (p.boot_id, p.channel, p.onset))
    return out


STATUSES = ("matched", "differing", "missing", "extra", "before raw data", "beyond raw data",
            "raw gap", "no raw data")


def _fmt(ev):
    if ev is None:
        return "-"
    kind = mp.KIND_NAMES[ev["kind"]] if ev["kind"] < len(mp.KIND_NAMES) else "kind %d" % ev["kind"]
    return "%s %d/%d/%d" % (kind, ev["duration"], ev["peak"], ev["area"])


def _rerun(p) -> str:
    """What the re-run says of an event, in at most 16 characters."""
    if p.device is None:
        return "only in re-run"
    if p.host is None:
        return "not found" if p.status == "extra" else ""
    diff = ["%s %s" % (k, p.host[k]) for k in ("kind", "duration", "peak", "area")
            if p.host[k] != p.device[k]]
    return ", ".join(diff)[:16]


def _event_json(ev):
    if ev is None:
        return None
    kind = mp.KIND_NAMES[ev["kind"]] if ev["kind"] < len(mp.KIND_NAMES) else str(ev["kind"])
    return {"kind": kind, "duration": ev["duration"], "peak": ev["peak"], "area": ev["area"]}


def verification_json(v: Verification) -> dict:
    """The verification as machine output (README, Machine output)."""
    return {
        "agree": v.agree, "problems": v.problems,
        "counts": {s: v.count(s) for s in STATUSES},
        "boots": [{"boot_id": "%08x" % b.boot_id, "fs": b.fs, "first_index": b.first_index,
                   "end_index": b.end_index, "params": b.params,
                   "params_recorded": b.params_recorded} for b in v.boots],
        "pairs": [{"boot_id": "%08x" % p.boot_id, "channel": p.channel, "onset": p.onset,
                   "status": p.status, "device": _event_json(p.device),
                   "rerun": _event_json(p.host)} for p in v.pairs],
    }


def format_verification(v: Verification, all_rows=False) -> list[str]:
    """Lines of text, at most 80 columns but for the settings line. Events are written
    `kind duration/peak/area` (duration in samples)."""
    lines = []
    for b in v.boots:
        where = ("raw samples %d..%d (%.1f s at %d Hz)" % (b.first_index, b.end_index - 1,
                                                        b.samples / b.fs, b.fs)
                 if b.first_index is not None else "no raw samples")
        lines.append("boot %08x: %s; detector %s%s" % (
            b.boot_id, where, describe(b.params),
            "" if b.params_recorded else " (NOT recorded with the session: defaults assumed)"))
    shown = [p for p in v.pairs if all_rows or p.status != "matched"]
    if shown:
        lines.append("%-8s %1s %8s  %-15s %-26s %s" % ("boot", "c", "time s", "status",
                                                     "event (kind dur/peak/area)", "re-run"))
        fs = {b.boot_id: b.fs for b in v.boots}
        for p in shown:
            lines.append(("%08x %1d %8.3f  %-15s %-26s %s" % (
                p.boot_id, p.channel, p.onset / fs[p.boot_id], p.status[:15],
                _fmt(p.device if p.device is not None else p.host), _rerun(p))).rstrip())
    lines.append("  ".join("%s %d" % (s, v.count(s)) for s in STATUSES if s in ("matched", "differing",
                                                                            "missing", "extra")
                           or v.count(s)))
    if v.agree:
        lines.append("AGREE: the device's events and the re-run on the raw samples are identical "
                     "(%d events compared)" % v.count("matched"))
    elif v.problems == 0:
        lines.append("UNVERIFIED: no differences, but the detector settings were not recorded "
                     "with the session")
    else:
        lines.append("DIFFER: %d event(s) differ between the device and the re-run "
                     "(missing = found by the re-run, not in the session; extra = in the session, "
                     "not found by the re-run)" % v.problems)
    return lines
