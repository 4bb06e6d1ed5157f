"""`myotwitch stream --lsl`: the device's raw samples and events as Lab Streaming Layer outlets,
so LabRecorder, OpenBCI GUI or BrainFlow users record it beside their other signals.

Two outlets, both with the device id as source_id (a restarted stream is found again):
  * "<name> EMG", type EMG: one channel per streamed channel, float32 microvolts (the board's
    scale; counts where the board is unknown, said in the channel metadata), at the device's rate;
  * "<name> events", type Markers, irregular rate: one JSON string per event
    ({"kind": "twitch", "channel": 0, "duration_ms": 12.0, "peak": 221, "area": 700, "seq": 41}),
    and one per button mark.
Time stamps are LSL's clock (pylsl.local_clock) at the moment each sample was taken by the
device, from the device's clock sync (TIME_SET), not from when the frame arrived: samples and
events line up with each other and with other streams to within the sync's round trip.

Samples of a multi-channel device arrive as one frame per channel; rows are pushed once every
channel has them. A frame lost on the link leaves a hole: the rows there are not pushed (the
time stamps jump; nothing is zero-filled) and counted in `lost_rows`.

`scope="machine"` keeps LSL on this computer (discovery on 127.0.0.1 only; for tests and for a
laptop recording by itself); the default is liblsl's own configuration (the local network).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from myotwitch.boards import uv_scale
from myotwitch.protocol import myoproto as mp
from myotwitch.record import channel_mask

SCOPES = ("machine", "link", "site")


class LslError(RuntimeError):
    pass


def pylsl_module(scope: str | None = None):
    """pylsl, configured for `scope` (only before anything else in the process used LSL)."""
    try:
        import pylsl
    except (ImportError, RuntimeError, OSError) as e:
        raise LslError("Lab Streaming Layer is not available (%s): `pip install pylsl`; on Linux "
                       "without a bundled liblsl see README, Live stream" % e) from None
    if scope is not None:
        if scope not in SCOPES:
            raise LslError("LSL scope must be one of %s" % ", ".join(SCOPES))
        cfg = "[multicast]\nResolveScope = %s\n[log]\nlevel = -2\n" % scope  # warnings up
        if scope == "machine":
            cfg += "[ports]\nIPv6 = disable\n"
        pylsl.set_config_content(cfg)
    return pylsl


@dataclass
class StreamResult:
    end_reason: str
    rows: int = 0
    events: int = 0
    marks: int = 0
    lost_rows: int = 0
    boots: list = field(default_factory=list)
    error: str | None = None


class _Rows:
    """Per-channel sample runs -> complete rows (every channel present), by sample index."""

    def __init__(self, channels):
        self.channels = list(channels)
        self.col = {c: i for i, c in enumerate(self.channels)}
        self.reset()

    def reset(self):
        self.runs = {c: [] for c in self.channels}  # [(first_index, array)]
        self.done = None  # rows below this index were emitted or given up

    def add(self, channel, first, samples):
        if channel in self.col and len(samples):
            self.runs[channel].append((first, np.asarray(samples, dtype=np.float32)))

    def ready(self):
        """(first index, rows (n, channels), lost rows) of what every channel now covers."""
        if any(not r for r in self.runs.values()):
            return None
        lo = min(r[0][0] for r in self.runs.values())
        if self.done is not None:
            lo = max(lo, self.done)
        hi = min(r[-1][0] + len(r[-1][1]) for r in self.runs.values())
        if hi <= lo:
            return None
        block = np.zeros((hi - lo, len(self.channels)), dtype=np.float32)
        have = np.zeros((hi - lo, len(self.channels)), dtype=bool)
        for c, runs in self.runs.items():
            i = self.col[c]
            keep = []
            for first, arr in runs:
                a, b = max(first, lo), min(first + len(arr), hi)
                if b > a:
                    block[a - lo:b - lo, i] = arr[a - first:b - first]
                    have[a - lo:b - lo, i] = True
                if first + len(arr) > hi:
                    keep.append((first, arr))
            self.runs[c] = keep
        self.done = hi
        full = have.all(axis=1)
        return lo, np.flatnonzero(full), block[full], int((~full).sum())


class LslStreamer:
    def __init__(self, device, name="myotwitch", channels=None, scope=None):
        self.pylsl = pylsl_module(scope)
        self.dev = device
        self.name = name
        self.hello = device.info or device.hello()
        self.fs = self.hello.fs
        self.channels = list(channels) if channels is not None else list(
            range(max(1, self.hello.channels)))
        self.scale, self.unit = uv_scale(self.hello.board)
        self.device_id = getattr(self.hello, "device_id", None) or self.hello.board
        self.rows = _Rows(self.channels)
        self.result = StreamResult("stopped")
        self.emg, self.markers = self._outlets()

    def _outlets(self):
        lsl = self.pylsl
        info = lsl.StreamInfo("%s EMG" % self.name, "EMG", len(self.channels), float(self.fs),
                              lsl.cf_float32, "myotwitch-%s-emg" % self.device_id)
        chans = info.desc().append_child("channels")
        for c in self.channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", "ch%d" % c)
            ch.append_child_value("unit", "microvolts" if self.unit == "uV" else "counts")
            ch.append_child_value("type", "EMG")
        info.desc().append_child_value("manufacturer", "myotwitch")
        info.desc().append_child_value("board", self.hello.board)
        info.desc().append_child_value("uv_per_count", repr(self.scale))
        ev = lsl.StreamInfo("%s events" % self.name, "Markers", 1, lsl.IRREGULAR_RATE,
                            lsl.cf_string, "myotwitch-%s-events" % self.device_id)
        ev.desc().append_child_value("manufacturer", "myotwitch")
        return lsl.StreamOutlet(info, chunk_size=0, max_buffered=60), lsl.StreamOutlet(ev)

    # ---- clock

    def sync(self):
        t = self.dev.time_set()
        self.boot = t["boot_id"]
        self.sync_ms, self.sync_idx = t["sync_ms"], t["sample_index"]
        # LSL's clock minus the wall clock, both now: device time -> LSL time
        self.offset = self.pylsl.local_clock() - time.time()
        self.result.boots.append(self.boot)

    def lsl_time(self, index) -> np.ndarray:
        idx = np.asarray(index, dtype=np.float64)
        return self.offset + (self.sync_ms + (idx - self.sync_idx) * 1000.0 / self.fs) / 1000.0

    # ---- messages

    def handle(self, msg):
        t = msg.type
        if t == mp.SAMPLES:
            self.rows.add(msg["channel"], msg["first_index"], msg["samples"])
            got = self.rows.ready()
            if got is not None:
                lo, where, block, lost = got
                self.result.lost_rows += lost
                if len(block):
                    self.emg.push_chunk(block * self.scale,
                                        timestamp=list(self.lsl_time(lo + where)))
                    self.result.rows += len(block)
        elif t == mp.EVENT:
            f = msg.fields
            kind = mp.KIND_NAMES[f["kind"]] if 0 <= f["kind"] < len(mp.KIND_NAMES) else str(f["kind"])
            self.markers.push_sample([json.dumps({
                "kind": kind, "channel": f["channel"],
                "duration_ms": round(f["duration"] * 1000.0 / self.fs, 1), "peak": f["peak"],
                "area": f["area"], "seq": msg.seq, "onset": f["onset"]})],
                float(self.lsl_time(f["onset"])))
            self.result.events += 1
        elif t == mp.MARK:
            self.markers.push_sample([json.dumps({"kind": "mark", "source": msg["source"],
                                                  "seq": msg.seq})],
                                     float(self.lsl_time(msg["sample_index"])))
            self.result.marks += 1
        elif t == mp.HELLO and msg["boot_id"] != self.boot:
            # the device restarted: new clock, the stream asked for again
            self.rows.reset()
            self.sync()
            self.dev.stream_start(channel_mask(self.channels))

    def run(self, duration=None, stop: threading.Event | None = None) -> StreamResult:
        from myotwitch.link import LinkError, LinkLost

        self.sync()
        self.dev.stream_start(channel_mask(self.channels))
        deadline = None if duration is None else time.monotonic() + duration
        reason = "duration" if duration is not None else "stopped"
        try:
            while True:
                if stop is not None and stop.is_set():
                    reason = "stopped"
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    reason = "duration"
                    break
                msg = self.dev.recv(0.1)
                if msg is not None:
                    self.handle(msg)
        except KeyboardInterrupt:
            reason = "interrupted"
        except LinkLost as e:
            reason, self.result.error = "device disconnected", str(e)
        except LinkError as e:
            reason, self.result.error = "error", str(e)
        if self.dev.link.alive:
            try:
                self.dev.stream_stop(timeout=1.0)
            except LinkError:
                pass
        self.result.end_reason = reason
        return self.result

    def close(self):
        # outlets go away with their objects; dropping them ends the streams for inlets
        self.emg = self.markers = None

