"""Recording a session: everything the device sends, into the store.

`record_session` syncs the device clock (TIME_SET), optionally starts the raw
stream, and stores EVENT, MARK and STATUS messages (and SAMPLES into the raw
file) in small transactions until the duration is over, `stop` is set, the
device goes away, or the user presses Ctrl-C. Whatever the reason, it ends
the same way: stop the stream, take what is still in flight, commit, close
the raw file, and close the session with its link statistics.

A device reboot in the middle (a new HELLO) is part of the session: a new
boot row, a new time sync, the raw stream restarted, the same session id.

The store may fail while a session runs (another program holds it locked, the disk is full,
the file turned read-only): the recording goes on. Raw samples keep going to the raw file;
everything else waits in memory (at most MAX_BUFFERED records; past that, records stay only in
the device's flash log, where `pull` finds them) and the next flush tries again. A warning
says so when it starts and when the store works again. A recording killed outright (kill -9)
leaves its session open: the next command that writes the store closes it
(Store.close_interrupted_sessions) and `pull` attaches what the device logged to it.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from dataclasses import dataclass, field

from myotwitch import private
from myotwitch.link import Device, HelloInfo, LinkError, LinkLost
from myotwitch.protocol import myoproto as mp
from myotwitch.rawfile import RawWriter
from myotwitch.store import StoreError, StoreFault, valid_device_id

FLUSH_INTERVAL = 0.5  # seconds between commits
DRAIN_TIME = 0.3  # seconds to wait for frames in flight at the end
STORE_WAIT = 0.2  # seconds a commit waits for another program's lock before trying later
FINAL_WAIT = 30.0  # seconds the end of a session waits for a failing store
# Records held in memory while the store fails (about 0.7 KB each: at most ~70 MB). At one
# STATUS per 5 s and a few events a minute, that is days.
MAX_BUFFERED = 100_000


def _warn_stderr(text):
    sys.stderr.write("myotwitch: warning: %s\n" % text)
    sys.stderr.flush()


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
    left_on_device: int = 0  # records not held while the store failed (in the device's log)
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
    def __init__(self, device: Device, store, raw, channels, on_message, device_key, notes,
                 warn):
        self.dev = device
        self.link = device.link
        self.store = store
        self.raw = raw
        self.on_message = on_message
        self.warn = warn
        # What waits for the next commit: store steps (boot rows, clock syncs, settings) in
        # order, then the records; while the store fails they stay here (bounded) and the next
        # flush tries again.
        self.ops: list = []
        self.events: list = []
        self.marks: list = []
        self.status: list = []
        self.ranges: dict = {}  # boot_id -> [first, last] sample index seen since last flush
        self.counts = {"events": 0, "marks": 0, "status": 0, "samples": 0}
        self.left_on_device = 0  # records not held in memory (the buffer was full)
        self.failing = None  # the StoreFault of the store's current failure, if any
        self.boots: list = []
        self.began: set = set()  # boots that started during the session
        self.seq_resets = 0

        hello = device.info or device.hello()
        key = device_key or valid_device_id(device.identify())
        self.dev_id = store.upsert_device_from_hello(hello, key=key)
        self.fs = hello.fs
        chans = list(channels) if channels is not None else list(range(max(1, hello.channels)))
        self.mask = channel_mask(chans)
        self.sid = store.new_session(self.dev_id, raw=raw, channels=chans, fs=hello.fs, notes=notes)
        self.writer = None
        if raw:
            private.make_dir(store.raw_dir)
            self.writer = RawWriter(store.raw_path(self.sid), chans, hello.fs)
        self._enter_boot(hello)
        self.flush()
        if self.failing is not None:
            raise self.failing
        store.busy_wait(STORE_WAIT)  # from now on a busy store never stalls the recording

    # ---- boots

    def _enter_boot(self, hello: HelloInfo):
        if self.boots:
            self.began.add(hello.boot_id)
        self.ops.append(lambda s: s.upsert_boot_from_hello(self.dev_id, hello))
        self.ops.append(lambda s: s.add_session_boot(self.sid, self.dev_id, hello.boot_id))
        self.boot = hello.boot_id
        self.fs = hello.fs
        self.boots.append(hello.boot_id)
        if self.writer is not None:
            self.writer.begin_boot(hello.boot_id, hello.fs)

    def start_device(self):
        """Clock sync and (raw) stream start for the current boot."""
        self.sync()
        if self.raw:
            # The device restarts its detectors at stream start with these settings: kept so
            # `myotwitch verify` can re-run the same detection on the raw samples.
            values = self.dev.config_get()
            boot, det = self.boot, {k: v for k, v in values.items() if k.startswith("det_")}
            self.ops.append(lambda s: s.set_detector_config(self.sid, boot, det))
            self.dev.stream_start(self.mask)

    def sync(self):
        t = self.dev.time_set()
        if t["boot_id"] != self.boot:
            # Rebooted between its HELLO and now: learn the new boot first.
            self._enter_boot(self.dev.hello())
            t = self.dev.time_set()
        self.ops.append(lambda s: s.set_boot_sync(self.dev_id, t["boot_id"], t["sync_ms"],
                                                  t["sample_index"], t["rtt_ms"]))
        if "dropped" in t:  # firmware that says: the session's own drops are the difference
            boot, began = self.boot, self.boot in self.began
            self.ops.append(lambda s: s.note_dropped(self.sid, boot, t["dropped"], began))
        self._seen(t["sample_index"], t["sample_index"])

    def _seen(self, lo, hi):
        r = self.ranges.get(self.boot)
        if r is None:
            self.ranges[self.boot] = [lo, hi]
        else:
            r[0] = min(r[0], lo)
            r[1] = max(r[1], hi)

    # ---- messages

    def _keep(self, items, item):
        if len(self.events) + len(self.marks) + len(self.status) < MAX_BUFFERED:
            items.append(item)
            return
        if not self.left_on_device:
            self.warn("%d records are held in memory while the store fails: further events, "
                      "marks and status reports stay only in the device's log (`myotwitch "
                      "pull` fetches them); raw samples still go to the raw file" % MAX_BUFFERED)
        self.left_on_device += 1

    def handle(self, msg):
        t = msg.type
        now = time.time()
        if t == mp.EVENT:
            f = msg.fields
            self._keep(self.events, (self.boot, {
                "seq": msg.seq, "onset": f["onset"], "duration": f["duration"], "kind": f["kind"],
                "channel": f["channel"], "peak": f["peak"], "area": f["area"], "received_at": now}))
            self._seen(f["onset"], f["onset"] + f["duration"])
        elif t == mp.MARK:
            self._keep(self.marks, (self.boot, {
                "seq": msg.seq, "sample_index": msg["sample_index"], "source": msg["source"],
                "received_at": now}))
            self._seen(msg["sample_index"], msg["sample_index"])
        elif t == mp.STATUS:
            d = dict(msg.fields)
            d["seq"] = msg.seq
            d["received_at"] = now
            self._keep(self.status, (self.boot, d))
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

    # ---- into the store

    def pending(self) -> int:
        return len(self.events) + len(self.marks) + len(self.status)

    def flush(self) -> bool:
        """Raw samples to disk, then one transaction with everything waiting. True if the store
        took it; on a StoreFault everything stays buffered for the next try (said once)."""
        if self.writer is not None:
            self.writer.flush()  # the raw file never waits for the store
        s = self.store
        added = {"events": 0, "marks": 0, "status": 0}
        try:
            with s.transaction():
                for op in self.ops:
                    op(s)
                for table, items, add in (("events", self.events, s.add_events),
                                          ("marks", self.marks, s.add_marks),
                                          ("status", self.status, s.add_status)):
                    by_boot: dict = {}
                    for boot, item in items:
                        by_boot.setdefault(boot, []).append(item)
                    for boot, group in by_boot.items():
                        added[table] += add(self.sid, self.dev_id, boot, group)
                for boot, (lo, hi) in self.ranges.items():
                    s.note_samples(self.sid, boot, lo, hi)
                s.set_link_stats(self.sid, self.link.stats.as_dict())
        except StoreFault as e:
            if self.failing is None:
                self.warn("%s. Recording goes on: what the device sends is held in memory (at "
                          "most %d records) and stored as soon as the store works again%s"
                          % (e, MAX_BUFFERED, "; raw samples go on to %s" % self.writer.path
                             if self.writer is not None else ""))
            self.failing = e
            return False
        held = self.pending()
        for k, n in added.items():
            self.counts[k] += n
        for buf in (self.ops, self.events, self.marks, self.status):
            buf.clear()
        self.ranges.clear()
        if self.failing is not None:
            self.failing = None
            self.warn("the store works again: the %d records held meanwhile are stored" % held)
        return True

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

    def finish(self, end_reason, stop_stream, final_wait=FINAL_WAIT):
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
        if self.writer is not None:
            self.writer.close()
        stats = self.link.stats.as_dict()
        self._close_session(end_reason, stats, final_wait)
        return RecordResult(
            session_id=self.sid, end_reason=end_reason, events=self.counts["events"],
            marks=self.counts["marks"], status=self.counts["status"], samples=self.counts["samples"],
            gap_samples=self.writer.gap_samples if self.writer is not None else 0,
            boots=list(self.boots), link_stats=stats, left_on_device=self.left_on_device)

    def _close_session(self, end_reason, stats, final_wait):
        """The last records and the session's end, waiting up to `final_wait` s for a failing
        store; if it never works again, say exactly what is where."""
        deadline = time.monotonic() + final_wait
        told = False
        while True:
            if self.flush():
                try:
                    self.store.end_session(self.sid, link_stats=stats, end_reason=end_reason)
                    self.store.busy_wait(10.0)
                    return
                except StoreFault as e:
                    self.failing = e
            if time.monotonic() >= deadline:
                break
            if not told:
                self.warn("waiting up to %.0f s for the store to close session %d"
                          % (final_wait, self.sid))
                told = True
            time.sleep(0.5)
        raw = (" Raw samples are complete in %s." % self.writer.path
               if self.writer is not None else "")
        raise StoreError(
            "%s. Session %d could not be closed: %d record(s) received at its end are not in the "
            "store, but the device keeps them in its log: run `myotwitch pull` once the store "
            "works (the next command that writes the store closes the session).%s"
            % (self.failing, self.sid, self.pending(), raw))


def record_session(device: Device, store, duration=None, raw=False, on_message=None, channels=None,
                   stop: threading.Event | None = None, device_key=None, notes=None,
                   flush_interval=FLUSH_INTERVAL, on_warning=None,
                   final_wait=FINAL_WAIT) -> RecordResult:
    """Record until `duration` seconds (host clock) pass, `stop` is set, the link is lost or
    Ctrl-C. Returns a RecordResult; the session is closed and committed in every case, unless
    the store stays failed for `final_wait` s at the end (StoreError, saying what is where).

    raw: also start the raw stream and write it to raw/<session>.i16.
    channels: channels to stream (default: all the device has).
    on_message: called with every unsolicited message after it is handled.
    on_warning: called with a line of text when the store fails and works again (default: to
    stderr). A store that fails (locked, full...) after the session began never stops the
    recording: see the module docstring.
    """
    rec = _Recorder(device, store, raw, channels, on_message, device_key, notes,
                    on_warning or _warn_stderr)
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
    except BaseException as e:  # a bug: close what we can, then re-raise
        with _no_interrupts(), contextlib.suppress(Exception):
            rec.finish("error: %s" % type(e).__name__, raw, final_wait=0)
        raise
    with _no_interrupts():
        result = rec.finish(end_reason, raw, final_wait)
    result.error = error
    return result
