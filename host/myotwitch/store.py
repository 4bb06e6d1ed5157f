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

import json
import os
import sqlite3
import time
import urllib.parse
from contextlib import contextmanager
from pathlib import Path

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
]

SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    pass


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


def _create_private(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, 0o600)


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
    _create_private(path)
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=10.0)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError("cannot use %s as a myotwitch store: %s" % (path, e)) from e
    except BaseException:
        conn.close()
        raise
    return Store(path, conn)


def _open_readonly(path: Path) -> "Store":
    # mode=rw, not ro: a read-only connection leaves the WAL's -wal and -shm files behind,
    # a read-write one that writes nothing removes them when it closes.
    uri = "file:%s?mode=rw" % urllib.parse.quote(str(path.resolve()))
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=10.0)
    except sqlite3.OperationalError as e:
        raise StoreError("cannot open %s: %s" % (path, e)) from e
    conn.row_factory = sqlite3.Row
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version < SCHEMA_VERSION:
            mem = sqlite3.connect(":memory:", isolation_level=None)
            mem.row_factory = sqlite3.Row
            conn.backup(mem)
            conn.close()
            conn = mem
            migrate(conn)
        elif version > SCHEMA_VERSION:
            migrate(conn)  # says: written by a newer myotwitch
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError("cannot use %s as a myotwitch store: %s" % (path, e)) from e
    except BaseException:
        conn.close()
        raise
    return Store(path, conn)


def _now() -> float:
    return time.time()


class Store:
    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = Path(path)
        self.conn = conn
        self.root = self.path.parent
        self.raw_dir = self.root / RAW_DIR
        self._depth = 0

    # ---- lifetime and transactions

    def close(self):
        if self.conn is not None:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @contextmanager
    def transaction(self):
        """All or nothing; nests (inner blocks are savepoints)."""
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
            if self._depth == 0:
                c.execute("ROLLBACK")
            else:
                c.execute("ROLLBACK TO sp%d" % self._depth)
                c.execute("RELEASE sp%d" % self._depth)
            raise
        self._depth -= 1
        if self._depth == 0:
            c.execute("COMMIT")
        else:
            c.execute("RELEASE sp%d" % self._depth)

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    # ---- devices and boots

    def upsert_device(self, board: str, key: str | None = None, fw_version=None, build_hash=None,
                      proto=None, channels=None, fs=None, seen_at=None) -> int:
        """Device row id for `key` (default: the board name), updating what it reports."""
        key = key or board
        t = seen_at or _now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO devices (key, board, fw_version, build_hash, proto, channels, fs, first_seen, last_seen)"
                " VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(key) DO UPDATE SET board=excluded.board,"
                " fw_version=coalesce(excluded.fw_version, fw_version),"
                " build_hash=coalesce(excluded.build_hash, build_hash),"
                " proto=coalesce(excluded.proto, proto), channels=coalesce(excluded.channels, channels),"
                " fs=coalesce(excluded.fs, fs), last_seen=excluded.last_seen",
                (key, board, fw_version, build_hash, proto, channels, fs, t, t))
            return self.conn.execute("SELECT id FROM devices WHERE key=?", (key,)).fetchone()[0]

    def upsert_device_from_hello(self, hello, key=None, seen_at=None) -> int:
        return self.upsert_device(hello.board, key=key, fw_version=hello.fw_version,
                                  build_hash=hello.build_hash, proto=hello.proto,
                                  channels=hello.channels, fs=hello.fs, seen_at=seen_at)

    def upsert_boot(self, device_id: int, boot_id: int, fs: int, channels=None, fw_version=None,
                    build_hash=None, config_hash=None, seen_at=None) -> int:
        t = seen_at or _now()
        with self.transaction():
            self.conn.execute(
                "INSERT INTO boots (device_id, boot_id, fs, channels, fw_version, build_hash, config_hash,"
                " first_seen, last_seen) VALUES (?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(device_id, boot_id) DO UPDATE SET last_seen=excluded.last_seen,"
                " config_hash=coalesce(excluded.config_hash, config_hash)",
                (device_id, boot_id, fs, channels, fw_version, build_hash, config_hash, t, t))
            return self.conn.execute("SELECT id FROM boots WHERE device_id=? AND boot_id=?",
                                     (device_id, boot_id)).fetchone()[0]

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
        """A new session; with raw=True its raw file path is raw/<id>.i16 (created by the caller)."""
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
                                  ("%s/%d.i16" % (RAW_DIR, sid), sid))
        return sid

    def raw_path(self, session_id) -> Path | None:
        row = self.conn.execute("SELECT raw_path FROM sessions WHERE id=?", (session_id,)).fetchone()
        if row is None or not row["raw_path"]:
            return None
        return self.root / row["raw_path"]

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
