"""Downloading the device's flash log into the store: `myotwitch pull`.

    result = pull_log(device, store, erase=False, progress=None)

Devices are told apart by their device id (HELLO, else CONFIG device_id): each has its own
position. Only records after that device's last pulled seq (table log_sync) are asked for; a
device pulled for the first time by its id, or one without an id (older firmware: it could be
any board of its kind), is read from its oldest record, and records the store already holds
(under a legacy row of an older store too: Store.claim_boot) are recognised, not stored twice.
`erase` is refused for a device without an id. The download is one
LOG_READ that the device answers in LOG_CHUNKs. Every chunk is checked before its records are
kept: frame CRC (the link), each record's CRC and length (myoproto.decode_records), ascending
seq inside the asked range, and no frame lost, corrupted, duplicated or reordered on the link
since the previous chunk (the device's frame counter and the decoder's error counts). On any
doubt the chunk is thrown away and the read is re-sent from the last record kept, so a bad link
costs time, never data. Records are committed in transactions together with the new last seq,
so an interruption anywhere (Ctrl-C, cable out, kill -9) leaves a consistent store and the
next pull resumes; (device, boot, seq) is unique, so nothing is stored twice. `erase` asks the
device to free what this store has committed of this device's log, only after the commit.

Wall clock: the device is synchronised (TIME_SET) on connect, and every TIME record in the log
anchors its boot, so events of any boot with a sync get onset_unix_ms; events of a boot that
never had one keep it NULL (listed as "unsynced", never guessed).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from myotwitch.formats import safe
from myotwitch.link import Device, LinkError, LinkLost, LinkTimeout
from myotwitch.protocol import myoproto as mp
from myotwitch.store import valid_device_id

TO_NEWEST = 0xFFFFFFFF
COMMIT_EVERY = 0.5  # seconds between commits during a download
CHUNK_TIMEOUT = 3.0  # seconds without a chunk before the read is re-sent
MAX_RETRIES = 50  # re-sent reads in a row without progress before giving up
WINDOW = 512  # seqs asked for per LOG_READ (about 50 chunks)


class PullError(LinkError):
    pass


class EraseRefused(Exception):
    """`--erase` on a device the store cannot tell apart from others: nothing was done."""


@dataclass
class PullResult:
    device_id: int  # the store's row
    from_seq: int
    device: str | None = None  # the device's own id (None: it has none)
    board: str = ""
    last_seq: int = -1  # last seq pulled so far (the device's log up to here is in the store)
    oldest_seq: int | None = None
    next_seq: int | None = None
    records: int = 0  # records received and checked
    new: dict = field(default_factory=lambda: {"events": 0, "marks": 0, "status": 0, "time": 0})
    other: int = 0  # records of types this host does not know (skipped)
    gaps: list = field(default_factory=list)  # (from_seq, to_seq, kind)
    retries: int = 0  # reads re-sent after a link fault or timeout
    rejected_chunks: int = 0
    wire_bytes: int = 0
    record_bytes: int = 0
    seconds: float = 0.0
    erased_to: int | None = None
    erase_declined: bool = False
    log_reset: bool = False
    unsynced_boots: list = field(default_factory=list)

    @property
    def stored(self) -> int:
        return sum(self.new.values())

    def gap_counts(self) -> dict:
        out = {"dropped": 0, "reboot": 0, "missing": 0}
        for lo, hi, kind in self.gaps:
            out[kind] = out.get(kind, 0) + hi - lo + 1
        return out


class _Reader:
    """One LOG_READ at a time over a Link, with the link-health snapshot that vets chunks."""

    def __init__(self, link):
        self.link = link
        self.stream = None

    def start(self, from_seq, to_seq=TO_NEWEST):
        self.stop()
        self.mark = self.link.health()
        self.stream = self.link.open_stream(mp.LOG_READ, {"from_seq": from_seq, "to_seq": to_seq})

    def stop(self):
        if self.stream is not None:
            self.stream.close()
            self.stream = None

    def next_chunk(self, timeout):
        """The next LOG_CHUNK (or NACK) of the current answer; None after `timeout` s of silence."""
        return self.stream.next(timeout)

    def clean_since_last(self):
        """True if no frame was lost, corrupted, repeated or reordered since the last call."""
        h = self.link.health()
        ok = h == self.mark
        self.mark = h
        return ok


class _Puller:
    def __init__(self, device: Device, store, progress):
        self.dev = device
        self.store = store
        self.progress = progress
        self.batch = []  # checked records not yet committed
        self.synced_boots = set()

    def boot_row(self, boot_id, fs=None):
        s = self.store
        if s.boot(self.dev_id, boot_id) is None:
            s.upsert_boot(self.dev_id, boot_id, fs or self.fs)

    def commit(self, res: PullResult, last_seq, oldest, next_seq):
        """Store the batch and the new last seq in one transaction."""
        s = self.store
        by_boot: dict = {}
        for rec in self.batch:
            by_boot.setdefault(rec[2], []).append(rec)
        now = time.time()
        with s.transaction():
            for boot, recs in by_boot.items():
                fs = next((r[3]["fs"] for r in recs if r[0] == mp.TIME), None)
                self.boot_row(boot, fs)
                for r in recs:  # TIME first: the boot's clock for the events beside it
                    if r[0] == mp.TIME:
                        res.new["time"] += self.time_record(boot, r[3])
                ev, mk, st = [], [], []
                for t, seq, _b, f in recs:
                    if t == mp.EVENT:
                        ev.append({"seq": seq, "onset": f["onset"], "duration": f["duration"],
                                   "kind": f["kind"], "channel": f["channel"], "peak": f["peak"],
                                   "area": f["area"], "received_at": now})
                    elif t == mp.MARK:
                        mk.append({"seq": seq, "sample_index": f["sample_index"],
                                   "source": f["source"], "received_at": now})
                    elif t == mp.STATUS:
                        st.append(dict(f, received_at=now))
                    elif t != mp.TIME:
                        res.other += 1
                res.new["events"] += s.add_events(None, self.dev_id, boot, ev, source="log")
                res.new["marks"] += s.add_marks(None, self.dev_id, boot, mk)
                res.new["status"] += s.add_status(None, self.dev_id, boot, st)
                # Records a session saw live and lost (or never flushed: a host crash)
                # belong to it: attach what falls in its span of this boot.
                s.attach_to_sessions(self.dev_id, boot)
            for lo, hi, kind in res.gaps[self.gaps_saved:]:
                s.conn.execute("INSERT OR IGNORE INTO log_gaps (device_id, from_seq, to_seq, kind,"
                               " found_at) VALUES (?,?,?,?,?)", (self.dev_id, lo, hi, kind, now))
            s.conn.execute(
                "INSERT INTO log_sync (device_id, last_seq, oldest_seq, next_seq, pulled_at)"
                " VALUES (?,?,?,?,?) ON CONFLICT(device_id) DO UPDATE SET last_seq=excluded.last_seq,"
                " oldest_seq=excluded.oldest_seq, next_seq=excluded.next_seq,"
                " pulled_at=excluded.pulled_at",
                (self.dev_id, last_seq, oldest, next_seq, now))
        self.gaps_saved = len(res.gaps)
        self.batch = []

    def time_record(self, boot, f):
        """A logged TIME: the boot's clock, unless a live sync (with its round trip) is better."""
        row = self.store.boot(self.dev_id, boot)
        if row["sync_unix_ms"] is not None:
            return 0
        self.store.set_boot_sync(self.dev_id, boot, f["unix_ms"], f["sample_index"], None)
        self.synced_boots.add(boot)
        return 1

    def place_on_timeline(self):
        """Give the events and marks of boots synced by this pull their wall-clock time."""
        c = self.store.conn
        with self.store.transaction():
            for boot in self.synced_boots:
                c.execute(
                    "UPDATE events SET onset_unix_ms = (SELECT b.sync_unix_ms + CAST(round("
                    "(events.onset - b.sync_sample_index) * 1000.0 / b.fs) AS INTEGER) FROM boots b"
                    " WHERE b.device_id = events.device_id AND b.boot_id = events.boot_id)"
                    " WHERE device_id=? AND boot_id=? AND onset_unix_ms IS NULL", (self.dev_id, boot))
                c.execute(
                    "UPDATE marks SET unix_ms = (SELECT b.sync_unix_ms + CAST(round("
                    "(marks.sample_index - b.sync_sample_index) * 1000.0 / b.fs) AS INTEGER) FROM boots b"
                    " WHERE b.device_id = marks.device_id AND b.boot_id = marks.boot_id)"
                    " WHERE device_id=? AND boot_id=? AND unix_ms IS NULL", (self.dev_id, boot))

    def run(self, erase, chunk_timeout, max_retries, confirm_erase=None) -> PullResult:
        dev, store = self.dev, self.store
        hello = dev.hello()
        self.fs = hello.fs
        ident = valid_device_id(dev.identify())
        if erase and ident is None:
            raise EraseRefused(
                "the device on %s reports no usable device id (firmware older than the id, or "
                "an id that is not hex): this store cannot tell it from other %r boards, so it "
                "will not erase its log. Nothing was pulled or erased: run `pull` without "
                "--erase, or update the firmware (myotwitch flash)" % (dev.port, hello.board))
        self.dev_id = store.upsert_device_from_hello(hello, key=ident)
        store.upsert_boot_from_hello(self.dev_id, hello)
        t = dev.time_set()  # the host sets the device clock on connect (it is logged, too)
        store.set_boot_sync(self.dev_id, t["boot_id"], t["sync_ms"], t["sample_index"], t["rtt_ms"])
        # Where this device's last pull ended. A device without an id may be any board of its
        # kind, so it has no position of its own: its whole log is read (nothing is stored
        # twice), and so is a device's the first time it is pulled by its id.
        row = None if ident is None else store.conn.execute(
            "SELECT last_seq FROM log_sync WHERE device_id=?", (self.dev_id,)).fetchone()
        last = row[0] if row else -1
        res = PullResult(device_id=self.dev_id, from_seq=last + 1, last_seq=last, device=ident,
                         board=hello.board)
        self.gaps_saved = 0
        link = dev.link
        bytes0 = link.bytes_received
        t0 = time.monotonic()
        reader = _Reader(link)
        try:
            self._download(reader, res, chunk_timeout, max_retries)
        finally:
            reader.stop()
            res.seconds = time.monotonic() - t0
            res.wire_bytes = link.bytes_received - bytes0
            if self.batch or res.last_seq != last:
                self.commit(res, res.last_seq, res.oldest_seq, res.next_seq)
            self.place_on_timeline()
            res.unsynced_boots = [r[0] for r in store.conn.execute(
                "SELECT DISTINCT e.boot_id FROM events e JOIN boots b ON b.device_id = e.device_id"
                " AND b.boot_id = e.boot_id WHERE e.device_id=? AND b.sync_unix_ms IS NULL",
                (self.dev_id,))]
        if erase and res.last_seq >= 0 and confirm_erase is not None and not confirm_erase(res):
            res.erase_declined = True
        elif erase and res.last_seq >= 0:
            dev.link.request(mp.LOG_ERASE, {"up_to_seq": res.last_seq}, timeout=10.0)
            res.erased_to = res.last_seq
            with store.transaction():
                store.conn.execute("UPDATE log_sync SET erased_to=? WHERE device_id=?",
                                   (res.last_seq, self.dev_id))
        return res

    def _download(self, reader, res, chunk_timeout, max_retries):
        # Windows of WINDOW seqs: after a fault only the rest of one window is in flight (and
        # thrown away), however far ahead the device's sending got.
        stalls = 0
        last_commit = time.monotonic()
        prev, prev_boot = res.last_seq, None  # the last record received (gaps are between)
        first = True
        lo = res.last_seq + 1
        reader.start(lo, lo + WINDOW - 1)
        while True:
            hi = lo + WINDOW - 1
            msg = reader.next_chunk(chunk_timeout)
            bad = None
            if msg is None:
                bad = "no chunk for %.0f s" % chunk_timeout
            elif msg.type == mp.NACK:
                if msg["code"] != mp.E_BUSY:
                    raise PullError("device refused LOG_READ: %s %s" % (
                        mp.ERROR_NAMES.get(msg["code"], msg["code"]), msg.get("reason", "")))
                bad = "device busy"
            elif not reader.clean_since_last():
                bad = "link fault"
            if bad is None:
                f = msg.fields
                try:
                    recs = mp.decode_records(f["records"])
                except mp.CodecError as e:
                    bad = "bad record: %s" % e
                else:
                    seqs = [r[1] for r in recs]
                    if seqs and (seqs[0] <= res.last_seq or seqs[-1] > hi
                                 or any(b <= a for a, b in zip(seqs, seqs[1:]))):
                        bad = "records out of order"
            if bad is not None:
                res.rejected_chunks += msg is not None
                stalls += 1
                res.retries += 1
                if stalls > max_retries:
                    raise LinkTimeout("log download makes no progress (%s); what was pulled so far "
                                      "is saved, run pull again" % bad)
                lo = res.last_seq + 1
                reader.start(lo, lo + WINDOW - 1)
                continue
            stalls = 0
            oldest, nxt = f["oldest_seq"], f["next_seq"]
            if first:
                if nxt <= res.last_seq:
                    # The device numbers below what this store has for it: its log was wiped
                    # (flash --erase). Start over at its oldest record.
                    res.log_reset = True
                    res.last_seq = prev = -1
                    lo = 0
                    reader.start(lo, lo + WINDOW - 1)
                    continue
                first = False
                self.base = max(lo, oldest)  # progress counts seq numbers from here to nxt
                if self.progress is not None:
                    self.progress.start(max(0, nxt - self.base))
            if lo < oldest and res.last_seq >= 0 and not recs_before(res, oldest):
                res.gaps.append((lo, oldest - 1, "dropped"))
            res.oldest_seq, res.next_seq = oldest, nxt
            for r in recs:
                if prev >= 0 and r[1] > prev + 1:
                    gap_lo = max(prev + 1, oldest if res.last_seq >= 0 else prev + 1)
                    if gap_lo <= r[1] - 1:
                        res.gaps.append((gap_lo, r[1] - 1,
                                         "reboot" if r[2] != prev_boot else "missing"))
                prev, prev_boot = r[1], r[2]
            res.records += len(recs)
            res.record_bytes += len(f["records"])
            self.batch.extend(recs)
            if recs:
                res.last_seq = recs[-1][1]
            if f["flags"] & mp.CHUNK_LAST:
                # The window is answered in full: nothing else exists up to its end (or up to
                # the newest record, which is as far as the device could answer).
                done_to = min(hi, nxt - 1)
                if done_to > res.last_seq:
                    res.last_seq = done_to
                if self.progress is not None:
                    self.progress.update(res.last_seq + 1 - self.base, len(recs))
                if hi >= nxt - 1:
                    return
                lo = res.last_seq + 1
                reader.start(lo, lo + WINDOW - 1)
            elif self.progress is not None:
                self.progress.update(res.last_seq + 1 - self.base, len(recs))
            if time.monotonic() - last_commit >= COMMIT_EVERY:
                self.commit(res, res.last_seq, oldest, nxt)
                last_commit = time.monotonic()


def recs_before(res, oldest):
    """True if this dropped range was already reported (the log's oldest moved meanwhile)."""
    return any(kind == "dropped" and hi == oldest - 1 for _, hi, kind in res.gaps)


def pull_log(device: Device, store, erase=False, progress=None, chunk_timeout=CHUNK_TIMEOUT,
             max_retries=MAX_RETRIES, confirm_erase=None) -> PullResult:
    """Download new log records from `device` into `store` (see the module docstring).

    progress: an object with start(total) and update(done, records_just_added), or None;
    total and done count seq numbers (records and the gaps between them) of this download.
    confirm_erase: with erase, called with the PullResult before the device is told to erase;
    it returns False to keep the log (the result then says so).
    Raises LinkError (LinkLost, LinkTimeout, PullError) after committing what was pulled, and
    EraseRefused (before anything) for erase on a device without an id.
    """
    return _Puller(device, store, progress).run(erase, chunk_timeout, max_retries, confirm_erase)


# ---------------------------------------------------------------- reporting


def pull_json(res, db_path) -> dict:
    """The result as machine output (README, Machine output)."""
    return {"from_seq": res.from_seq, "last_seq": res.last_seq, "records": res.records,
            "new": dict(res.new), "stored": res.stored, "gaps": res.gap_counts(),
            "retries": res.retries, "rejected_chunks": res.rejected_chunks,
            "record_bytes": res.record_bytes, "wire_bytes": res.wire_bytes,
            "seconds": round(res.seconds, 3), "log_reset": res.log_reset,
            "unsynced_boots": ["%08x" % b for b in res.unsynced_boots],
            "erased_to": res.erased_to, "erase_declined": res.erase_declined,
            "device": res.device, "board": res.board,
            "store": str(db_path)}


def format_pull(res, db_path) -> str:
    lines = ["device %s (%s)" % (res.device, safe(res.board)) if res.device else
             "device without an id (%s, older firmware): its whole log was read; nothing is "
             "stored twice" % safe(res.board)]
    n = res.new
    lines.append("pulled seq %d..%d from the device log: %d records checked, %d new "
                 "(%d events, %d marks, %d status, %d time records)"
                 % (res.from_seq, res.last_seq, res.records, res.stored, n["events"], n["marks"],
                    n["status"], n["time"]) if res.records else
                 "nothing new in the device log (last pulled seq %d)" % res.last_seq)
    if res.records:
        lines.append("%d record bytes in %d bytes on the wire (%.0f %%), %.1f s, %.0f records/s"
                     % (res.record_bytes, res.wire_bytes,
                        100.0 * res.record_bytes / max(1, res.wire_bytes), res.seconds,
                        res.records / max(1e-6, res.seconds)))
    if res.log_reset:
        lines.append("the device's numbering restarted below what this store had (its log was "
                     "wiped): pulled it from its oldest record")
    g = res.gap_counts()
    if g["dropped"]:
        lines.append("%d records were dropped by the device (log full) before they could be "
                     "pulled" % g["dropped"])
    if g["missing"]:
        lines.append("%d seq numbers missing within a boot (records the device lost or found "
                     "corrupt)" % g["missing"])
    if g["reboot"]:
        lines.append("%d seq numbers skipped at %d reboot(s) (unused by design)"
                     % (g["reboot"], sum(1 for gp in res.gaps if gp[2] == "reboot")))
    if res.retries:
        lines.append("%d read(s) re-sent after link faults (%d chunk(s) rejected)"
                     % (res.retries, res.rejected_chunks))
    if res.unsynced_boots:
        lines.append("%d boot(s) never had a clock sync: their events are listed as unsynced"
                     % len(res.unsynced_boots))
    if res.erased_to is not None:
        lines.append("device log erased up to seq %d" % res.erased_to)
    elif res.erase_declined:
        lines.append("device log not erased (not confirmed)")
    lines.append("store: %s" % db_path)
    return "\n".join(lines)
