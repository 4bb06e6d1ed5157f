"""The host store: one SQLite file (owner-only) plus raw sample files beside it.

    store = open_store()                    # --db / MYOTWITCH_DB / data dir
    with store.transaction():
        dev = store.upsert_device(hello)
        ...

Schema changes go in MIGRATIONS (append only, never edit a released entry);
PRAGMA user_version holds how many have been applied.

Idempotence: a device record (EVENT, MARK) is identified by
(device, boot_id, seq). The record seq is persistent on the device, and the
boot it was made in travels with it both live (from HELLO) and in the flash
log, so receiving a record twice - live and again from a log download, or
after a reconnect - stores it once. Including boot_id keeps two different
records apart if a power cut ever makes the device reuse a seq.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import sqlite3
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

from myotwitch import dbfaults, private
from myotwitch.dbfaults import StoreError, StoreFault  # noqa: F401  (the store's errors)
from myotwitch.protocol import myoproto as mp

DB_NAME = "myotwitch.db"
RAW_DIR = "raw"

MIGRATIONS: list[str] = [
    # 1: devices, boots, sessions, events, marks, status
    """
    CREATE TABLE devices (
        id          INTEGER PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,      -- how we recognise the board again
        board       TEXT NOT NULL,
        fw_version  TEXT,
        build_hash  TEXT,                      -- hex
        proto       INTEGER,
        channels    INTEGER,
        fs          INTEGER,
        first_seen  REAL NOT NULL,             -- unix seconds, host clock
        last_seen   REAL NOT NULL
    );
    CREATE TABLE boots (
        id                 INTEGER PRIMARY KEY,
        device_id          INTEGER NOT NULL REFERENCES devices(id),
        boot_id            INTEGER NOT NULL,
        fs                 INTEGER NOT NULL,
        channels           INTEGER,
        fw_version         TEXT,
        build_hash         TEXT,
        config_hash        INTEGER,
        first_seen         REAL NOT NULL,
        last_seen          REAL NOT NULL,
        sync_unix_ms       INTEGER,            -- host time (ms) at ...
        sync_sample_index  INTEGER,            -- ... this device sample index
        sync_rtt_ms        INTEGER,            -- TIME_SET round trip: error within +-rtt/2
        UNIQUE (device_id, boot_id)
    );
    CREATE TABLE sessions (
        id          INTEGER PRIMARY KEY,
        device_id   INTEGER NOT NULL REFERENCES devices(id),
        started_at  REAL NOT NULL,
        ended_at    REAL,
        end_reason  TEXT,
        raw_path    TEXT,                      -- relative to the database's directory
        channels    TEXT,                      -- JSON list of streamed channels
        fs          INTEGER,
        link_stats  TEXT,                      -- JSON
        notes       TEXT
    );
    CREATE TABLE session_boots (
        session_id   INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        device_id    INTEGER NOT NULL,
        boot_id      INTEGER NOT NULL,
        first_index  INTEGER,                  -- sample indices seen in this session
        last_index   INTEGER,
        PRIMARY KEY (session_id, boot_id),
        FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id)
    );
    CREATE TABLE events (
        id             INTEGER PRIMARY KEY,
        device_id      INTEGER NOT NULL,
        boot_id        INTEGER NOT NULL,
        seq            INTEGER NOT NULL,       -- persistent record sequence number
        session_id     INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        onset          INTEGER NOT NULL,       -- sample index
        duration       INTEGER NOT NULL,       -- samples (4095 = at least)
        kind           INTEGER NOT NULL,       -- 0 twitch 1 burst 2 contraction 3 artifact
        channel        INTEGER NOT NULL,
        peak           INTEGER NOT NULL,
        area           INTEGER NOT NULL,
        onset_unix_ms  INTEGER,                -- from the boot's time sync, if any
        received_at    REAL,                   -- host clock
        source         TEXT NOT NULL DEFAULT 'live',
        UNIQUE (device_id, boot_id, seq),
        FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id)
    );
    CREATE INDEX events_session ON events(session_id);
    CREATE TABLE marks (
        id            INTEGER PRIMARY KEY,
        device_id     INTEGER NOT NULL,
        boot_id       INTEGER NOT NULL,
        seq           INTEGER NOT NULL,
        session_id    INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        sample_index  INTEGER NOT NULL,
        source        INTEGER NOT NULL,        -- 0 button 1 host
        unix_ms       INTEGER,
        received_at   REAL,
        UNIQUE (device_id, boot_id, seq),
        FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id)
    );
    CREATE INDEX marks_session ON marks(session_id);
    CREATE TABLE status (
        id            INTEGER PRIMARY KEY,
        device_id     INTEGER NOT NULL,
        boot_id       INTEGER NOT NULL,
        session_id    INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        frame_seq     INTEGER,
        received_at   REAL,
        uptime_s      INTEGER NOT NULL,
        sample_index  INTEGER NOT NULL,
        battery_mv    INTEGER,
        dropped       INTEGER NOT NULL,        -- samples dropped by the device this boot
        log_fill      INTEGER,
        cpu_load      INTEGER,
        noise         TEXT,                    -- JSON list, one per channel
        UNIQUE (device_id, boot_id, sample_index),
        FOREIGN KEY (device_id, boot_id) REFERENCES boots(device_id, boot_id)
    );
    CREATE INDEX status_session ON status(session_id);
    """,
    # 2 (issue 4, verify): the detector settings in force when a boot's raw stream started,
    # JSON {key: value} of the det_* CONFIG keys, so `myotwitch verify` re-runs the same detector
    """
    ALTER TABLE session_boots ADD COLUMN detector_config TEXT;
    """,
    # 3 (issue 5, pull): what has been downloaded from each device's flash log, and the seq
    # ranges the log did not have (dropped when full, skipped at a reboot, lost on the device)
    """
    CREATE TABLE log_sync (
        device_id   INTEGER PRIMARY KEY REFERENCES devices(id),
        last_seq    INTEGER NOT NULL,          -- every record up to here has been pulled
        oldest_seq  INTEGER,                   -- the device's oldest record at the last pull
        next_seq    INTEGER,                   -- the device's next seq at the last pull
        erased_to   INTEGER,                   -- highest seq the host told the device to erase
        pulled_at   REAL NOT NULL
    );
    CREATE TABLE log_gaps (
        id          INTEGER PRIMARY KEY,
        device_id   INTEGER NOT NULL REFERENCES devices(id),
        from_seq    INTEGER NOT NULL,
        to_seq      INTEGER NOT NULL,          -- inclusive
        kind        TEXT NOT NULL,             -- dropped (log full) | reboot | missing
        found_at    REAL NOT NULL,
        UNIQUE (device_id, from_seq)
    );
    """,
    # 4 (issue 15, a session's own figures): the device's count of dropped samples of this
    # boot when the session began (0 for a boot that began in the session) and at its last
    # clock sync (TIME.dropped): what the session itself lost, not the boot's total
    """
    ALTER TABLE session_boots ADD COLUMN dropped_first INTEGER;
    ALTER TABLE session_boots ADD COLUMN dropped_last INTEGER;
    """,
    # 5 (issue 14, notes and conditions): what the wearer logs (caffeine, sleep, stress, ...,
    # free tags and text) at a moment or over a range; `record --notes` makes one spanning its
    # session, and the free-text notes of sessions recorded before become notes here
    """
    CREATE TABLE notes (
        id          INTEGER PRIMARY KEY,
        start_ms    INTEGER NOT NULL,          -- unix ms: the moment, or the range's start
        end_ms      INTEGER,                   -- the range's end; NULL: a moment (holds to the end of its day)
        text        TEXT,
        session_id  INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        created_at  REAL NOT NULL,
        updated_at  REAL NOT NULL
    );
    CREATE INDEX notes_start ON notes(start_ms);
    CREATE TABLE note_factors (
        note_id     INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
        factor      TEXT NOT NULL,             -- notes.FACTORS: caffeine, sleep, stress, ...
        value       REAL NOT NULL,
        PRIMARY KEY (note_id, factor)
    );
    CREATE TABLE note_tags (
        note_id     INTEGER NOT NULL REFERENCES notes(id) ON DELETE CASCADE,
        tag         TEXT NOT NULL,
        PRIMARY KEY (note_id, tag)
    );
    INSERT INTO notes (start_ms, end_ms, text, session_id, created_at, updated_at)
        SELECT CAST(round(started_at * 1000) AS INTEGER),
               CASE WHEN ended_at > started_at THEN CAST(round(ended_at * 1000) AS INTEGER) END,
               trim(notes), id, started_at, started_at
        FROM sessions WHERE trim(coalesce(notes, '')) != '' ORDER BY id;
    """,
    # 6 (issue 16, devices told apart by their id): a device row is keyed by the device's own
    # id (HELLO or CONFIG device_id). Rows made before were keyed by their board name, which
    # many devices share, so their device is unknown: they become legacy rows, keyed
    # "legacy:<board>", and are never merged with a device that has an id. A boot belongs to
    # one device: when a device with an id shows a boot that a legacy row holds, that boot
    # moves to it with its records and sessions (Store.claim_boot). A legacy row's pull
    # position is never used (pull.py): a device pulled by its id starts at its oldest record.
    """
    ALTER TABLE devices ADD COLUMN legacy INTEGER NOT NULL DEFAULT 0;
    UPDATE devices SET legacy = 1, key = 'legacy:' || key;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
LEGACY = "legacy:"  # key prefix of a device row whose device id is unknown
DEVICE_ID = re.compile(r"[0-9a-f]{1,64}")  # SPEC section 5: lowercase hex


# ---------------------------------------------------------------- locating the database


def user_data_dir() -> Path:
    """Where the user's store lives: MYOTWITCH_DATA_DIR, else $XDG_DATA_HOME/myotwitch,
    else ~/.local/share/myotwitch. (Not paths.data_dir(): that is the bundled package data.)"""
    env = os.environ.get("MYOTWITCH_DATA_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return base / "myotwitch"


def resolve_db_path(db=None) -> Path:
    """--db PATH, else MYOTWITCH_DB, else <data dir>/myotwitch.db."""
    if db:
        return Path(db).expanduser()
    env = os.environ.get("MYOTWITCH_DB")
    if env:
        return Path(env).expanduser()
    return user_data_dir() / DB_NAME


def _create_private(path: Path) -> bool:
    """The store's file, created owner-only if missing; True if it was created now."""
    try:
        private.make_dir(path.parent)
        return private.create_file(path)
    except OSError as e:
        raise StoreError("cannot create the store %s: %s: give another --db (or "
                         "MYOTWITCH_DATA_DIR)" % (path, e.strerror or e)) from None


def _private_paths(path: Path) -> list:
    """Everything of a store that holds health data: the folder, the database with its WAL,
    the raw folder and its files."""
    root = path.parent
    out = [root, path] + [path.with_name(path.name + x) for x in ("-wal", "-shm")]
    raw = root / RAW_DIR
    if raw.is_dir():
        out.append(raw)
        out += sorted(raw.iterdir())
    return out


def _raw_files(path: Path) -> list:
    raw = path.parent / RAW_DIR
    return sorted(raw.glob("*.i16")) if raw.is_dir() else []


def _connect(target, **kw) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, timeout=10.0,
                           factory=dbfaults.Connection, **kw)
    conn.row_factory = sqlite3.Row
    return conn


def _check_is_store(conn, path: Path, existed: bool) -> None:
    """A file without our schema is only made a store when it is new, or empty with no raw
    recordings beside it: an emptied store must not be re-created over its raw files, and
    another program's database must not get our tables."""
    if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
        return
    tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
    if tables:
        raise StoreError("%s is an SQLite database of another program (no myotwitch schema): "
                         "give another --db" % path)
    raw = _raw_files(path)
    if existed and raw:
        raise StoreError(
            "%s is empty, but %s holds %d raw recording(s) of a store: the store was lost or "
            "truncated. Restore it from a backup (or move %s away to start a new store there); "
            "nothing was changed" % (path, raw[0].parent, len(raw), raw[0].parent))


def migrate(conn: sqlite3.Connection) -> int:
    """Apply the migrations the database has not seen; return the new version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StoreError("the database was written by a newer myotwitch (schema %d, this one knows %d): "
                         "upgrade myotwitch" % (version, SCHEMA_VERSION))
    for n in range(version, SCHEMA_VERSION):
        try:
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _statements(MIGRATIONS[n]):
                conn.execute(stmt)
            conn.execute("PRAGMA user_version = %d" % (n + 1))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str):
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                yield buf
            buf = ""
    if buf.strip():
        yield buf


def open_store(path=None, readonly=False) -> "Store":
    """Open (creating and migrating as needed) the store at `path` (see resolve_db_path).

    readonly: never create or change the file (commands that only read): a missing file is a
    StoreError; a store of an older schema is migrated in a copy in memory, not on disk."""
    path = resolve_db_path(path)
    if readonly:
        return _open_readonly(path)
    existed = path.exists()
    if existed and not path.is_file():
        raise StoreError("%s is not a file: give the path of a store file with --db" % path)
    if existed and not os.access(path, os.R_OK | os.W_OK):
        raise StoreError("store %s: read-only (permissions): make it writable (chmod u+w %s) "
                         "or give another --db" % (path, path))
    created = _create_private(path)
    tightened = [] if created else private.tighten(*_private_paths(path))
    try:
        conn = _connect(str(path))
    except sqlite3.Error as e:
        raise StoreError("cannot open the store %s: %s" % (path, e)) from e
    conn.path = path

    def prepare(conn):
        _check_is_store(conn, path, existed and not created)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
        private.tighten(*_private_paths(path)[2:4])  # the WAL files, made by the pragma
        return conn

    store = _store(path, conn, prepare, tightened)
    try:
        closed = store.close_interrupted_sessions()
    except BaseException:
        store.close()
        raise
    for sid, ended in closed:
        store.notes.append("session %d was left open by a host crash: closed, ended at the "
                           "last thing stored (%s)" % (sid, time.strftime(
                               "%Y-%m-%d %H:%M:%S", time.localtime(ended))))
    return store


def _open_readonly(path: Path) -> "Store":
    # mode=rw, not ro: a read-only connection leaves the WAL's -wal and -shm files behind,
    # a read-write one that writes nothing removes them when it closes. A store the user
    # made read-only is still read (mode=ro).
    if path.is_dir():
        raise StoreError("%s is a folder: give the path of a store file with --db" % path)
    tightened = private.tighten(*_private_paths(path))
    mode = "rw" if os.access(path, os.W_OK) else "ro"
    uri = "file:%s?mode=%s" % (urllib.parse.quote(str(path.resolve())), mode)
    try:
        conn = _connect(uri, uri=True)
    except sqlite3.Error as e:
        raise StoreError("cannot open %s: %s" % (path, e)) from e
    conn.path = path

    def prepare(conn):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            if version == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise StoreError("%s is an SQLite database of another program (no myotwitch "
                                 "schema): give another --db" % path)
            mem = _connect(":memory:")
            mem.path = path
            conn.backup(mem)
            conn.close()
            try:
                migrate(mem)
            except BaseException:
                mem.close()
                raise
            return mem
        if version > SCHEMA_VERSION:
            migrate(conn)  # says: written by a newer myotwitch
        return conn

    return _store(path, conn, prepare, tightened)


def _store(path, conn, prepare, tightened) -> "Store":
    """A Store on prepare(conn) (which may return another connection); any fault closes conn
    and becomes one StoreError that names the file."""
    try:
        conn = prepare(conn)
    except StoreError as e:
        conn.close()
        _not_a_store(path, e)
        raise
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError("cannot use %s as a myotwitch store: %s" % (path, e)) from e
    except BaseException:
        conn.close()
        raise
    store = Store(path, conn)
    if tightened:
        store.notes.append("made owner-only (health data): " + ", ".join(tightened))
    return store


def _not_a_store(path, e: StoreError) -> None:
    """At open, a damaged file is simply not a store we can use; other faults say themselves."""
    if isinstance(e, StoreFault) and e.kind == "damaged":
        raise StoreError("cannot use %s as a myotwitch store: %s: give another --db, or "
                         "restore it from a backup" % (path, e.__cause__)) from e


def _now() -> float:
    return time.time()


def valid_device_id(text) -> str | None:
    """A device id as SPEC section 5 has it (lowercase hex), or None: the device gave none, or
    something that could not tell it apart (and could pose as a legacy row's key)."""
    if isinstance(text, str) and DEVICE_ID.fullmatch(text.strip().lower()):
        return text.strip().lower()
    return None


class Store:
    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = Path(path)
        self.conn = conn
        self.root = self.path.parent
        self.raw_dir = self.root / RAW_DIR
        self.live_dir = self.root / (self.path.name + "-live")  # locks of running recordings
        self.notes: list[str] = []  # what opening did that the user should hear of (once)
        self._depth = 0
        self._held: dict[int, int] = {}  # session id -> fd of its lock (see new_session)

    # ---- lifetime and transactions

    def close(self):
        for sid in list(self._held):
            self._release(sid)
        if self.conn is not None:
            try:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
            finally:
                self.conn.close()
                self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def transaction(self):
        """All or nothing; nests (inner blocks are savepoints). A failing store (StoreFault)
        leaves nothing half done: SQLite may already have rolled back, so rollback only
        what is still open."""
        c = self.conn
        if self._depth == 0:
            c.execute("BEGIN IMMEDIATE")
        else:
            c.execute("SAVEPOINT sp%d" % self._depth)
        self._depth += 1
        try:
            yield self
        except BaseException:
            self._depth -= 1
            self._undo(self._depth)
            raise
        self._depth -= 1
        if not c.in_transaction:  # a fault inside, caught there, took the transaction with it
            raise StoreError("store %s: the transaction was rolled back by a failure within "
                             "it; nothing of it was stored" % self.path)
        try:
            if self._depth == 0:
                c.execute("COMMIT")
            else:
                c.execute("RELEASE sp%d" % self._depth)
        except BaseException:
            self._undo(self._depth)
            raise

    def _undo(self, depth):
        c = self.conn
        if not c.in_transaction:  # SQLite rolled it all back already (a full disk, I/O)
            return
        if depth == 0:
            c.execute("ROLLBACK")
        else:
            c.execute("ROLLBACK TO sp%d" % depth)
            c.execute("RELEASE sp%d" % depth)

    def busy_wait(self, seconds: float) -> None:
        """How long a write waits for another program's lock before it fails (StoreFault,
        transient). A recording sets it short so that it never stalls on the store."""
        self.conn.execute("PRAGMA busy_timeout = %d" % int(seconds * 1000))

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # ---- devices and boots

    def upsert_device(self, board: str, key: str | None = None, fw_version=None, build_hash=None,
                    proto=None, channels=None, fs=None, seen_at=None) -> int:
        """Device row id of the device whose id is `key` (its HELLO or CONFIG device_id),
        updating what it reports. Without an id: the legacy row of its board name
        ("legacy:<board>"), which stands for devices of that kind whose id is unknown."""
        legacy = not key
        key = LEGACY + board if legacy else key
        t = seen_at or _now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO devices (key, board, fw_version, build_hash, proto, channels, fs,"
                " first_seen, last_seen, legacy) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET board=excluded.board,"
                " fw_version=coalesce(excluded.fw_version, fw_version),"
                " build_hash=coalesce(excluded.build_hash, build_hash),"
                " proto=coalesce(excluded.proto, proto), channels=coalesce(excluded.channels, channels),"
                " fs=coalesce(excluded.fs, fs), last_seen=excluded.last_seen",
                (key, board, fw_version, build_hash, proto, channels, fs, t, t, int(legacy)))
            return self.conn.execute("SELECT id FROM devices WHERE key=?", (key,)).fetchone()[0]

    def upsert_device_from_hello(self, hello, key=None, seen_at=None) -> int:
        """The row of the device that sent `hello`: by `key`, else the HELLO's device_id."""
        key = key or valid_device_id(getattr(hello, "device_id", None))
        return self.upsert_device(hello.board, key=key, fw_version=hello.fw_version,
                                  build_hash=hello.build_hash, proto=hello.proto,
                                  channels=hello.channels, fs=hello.fs, seen_at=seen_at)

    def is_legacy(self, device_id: int) -> bool:
        row = self.conn.execute("SELECT legacy FROM devices WHERE id=?", (device_id,)).fetchone()
        return bool(row and row[0])

    def upsert_boot(self, device_id: int, boot_id: int, fs: int, channels=None, fw_version=None,
                    build_hash=None, config_hash=None, seen_at=None) -> int:
        t = seen_at or _now()
        with self.transaction():
            if self.boot(device_id, boot_id) is None:
                self.claim_boot(device_id, boot_id)
            self.conn.execute(
                "INSERT INTO boots (device_id, boot_id, fs, channels, fw_version, build_hash, config_hash,"
                " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(device_id, boot_id) DO UPDATE SET last_seen=excluded.last_seen,"
                " config_hash=coalesce(excluded.config_hash, config_hash)",
                (device_id, boot_id, fs, channels, fw_version, build_hash, config_hash, t, t))
            return self.conn.execute("SELECT id FROM boots WHERE device_id=? AND boot_id=?",
                                     (device_id, boot_id)).fetchone()[0]

    # Every table whose rows belong to a (device, boot).
    _BOOT_TABLES = ("events", "marks", "status", "session_boots")

    def claim_boot(self, device_id: int, boot_id: int) -> list:
        """A device with an id (row `device_id`) shows boot `boot_id`. A boot belongs to one
        device, so if a legacy row holds it, it is this device's: move it there with its
        events, marks and status, and with the sessions that recorded it (a session follows
        one device, so their other boots move too). Returns the boot ids moved."""
        if self.is_legacy(device_id):
            return []
        c = self.conn
        holders = c.execute("SELECT b.device_id FROM boots b JOIN devices d ON d.id = b.device_id"
                            " WHERE b.boot_id=? AND d.legacy=1", (boot_id,)).fetchall()
        if not holders:
            return []
        moved = []
        with self.transaction():
            c.execute("PRAGMA defer_foreign_keys = ON")  # boots and their rows move together
            for (legacy,) in holders:
                boots, sessions = {boot_id}, set()
                while True:  # the sessions of these boots, and their boots, until closed
                    marks = ",".join("?" * len(boots))
                    more = {r[0] for r in c.execute(
                        "SELECT session_id FROM session_boots WHERE device_id=? AND boot_id IN"
                        " (%s)" % marks, (legacy, *boots))}
                    if more <= sessions:
                        break
                    sessions |= more
                    marks = ",".join("?" * len(sessions))
                    boots |= {r[0] for r in c.execute(
                        "SELECT boot_id FROM session_boots WHERE session_id IN (%s)" % marks,
                        tuple(sessions))}
                for b in sorted(boots):
                    self._move_boot(legacy, device_id, b)
                    moved.append(b)
                for sid in sessions:
                    c.execute("UPDATE sessions SET device_id=? WHERE id=?", (device_id, sid))
        return moved

    def _move_boot(self, src, dst, boot_id):
        c = self.conn
        if self.boot(dst, boot_id) is None:
            c.execute("UPDATE boots SET device_id=? WHERE device_id=? AND boot_id=?",
                      (dst, src, boot_id))
        else:  # both hold it (two legacy rows did): the same records, keep one of each
            c.execute("DELETE FROM boots WHERE device_id=? AND boot_id=?", (src, boot_id))
        for table in self._BOOT_TABLES:
            c.execute("UPDATE OR IGNORE %s SET device_id=? WHERE device_id=? AND boot_id=?"
                      % table, (dst, src, boot_id))
            c.execute("DELETE FROM %s WHERE device_id=? AND boot_id=?" % table, (src, boot_id))

    def upsert_boot_from_hello(self, device_id, hello, seen_at=None) -> int:
        return self.upsert_boot(device_id, hello.boot_id, hello.fs, hello.channels, hello.fw_version,
                                hello.build_hash, hello.config_hash, seen_at)

    def set_boot_sync(self, device_id, boot_id, unix_ms, sample_index, rtt_ms=None) -> None:
        """Record that device sample `sample_index` of this boot happened at host time `unix_ms`
        (within +-rtt_ms/2). The latest sync of a boot wins."""
        with self.transaction():
            cur = self.conn.execute(
                "UPDATE boots SET sync_unix_ms=?, sync_sample_index=?, sync_rtt_ms=? "
                "WHERE device_id=? AND boot_id=?",
                (unix_ms, sample_index, rtt_ms, device_id, boot_id))
            if cur.rowcount != 1:
                raise StoreError("no boot %08x of device %d to synchronise" % (boot_id, device_id))

    def boot(self, device_id, boot_id):
        return self.conn.execute("SELECT * FROM boots WHERE device_id=? AND boot_id=?",
                                 (device_id, boot_id)).fetchone()

    def clock(self, device_id, boot_id):
        """Sample index of this boot -> unix ms (a function), or None for a boot without sync."""
        return self._clock(device_id, boot_id)

    def _clock(self, device_id, boot_id):
        row = self.conn.execute(
            "SELECT fs, sync_unix_ms, sync_sample_index FROM boots WHERE device_id=? AND boot_id=?",
            (device_id, boot_id)).fetchone()
        if row is None or row["sync_unix_ms"] is None or not row["fs"]:
            return None
        fs, ms0, i0 = row["fs"], row["sync_unix_ms"], row["sync_sample_index"]
        return lambda idx: ms0 + round((idx - i0) * 1000 / fs)

    # ---- sessions

    def new_session(self, device_id: int, started_at=None, raw=False, channels=(), fs=None,
                    notes=None) -> int:
        """A new session, held by this Store until end_session() or close(): another process
        that finds it open and not held knows its recorder died (close_interrupted_sessions).
        With raw=True its raw file path is raw/<id>.i16, or raw/<id>-2.i16... if that name is
        taken (a raw file is never overwritten; the caller creates it)."""
        from myotwitch.notes import parse_note_text

        factors, tags, text = parse_note_text(notes)  # checked before anything is written
        started_at = started_at or _now()
        with self.transaction():
            cur = self.conn.execute(
                "INSERT INTO sessions (device_id, started_at, channels, fs, notes) VALUES (?,?,?,?,?)",
                (device_id, started_at, json.dumps(list(channels)) if raw else None,
                 fs, notes))
            sid = cur.lastrowid
            if text:  # the session's notes are a note like any other, spanning the session
                self.insert_note(round(started_at * 1000), None, factors, tags, text, sid)
            if raw:
                self.conn.execute("UPDATE sessions SET raw_path=? WHERE id=?",
                                  (self._free_raw_name(sid), sid))
            self._hold(sid)  # before the commit: nobody can see the session unheld
        return sid

    def _free_raw_name(self, sid) -> str:
        taken = {r[0] for r in self.conn.execute(
            "SELECT raw_path FROM sessions WHERE raw_path IS NOT NULL")}
        k = 1
        while True:
            name = "%s/%d%s.i16" % (RAW_DIR, sid, "" if k == 1 else "-%d" % k)
            f = self.root / name
            if name not in taken and not f.exists() and not f.with_suffix(".json").exists():
                return name
            k += 1

    # ---- sessions whose recorder died

    def _lock_path(self, sid) -> Path:
        return self.live_dir / str(sid)

    def _hold(self, sid):
        private.make_dir(self.live_dir)
        fd = os.open(self._lock_path(sid), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StoreError("session %d is held by another process" % sid) from None
        self._held[sid] = fd

    def _release(self, sid):
        fd = self._held.pop(sid, None)
        if fd is not None:
            self._lock_path(sid).unlink(missing_ok=True)
            os.close(fd)  # drops the lock

    def _unheld(self, sid) -> bool:
        """True if no process holds session `sid` (its lock is free); the lock file is gone
        afterwards."""
        if sid in self._held:
            return False
        try:
            private.make_dir(self.live_dir)
            fd = os.open(self._lock_path(sid), os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return False  # cannot tell: leave the session as it is
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._lock_path(sid).unlink(missing_ok=True)
        os.close(fd)
        return True

    def close_interrupted_sessions(self) -> list:
        """Sessions left open by a recorder that died (kill -9, power loss of the host): close
        them, `ended: host crash`, at the last thing stored (a record's arrival, or the raw
        file's last write); their time span widens to the raw samples on disk, and records
        already stored that fall in it are attached (so pull's recoveries find the session).
        Returns [(session id, ended_at)]."""
        from myotwitch.rawfile import raw_extent

        out = []
        open_ = [r[0] for r in self.conn.execute("SELECT id FROM sessions WHERE ended_at IS NULL")]
        for sid in open_:
            if not self._unheld(sid):
                continue
            with self.transaction():
                s = self.conn.execute("SELECT * FROM sessions WHERE id=? AND ended_at IS NULL",
                                      (sid,)).fetchone()
                if s is None:
                    continue
                ended = s["started_at"]
                for table in ("events", "marks", "status"):
                    t = self.conn.execute("SELECT max(received_at) FROM %s WHERE session_id=?"
                                          % table, (sid,)).fetchone()[0]
                    ended = max(ended, t or ended)
                rp = self.raw_path(sid)
                if rp is not None and rp.exists():
                    ended = max(ended, rp.stat().st_mtime)
                    for boot, (lo, hi) in raw_extent(rp).items():
                        self.note_samples(sid, boot, lo, hi)
                self.conn.execute("UPDATE sessions SET ended_at=?, end_reason=? WHERE id=?",
                                  (ended, "host crash", sid))
                self._end_note(sid, ended)
                for b in self.session_boots(sid):
                    self.attach_to_sessions(b["device_id"], b["boot_id"])
            out.append((sid, ended))
        return out

    def attach_to_sessions(self, device_id, boot_id) -> int:
        """Records of this boot stored without a session (pulled from the log) that fall in a
        session's span of this boot's sample indices belong to it: attach them. Returns how
        many were attached."""
        n = 0
        for table, col in (("events", "onset"), ("marks", "sample_index"),
                           ("status", "sample_index")):
            n += self.conn.execute(
                "UPDATE %s SET session_id = (SELECT sb.session_id FROM session_boots sb"
                " WHERE sb.device_id = %s.device_id AND sb.boot_id = %s.boot_id"
                " AND %s.%s BETWEEN sb.first_index AND sb.last_index"
                " ORDER BY sb.session_id DESC LIMIT 1)"
                " WHERE device_id=? AND boot_id=? AND session_id IS NULL AND EXISTS"
                " (SELECT 1 FROM session_boots sb WHERE sb.device_id = %s.device_id"
                " AND sb.boot_id = %s.boot_id AND %s.%s BETWEEN sb.first_index AND sb.last_index)"
                % (table, table, table, table, col, table, table, table, col),
                (device_id, boot_id)).rowcount
        return n

    def raw_path(self, session_id) -> Path | None:
        row = self.conn.execute("SELECT raw_path FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None or not row["raw_path"]:
            return None
        return self.root / row["raw_path"]

    def session_raw(self, session_id, to: str) -> Path:
        """The raw file of a session that must have one (to replay or verify it, `to`)."""
        if self.session(session_id) is None:
            raise StoreError("no session %d in %s (see `myotwitch sessions`)"
                             % (session_id, self.path))
        path = self.raw_path(session_id)
        if path is None:
            raise StoreError("session %d was recorded without raw samples: record with "
                             "`record --raw` to %s a session" % (session_id, to))
        if not path.exists():
            raise StoreError("session %d: its raw file %s is missing" % (session_id, path))
        return path

    def add_session_boot(self, session_id, device_id, boot_id) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT OR IGNORE INTO session_boots (session_id, device_id, boot_id) VALUES (?,?,?)",
                (session_id, device_id, boot_id))

    def set_detector_config(self, session_id, boot_id, params: dict) -> None:
        """The detector settings (det_* keys) in force for this boot of the session."""
        with self.transaction():
            self.conn.execute(
                "UPDATE session_boots SET detector_config=? WHERE session_id=? AND boot_id=?",
                (json.dumps(params, sort_keys=True), session_id, boot_id))

    def note_samples(self, session_id, boot_id, first_index, last_index) -> None:
        """Widen the range of sample indices this session has seen in this boot."""
        self.conn.execute(
            "UPDATE session_boots SET first_index=min(coalesce(first_index, ?), ?),"
            " last_index=max(coalesce(last_index, ?), ?) WHERE session_id=? AND boot_id=?",
            (first_index, first_index, last_index, last_index, session_id, boot_id))

    def note_dropped(self, session_id, boot_id, dropped, begins=False) -> None:
        """The device's dropped-sample count of this boot at a clock sync of the session (the
        first one sets where the session began; `begins`: the boot began in the session)."""
        with self.transaction():
            self.conn.execute(
                "UPDATE session_boots SET dropped_first=coalesce(dropped_first, ?),"
                " dropped_last=? WHERE session_id=? AND boot_id=?",
                (0 if begins else dropped, dropped, session_id, boot_id))

    def session_status_stats(self, session_id) -> list:
        """Per boot of the session: its first and last STATUS `dropped` and the noise floors
        (JSON lists) of every STATUS, in order."""
        out = []
        for b in self.conn.execute("SELECT boot_id FROM session_boots WHERE session_id=?",
                                   (session_id,)):
            rows = self.conn.execute(
                "SELECT dropped, noise FROM status WHERE session_id=? AND boot_id=? ORDER BY id",
                (session_id, b["boot_id"])).fetchall()
            out.append({"boot_id": b["boot_id"], "statuses": len(rows),
                        "dropped_first": rows[0]["dropped"] if rows else None,
                        "dropped_last": rows[-1]["dropped"] if rows else None,
                        "noise": [json.loads(r["noise"] or "[]") for r in rows]})
        return out

    def device_noise_history(self, device_id, before_session) -> list:
        """Noise floors (JSON lists) of every STATUS this device sent in earlier sessions."""
        return [json.loads(r["noise"] or "[]") for r in self.conn.execute(
            "SELECT noise FROM status WHERE device_id=? AND session_id < ?",
            (device_id, before_session))]

    def end_session(self, session_id, ended_at=None, link_stats=None, end_reason=None) -> None:
        ended_at = ended_at or _now()
        with self.transaction():
            self.conn.execute(
                "UPDATE sessions SET ended_at=?, link_stats=?, end_reason=? WHERE id=?",
                (ended_at, json.dumps(link_stats) if link_stats is not None else None,
                 end_reason, session_id))
            self._end_note(session_id, ended_at)
        self._release(session_id)

    def _end_note(self, session_id, ended_at) -> None:
        # the session's note now spans the session (a moment until it ended)
        self.conn.execute("UPDATE notes SET end_ms=? WHERE session_id=? AND end_ms IS NULL"
                          " AND start_ms < ?",
                          (round(ended_at * 1000), session_id, round(ended_at * 1000)))

    def set_link_stats(self, session_id, link_stats) -> None:
        self.conn.execute("UPDATE sessions SET link_stats=? WHERE id=?",
                          (json.dumps(link_stats), session_id))

    def session(self, session_id):
        return self.conn.execute(
            "SELECT s.*, d.board, d.key AS device_key, d.fw_version FROM sessions s "
            "JOIN devices d ON d.id = s.device_id WHERE s.id=?", (session_id,)).fetchone()

    def latest_session_id(self) -> int | None:
        row = self.conn.execute("SELECT max(id) FROM sessions").fetchone()
        return row[0]

    def sessions(self, limit: int | None = None) -> list:
        sql = ("SELECT s.id, s.started_at, s.ended_at, s.end_reason, s.raw_path, s.notes, d.board,"
               " d.key AS device_key,"
               " (SELECT count(*) FROM events e WHERE e.session_id = s.id) AS events,"
               " (SELECT count(*) FROM events e WHERE e.session_id = s.id AND e.kind = 0) AS twitches,"
               " (SELECT count(*) FROM marks m WHERE m.session_id = s.id) AS marks,"
               " (SELECT count(*) FROM session_boots b WHERE b.session_id = s.id) AS boots"
               " FROM sessions s JOIN devices d ON d.id = s.device_id ORDER BY s.id DESC")
        if limit:
            sql += " LIMIT %d" % int(limit)
        return self.conn.execute(sql).fetchall()

    def session_boots(self, session_id) -> list:
        return self.conn.execute(
            "SELECT sb.*, b.fs, b.sync_unix_ms FROM session_boots sb JOIN boots b"
            " ON b.device_id = sb.device_id AND b.boot_id = sb.boot_id WHERE sb.session_id=?"
            " ORDER BY b.first_seen, sb.rowid", (session_id,)).fetchall()

    # ---- records

    def add_events(self, session_id, device_id, boot_id, events, source="live") -> int:
        """Insert events (dicts with seq, onset, duration, kind, channel, peak, area and optional
        received_at). Returns how many were new; repeated (device, boot, seq) are skipped."""
        clock = self._clock(device_id, boot_id)
        n = 0
        with self.transaction():
            for e in events:
                onset_ms = clock(e["onset"]) if clock else None
                cur = self.conn.execute(
                    "INSERT INTO events (device_id, boot_id, seq, session_id, onset, duration, kind,"
                    " channel, peak, area, onset_unix_ms, received_at, source)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(device_id, boot_id, seq) DO NOTHING",
                    (device_id, boot_id, e["seq"], session_id, e["onset"], e["duration"], e["kind"],
                     e["channel"], e["peak"], e["area"], onset_ms, e.get("received_at"), source))
                n += cur.rowcount
        return n

    def add_marks(self, session_id, device_id, boot_id, marks) -> int:
        clock = self._clock(device_id, boot_id)
        n = 0
        with self.transaction():
            for m in marks:
                cur = self.conn.execute(
                    "INSERT INTO marks (device_id, boot_id, seq, session_id, sample_index, source, unix_ms,"
                    " received_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(device_id, boot_id, seq) DO NOTHING",
                    (device_id, boot_id, m["seq"], session_id, m["sample_index"], m["source"],
                     clock(m["sample_index"]) if clock else None, m.get("received_at")))
                n += cur.rowcount
        return n

    def add_status(self, session_id, device_id, boot_id, statuses) -> int:
        n = 0
        with self.transaction():
            for s in statuses:
                cur = self.conn.execute(
                    "INSERT INTO status (device_id, boot_id, session_id, frame_seq, received_at, uptime_s,"
                    " sample_index, battery_mv, dropped, log_fill, cpu_load, noise)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(device_id, boot_id, sample_index) DO NOTHING",
                    (device_id, boot_id, session_id, s.get("seq"), s.get("received_at"), s["uptime_s"],
                     s["sample_index"], s.get("battery_mv"), s["dropped"], s.get("log_fill"),
                     s.get("cpu_load"), json.dumps(list(s.get("noise") or []))))
                n += cur.rowcount
        return n

    def events(self, session_id) -> list:
        return self.conn.execute("SELECT * FROM events WHERE session_id=? ORDER BY boot_id, seq",
                                 (session_id,)).fetchall()

    def marks(self, session_id) -> list:
        return self.conn.execute("SELECT * FROM marks WHERE session_id=? ORDER BY seq",
                                 (session_id,)).fetchall()

    def status_rows(self, session_id) -> list:
        return self.conn.execute("SELECT * FROM status WHERE session_id=? ORDER BY id",
                                 (session_id,)).fetchall()

    def event_counts(self, session_id) -> dict:
        """{kind name: count} for a session, every kind present."""
        out = {name: 0 for name in mp.KIND_NAMES}
        for kind, n in self.conn.execute(
                "SELECT kind, count(*) FROM events WHERE session_id=? GROUP BY kind", (session_id,)):
            out[mp.KIND_NAMES[kind] if 0 <= kind < len(mp.KIND_NAMES) else "kind %d" % kind] = n
        return out

    def last_status_per_boot(self, session_id) -> list:
        """The last STATUS of each boot seen in the session (dropped counts are per boot)."""
        return self.conn.execute(
            "SELECT s.* FROM status s WHERE s.id IN (SELECT max(id) FROM status WHERE session_id=?"
            " GROUP BY boot_id) ORDER BY s.id", (session_id,)).fetchall()

    # ---- notes (the rules and checks are in notes.py; these are the rows)

    def insert_note(self, start_ms, end_ms, factors: dict, tags, text, session_id=None) -> int:
        now = _now()
        with self.transaction():
            nid = self.conn.execute(
                "INSERT INTO notes (start_ms, end_ms, text, session_id, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?)", (start_ms, end_ms, text, session_id, now, now)).lastrowid
            self._note_items(nid, factors, tags)
        return nid

    def _note_items(self, nid, factors, tags):
        self.conn.executemany("INSERT INTO note_factors (note_id, factor, value) VALUES (?,?,?)",
                              [(nid, k, float(v)) for k, v in factors.items()])
        self.conn.executemany("INSERT INTO note_tags (note_id, tag) VALUES (?,?)",
                              [(nid, t) for t in tags])

    def update_note(self, note_id, start_ms, end_ms, factors: dict, tags, text) -> None:
        with self.transaction():
            self.conn.execute("UPDATE notes SET start_ms=?, end_ms=?, text=?, updated_at=?"
                              " WHERE id=?", (start_ms, end_ms, text, _now(), note_id))
            self.conn.execute("DELETE FROM note_factors WHERE note_id=?", (note_id,))
            self.conn.execute("DELETE FROM note_tags WHERE note_id=?", (note_id,))
            self._note_items(note_id, factors, tags)
            # a session's note and the session's notes column say the same
            self.conn.execute("UPDATE sessions SET notes=? WHERE id=(SELECT session_id FROM notes"
                              " WHERE id=?)", (text, note_id))

    def delete_note(self, note_id) -> None:
        with self.transaction():
            self.conn.execute("UPDATE sessions SET notes=NULL WHERE id=(SELECT session_id FROM"
                              " notes WHERE id=?)", (note_id,))
            self.conn.execute("DELETE FROM notes WHERE id=?", (note_id,))

    def notes_rows(self, ids=None, since_ms=None, until_ms=None) -> list[dict]:
        """Notes as dicts with their factors ({name: value}) and tags, oldest first. With
        since/until: those that may hold inside [since, until) (a moment holds to the end of
        its day, so moments up to a day before `since` are included; notes.span decides)."""
        where, args = [], []
        if ids is not None:
            where.append("id IN (%s)" % ",".join("?" * len(ids)))
            args += list(ids)
        if since_ms is not None:
            where.append("coalesce(end_ms, start_ms + 90000000) > ?")  # a day and a DST hour
            args.append(since_ms)
        if until_ms is not None:
            where.append("start_ms < ?")
            args.append(until_ms)
        sql = "SELECT * FROM notes"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = [dict(r) for r in self.conn.execute(sql + " ORDER BY start_ms, id", args)]
        by_id = {r["id"]: r for r in rows}
        for r in rows:
            r["factors"], r["tags"] = {}, []
        if rows:
            marks = ",".join("?" * len(rows))
            for nid, factor, value in self.conn.execute(
                    "SELECT note_id, factor, value FROM note_factors WHERE note_id IN (%s)"
                    " ORDER BY factor" % marks, list(by_id)):
                by_id[nid]["factors"][factor] = value
            for nid, tag in self.conn.execute(
                    "SELECT note_id, tag FROM note_tags WHERE note_id IN (%s) ORDER BY tag"
                    % marks, list(by_id)):
                by_id[nid]["tags"].append(tag)
        return rows
