"""Recording a session: everything the device sends, into the store.

`record_session` syncs the device clock (TIME_SET), optionally starts the raw
stream, and stores EVENT, MARK and STATUS messages (and SAMPLES into the raw
file) in small transactions until the duration is over, `stop` is set, the
device goes away, or the user presses Ctrl-C. Whatever the reason, it ends
the same way: stop the stream, take what is still in flight, commit, close
the raw file, and close the session with its link statistics.

A device reboot in the middle (a new HELLO) is part of the session: a new
boot row, a new time sync, the raw stream restarted, the same session id.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from dataclasses import dataclass, field

from myotwitch.link import Device, HelloInfo, LinkError, LinkLost
from myotwitch.protocol import myoproto as mp
from myotwitch.rawfile import RawWriter

FLUSH_INTERVAL = 0.5  # seconds between commits
DRAIN_TIME = 0.3  # seconds to wait for frames in flight at the end


@dataclass
class RecordResult:
    session_id: int
    end_reason: str
    events: int = 0
    marks: int = 0
    status: int = 0
    samples: int = 0
    gap_samples: int = 0
    boots: list = field(default_factory=list)
    link_stats: dict = field(default_factory=dict)
    error: str | None = None


def channel_mask(channels) -> int:
    mask = 0
    for c in channels:
        mask |= 1 << int(c)
    return mask


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM ends a recording like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


@contextlib.contextmanager
def _no_interrupts():
    # The closing steps must not be cut short by a second Ctrl-C.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


class _Recorder:
    def __init__(self, device: Device, store, raw, channels, on_message, device_key, notes):
        self.dev = device
        self.link = device.link
        self.store = store
        self.raw = raw
        self.on_message = on_message
        self.events: list = []
        self.marks: list = []
        self.status: list = []
        self.ranges: dict = {}  # boot_id -> [first, last] sample index seen since last flush
        self.counts = {"events": 0, "marks": 0, "status": 0, "samples": 0}
        self.boots: list = []
        self.began: set = set()  # boots that started during the session
        self.seq_resets = 0

        hello = device.info or device.hello()
        self.dev_id = store.upsert_device_from_hello(hello, key=device_key)
        store.upsert_boot_from_hello(self.dev_id, hello)
        self.fs = hello.fs
        chans = list(channels) if channels is not None else list(range(max(1, hello.channels)))
        self.mask = channel_mask(chans)
        self.sid = store.new_session(self.dev_id, raw=raw, channels=chans, fs=hello.fs, notes=notes)
        self.writer = None
        if raw:
            store.raw_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.writer = RawWriter(store.raw_path(self.sid), chans, hello.fs)
        self._enter_boot(hello, first=True)

    # ---- boots

    def _enter_boot(self, hello: HelloInfo, first=False):
        if not first:
            self.flush()
            self.store.upsert_boot_from_hello(self.dev_id, hello)
            self.began.add(hello.boot_id)
        self.boot = hello.boot_id
        self.fs = hello.fs
        self.boots.append(hello.boot_id)
        self.store.add_session_boot(self.sid, self.dev_id, hello.boot_id)
        if self.writer is not None:
            self.writer.begin_boot(hello.boot_id, hello.fs)

    def start_device(self):
        """Clock sync and (raw) stream start for the current boot."""
        self.sync()
        if self.raw:
            # The device restarts its detectors at stream start with these settings: kept so
            # `myotwitch verify` can re-run the same detection on the raw samples.
            values = self.dev.config_get()
            self.store.set_detector_config(self.sid, self.boot, {
                k: v for k, v in values.items() if k.startswith("det_")})
            self.dev.stream_start(self.mask)

    def sync(self):
        t = self.dev.time_set()
        if t["boot_id"] != self.boot:
            # Rebooted between its HELLO and now: learn the new boot first.
            self._enter_boot(self.dev.hello())
            t = self.dev.time_set()
        self.store.set_boot_sync(self.dev_id, t["boot_id"], t["sync_ms"], t["sample_index"], t["rtt_ms"])
        if "dropped" in t:  # firmware that says: the session's own drops are the difference
            self.store.note_dropped(self.sid, self.boot, t["dropped"], self.boot in self.began)
        self._seen(t["sample_index"], t["sample_index"])

    def _seen(self, lo, hi):
        r = self.ranges.get(self.boot)
        if r is None:
            self.ranges[self.boot] = [lo, hi]
        else:
            r[0] = min(r[0], lo)
            r[1] = max(r[1], hi)

    # ---- messages

    def handle(self, msg):
        t = msg.type
        now = time.time()
        if t == mp.EVENT:
            f = msg.fields
            self.events.append((self.boot, {
                "seq": msg.seq, "onset": f["onset"], "duration": f["duration"], "kind": f["kind"],
                "channel": f["channel"], "peak": f["peak"], "area": f["area"], "received_at": now}))
            self._seen(f["onset"], f["onset"] + f["duration"])
        elif t == mp.MARK:
            self.marks.append((self.boot, {"seq": msg.seq, "sample_index": msg["sample_index"],
                                           "source": msg["source"], "received_at": now}))
            self._seen(msg["sample_index"], msg["sample_index"])
        elif t == mp.STATUS:
            d = dict(msg.fields)
            d["seq"] = msg.seq
            d["received_at"] = now
            self.status.append((self.boot, d))
            self._seen(d["sample_index"], d["sample_index"])
        elif t == mp.SAMPLES:
            n = len(msg["samples"])
            if self.writer is not None:
                self.writer.add(msg["channel"], msg["first_index"], msg["samples"], self.boot)
                self.counts["samples"] += n
            if n:
                self._seen(msg["first_index"], msg["first_index"] + n - 1)
        elif t == mp.HELLO:
            info = HelloInfo.from_message(msg)
            if info.boot_id != self.boot:
                self._enter_boot(info)
                self.start_device()
        if self.on_message is not None:
            self.on_message(msg)

    def check_reset(self):
        # Frame counter went backwards without a HELLO: the boot HELLO was lost. Ask.
        resets = self.link.tracker.seq_resets
        if resets != self.seq_resets:
            self.seq_resets = resets
            info = self.dev.hello()
            if info.boot_id != self.boot:
                self._enter_boot(info)
                self.start_device()

    def flush(self):
        s = self.store
        with s.transaction():
            for table, items in (("events", self.events), ("marks", self.marks), ("status", self.status)):
                by_boot: dict = {}
                for boot, item in items:
                    by_boot.setdefault(boot, []).append(item)
                for boot, group in by_boot.items():
                    if table == "events":
                        self.counts["events"] += s.add_events(self.sid, self.dev_id, boot, group)
                    elif table == "marks":
                        self.counts["marks"] += s.add_marks(self.sid, self.dev_id, boot, group)
                    else:
                        self.counts["status"] += s.add_status(self.sid, self.dev_id, boot, group)
            for boot, (lo, hi) in self.ranges.items():
                s.note_samples(self.sid, boot, lo, hi)
            s.set_link_stats(self.sid, self.link.stats.as_dict())
        self.events.clear()
        self.marks.clear()
        self.status.clear()
        self.ranges.clear()
        if self.writer is not None:
            self.writer.flush()

    def drain(self, seconds):
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            try:
                msg = self.link.recv(max(0.0, left) if left > 0 else 0)
            except LinkLost:
                return
            if msg is None:
                return
            self.handle(msg)

    def finish(self, end_reason, stop_stream):
        link_ok = self.link.alive
        if link_ok and stop_stream:
            try:
                self.dev.stream_stop(timeout=1.0)
            except LinkError:
                link_ok = False
        if link_ok:
            with contextlib.suppress(LinkError):
                self.sync()  # a last clock point: exact end of the session in sample time
        self.drain(DRAIN_TIME if link_ok else 0)
        self.flush()
        if self.writer is not None:
            self.writer.close()
        stats = self.link.stats.as_dict()
        self.store.end_session(self.sid, link_stats=stats, end_reason=end_reason)
        return RecordResult(
            session_id=self.sid, end_reason=end_reason, events=self.counts["events"],
            marks=self.counts["marks"], status=self.counts["status"], samples=self.counts["samples"],
            gap_samples=self.writer.gap_samples if self.writer is not None else 0,
            boots=list(self.boots), link_stats=stats)


def record_session(device: Device, store, duration=None, raw=False, on_message=None, channels=None,
                   stop: threading.Event | None = None, device_key=None, notes=None,
                   flush_interval=FLUSH_INTERVAL) -> RecordResult:
    """Record until `duration` seconds (host clock) pass, `stop` is set, the link is lost or
    Ctrl-C. Returns a RecordResult; the session is closed and committed in every case.

    raw: also start the raw stream and write it to raw/<session>.i16.
    channels: channels to stream (default: all the device has).
    on_message: called with every unsolicited message after it is handled.
    """
    rec = _Recorder(device, store, raw, channels, on_message, device_key, notes)
    end_reason = "duration" if duration is not None else "stopped"
    error = None
    try:
        deadline = None if duration is None else time.monotonic() + duration
        rec.start_device()
        last_flush = time.monotonic()
        while True:
            if stop is not None and stop.is_set():
                end_reason = "stopped"
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                end_reason = "duration"
                break
            wait = 0.1 if deadline is None else max(0.0, min(0.1, deadline - now))
            msg = rec.link.recv(wait)
            if msg is not None:
                rec.handle(msg)
            rec.check_reset()
            if time.monotonic() - last_flush >= flush_interval:
                rec.flush()
                last_flush = time.monotonic()
    except KeyboardInterrupt:
        end_reason = "interrupted"
    except LinkLost as e:
        end_reason = "device disconnected"
        error = str(e)
    except LinkError as e:  # DeviceError (a NACK), LinkTimeout
        end_reason = "error"
        error = str(e)
    except BaseException as e:  # a bug or a store failure: close what we can, then re-raise
        with _no_interrupts(), contextlib.suppress(Exception):
            rec.finish("error: %s" % type(e).__name__, raw)
        raise
    with _no_interrupts():
        result = rec.finish(end_reason, raw)
    result.error = error
    return result
