"""The store failing after it is open (issue 16): a damaged page, a read-only file, another
program's lock, a full disk give one line naming the file and what to do; a recording outlives a
locked or full store and loses nothing; an emptied store is not re-created over its raw files,
a raw file is never overwritten; store files are tightened to the owner; a recording killed
with -9 is closed at the next write and `pull` gives its session what the device logged.
Real SQLite files, the real firmware on the virtual board."""

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from myotwitch import store as st
from myotwitch.cli import main
from myotwitch.dbfaults import StoreFault
from myotwitch.link import Device
from myotwitch.record import record_session
from myotwitch.sim import SimBoard
from myotwitch.verify import verify_session

from test_cli_store import fill

EXE = str(Path(sys.executable).parent / "myotwitch")


def one_line_error(r, *words):
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    err = r.stderr.strip()
    assert err.count("\n") == 0 and "Traceback" not in r.output, r.output
    for w in words:
        assert w in err, err
    return err


def test_a_damaged_page_is_one_line_naming_the_file(tmp_path):
    db = tmp_path / "d.db"
    fill(db, 3)
    c = sqlite3.connect(db)
    page = c.execute("PRAGMA page_size").fetchone()[0]
    root = c.execute("SELECT rootpage FROM sqlite_master WHERE name='events'").fetchone()[0]
    c.close()
    with open(db, "r+b") as f:  # overwrite the events table's page with garbage
        f.seek((root - 1) * page)
        f.write(os.urandom(page))
    r = CliRunner().invoke(main, ["sessions", "--db", str(db)])
    one_line_error(r, str(db), "damaged", ".recover")


def test_read_only_and_full_stores_are_store_faults(tmp_path):
    db = tmp_path / "r.db"
    fill(db, 1)
    # A read-only file (as root, permissions do not stop writes: open it read-only instead).
    import urllib.parse

    conn = sqlite3.connect("file:%s?mode=ro" % urllib.parse.quote(str(db)), uri=True,
                           factory=st.dbfaults.Connection, isolation_level=None)
    conn.path = db
    conn.row_factory = sqlite3.Row
    store = st.Store(db, conn)
    with pytest.raises(StoreFault, match="read-only.*chmod u\\+w") as e:
        store.upsert_device("virtual", key="ab12")
    assert e.value.transient and str(db) in str(e.value)
    store.close()
    # A full disk, for SQLite: no page may be added beyond max_page_count.
    with st.open_store(db) as store:
        dev = store.upsert_device("virtual", key="ab12")
        pages = store.conn.execute("PRAGMA page_count").fetchone()[0]
        store.conn.execute("PRAGMA max_page_count = %d" % pages)
        with pytest.raises(StoreFault, match="disk full.*free some space") as e:
            store.new_session(dev, notes="x" * 100_000)
        assert e.value.transient
        assert store.conn.execute("SELECT count(*) FROM sessions WHERE device_id=?",
                                  (dev,)).fetchone()[0] == 0  # nothing half done


def _hold_lock(db, windows, t0, done):
    """Another program: holds the store's write lock during each (start, end) second window."""
    c = sqlite3.connect(db, isolation_level=None)
    for a, b in windows:
        time.sleep(max(0.0, t0 + a - time.monotonic()))
        c.execute("BEGIN IMMEDIATE")
        time.sleep(max(0.0, t0 + b - time.monotonic()))
        c.execute("COMMIT")
    c.close()
    done.set()


JUNK_BOOT = 1


def _fill_disk(c, dev):
    """SQLite's own "database or disk is full": no page may be added (max_page_count), and the
    pages that the recording's next inserts would use are filled with junk (a dummy boot)."""
    c.execute("INSERT INTO boots (device_id, boot_id, fs, first_seen, last_seen)"
              " VALUES (?, ?, 1000, 0, 0)", (dev, JUNK_BOOT))
    c.execute("CREATE TABLE junk (b)")
    c.execute("PRAGMA max_page_count = %d" % c.execute("PRAGMA page_count").fetchone()[0])
    for sql in ("INSERT INTO junk VALUES (zeroblob(500))",
                "INSERT INTO events (device_id, boot_id, seq, onset, duration, kind, channel, peak,"
                " area) SELECT ?, ?, coalesce(max(seq), 0) + 1, 0, 0, 0, 0, 0, 0 FROM events",
                "INSERT INTO status (device_id, boot_id, uptime_s, sample_index, dropped)"
                " SELECT ?, ?, 0, coalesce(max(sample_index), 0) + 1, 0 FROM status"):
        with pytest.raises(StoreFault, match="disk full"):
            while True:
                c.execute(sql, () if "junk" in sql else (dev, JUNK_BOOT))


def _free_disk(c, dev):
    c.execute("PRAGMA max_page_count = 1073741823")
    for table in ("events", "status", "boots"):
        c.execute("DELETE FROM %s WHERE device_id=? AND boot_id=?" % table, (dev, JUNK_BOOT))
    c.execute("DROP TABLE junk")


def record_through_faults(tmp, locks, duration, full_at=None, speed=2):
    """Record with raw samples while another program locks the store during each (start, end)
    window (seconds from the start) and, from `full_at` on, the disk is full until the recorder
    has felt it. Returns (events the device sent, events stored in the session, warnings,
    the verification, the RecordResult, seconds it took)."""
    db = tmp / "s.db"
    warnings, live, full = [], [], []
    with SimBoard(speed=speed, flash=tmp / "f.img") as board, \
            Device.open(board.port) as dev, st.open_store(db) as store:
        t0 = time.monotonic()
        done = threading.Event()
        threading.Thread(target=_hold_lock, args=(db, locks, t0, done), daemon=True).start()

        def fill_up(msg):
            live.append(msg)
            if full_at is None:
                return
            now = time.monotonic() - t0
            c = store.conn
            row = c.execute("SELECT device_id FROM sessions ORDER BY id DESC").fetchone()
            if now > full_at and not full:
                full.append("full")
                _fill_disk(c, row[0])
            elif full == ["full"] and (any("disk full" in w for w in warnings)
                                       or now > full_at + 2.5):
                full.append("freed")
                _free_disk(c, row[0])

        res = record_session(dev, store, duration=duration, raw=True, on_message=fill_up,
                             on_warning=warnings.append)
        done.wait(30)
        took = time.monotonic() - t0
        sent = sorted(m.seq for m in live if m.type == 0x21)
        stored = [r["seq"] for r in store.conn.execute(
            "SELECT seq FROM events WHERE session_id=? ORDER BY seq", (res.session_id,))]
        v = verify_session(store, res.session_id)
    return sent, stored, warnings, v, res, took


def test_a_recording_outlives_a_locked_and_a_full_store(tmp_path):
    # Locked in the middle, the disk full between the locks, locked again over the end.
    sent, stored, warnings, v, res, took = record_through_faults(
        tmp_path, [(1.0, 3.0), (6.5, 9.0)], 7.0, full_at=3.5)
    assert took >= 9.0  # the end waited for the lock
    text = "\n".join(warnings)
    assert "locked" in text and "disk full" in text and "works again" in text, text
    assert "waiting up to" in text
    assert res.end_reason == "duration" and res.left_on_device == 0
    assert sent and stored == sent  # every event the device sent is stored, once
    assert v.agree, v.pairs  # and the raw file went on meanwhile: verify agrees


def test_an_emptied_store_beside_raw_files_is_refused_and_raw_files_never_overwritten(tmp_path):
    db = tmp_path / "s.db"
    with SimBoard(speed=5, flash=tmp_path / "f.img") as board:
        with Device.open(board.port) as dev, st.open_store(db) as store:
            first = record_session(dev, store, duration=1.0, raw=True)
        raw1 = tmp_path / "raw" / ("%d.i16" % first.session_id)
        before = raw1.read_bytes()
        db.write_bytes(b"")  # truncated
        r = CliRunner().invoke(main, ["--db", str(db), "record", "--port", board.port,
                                      "--duration", "1"])
        one_line_error(r, str(db), "is empty", "raw recording", "Restore it from a backup")
        assert db.stat().st_size == 0 and raw1.read_bytes() == before  # nothing touched
        db.unlink()  # the user starts a new store there: its session 1 gets another name
        with Device.open(board.port) as dev, st.open_store(db) as store:
            again = record_session(dev, store, duration=1.0, raw=True)
            path = store.raw_path(again.session_id)
    assert again.session_id == first.session_id and path.name == "%d-2.i16" % first.session_id
    assert raw1.read_bytes() == before and path.stat().st_size > 0


def test_store_files_are_tightened_to_the_owner_once(tmp_path):
    root = tmp_path / "data"
    db = root / "m.db"
    fill(db, 1)
    raw = root / "raw"
    raw.mkdir()
    (raw / "1.i16").write_bytes(b"\0\0")
    for p, mode in ((root, 0o755), (db, 0o644), (raw, 0o755), (raw / "1.i16", 0o644)):
        os.chmod(p, mode)
    r = CliRunner().invoke(main, ["sessions", "--db", str(db)])
    assert r.exit_code == 0 and "made owner-only" in r.stderr and str(raw) in r.stderr, r.output
    for p in (root, raw):
        assert stat.S_IMODE(p.stat().st_mode) == 0o700
    for p in (db, raw / "1.i16"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    r = CliRunner().invoke(main, ["sessions", "--db", str(db)])
    assert r.exit_code == 0 and "owner-only" not in r.stderr  # said once
    # The user's virtual board: its flash image holds the event log.
    home = root / "virtual-board"
    home.mkdir(mode=0o755)
    (home / "flash.img").write_bytes(b"")
    os.chmod(home, 0o755)
    os.chmod(home / "flash.img", 0o644)
    env = {"MYOTWITCH_DATA_DIR": str(root)}
    r = CliRunner().invoke(main, ["--port", "sim", "info"], env=env)
    assert r.exit_code == 0 and "made owner-only" in r.stderr and "flash.img (was 0644)" in \
        r.stderr, r.output
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "flash.img").stat().st_mode) == 0o600
    r = CliRunner().invoke(main, ["--port", "sim", "info"], env=env)
    assert r.exit_code == 0 and "owner-only" not in r.stderr


def kill_record_then_pull(tmp, nth_event=3, speed=2):
    """`myotwitch record --raw` SIGKILLed just after its nth event arrived, then `pull` (the
    next command that writes the store). Returns (session id, what pull printed on stderr,
    events of the session from the log only, events the device logged in the session's
    span, events of the session, verify's CLI result)."""
    db = tmp / "s.db"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with SimBoard(speed=speed, flash=tmp / "f.img") as board:
        p = subprocess.Popen([EXE, "--db", str(db), "record", "--raw", "--port", board.port],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
        watchdog = threading.Timer(60, p.kill)  # never hang
        watchdog.start()
        seen = 0
        for line in p.stdout:  # an event just arrived: the host dies before it is committed
            if line.startswith("  #"):
                seen += 1
                if seen == nth_event:
                    p.send_signal(signal.SIGKILL)
                    break
        p.wait()
        watchdog.cancel()
        assert seen == nth_event
        c = sqlite3.connect(db)
        sid, ended = c.execute("SELECT id, ended_at FROM sessions ORDER BY id DESC").fetchone()
        c.close()
        assert ended is None  # left open by the crash
        r = CliRunner().invoke(main, ["--db", str(db), "pull", "--port", board.port, "-q"])
        assert r.exit_code == 0, r.output
    with st.open_store(db) as store:
        recovered = store.conn.execute("SELECT count(*) FROM events WHERE session_id=? AND"
                                       " source='log'", (sid,)).fetchone()[0]
        in_span = store.conn.execute(
            "SELECT count(*) FROM events e JOIN session_boots sb ON sb.device_id = e.device_id"
            " AND sb.boot_id = e.boot_id WHERE sb.session_id=? AND e.onset BETWEEN"
            " sb.first_index AND sb.last_index", (sid,)).fetchone()[0]
        attached = store.conn.execute("SELECT count(*) FROM events WHERE session_id=?",
                                      (sid,)).fetchone()[0]
        s = store.session(sid)
        assert s["end_reason"] == "host crash" and s["ended_at"] >= s["started_at"]
    v = CliRunner().invoke(main, ["--db", str(db), "verify", str(sid)])
    return sid, r.stderr, recovered, in_span, attached, v


def test_kill_9_during_record_raw_then_pull_and_verify_agree(tmp_path):
    sid, told, recovered, in_span, attached, v = kill_record_then_pull(tmp_path)
    assert "session %d was left open by a host crash" % sid in told
    assert v.exit_code == 0 and "AGREE" in v.output, v.output
    assert attached == in_span  # every event the device logged in the session's span is in it
    assert recovered >= 1  # the event the host never committed came from the device's log


def test_past_the_memory_bound_records_wait_in_the_boards_log(tmp_path, monkeypatch):
    from myotwitch import record
    from myotwitch.pull import pull_log

    monkeypatch.setattr(record, "MAX_BUFFERED", 2)
    db = tmp_path / "s.db"
    warnings, live = [], []
    with SimBoard(speed=4, flash=tmp_path / "f.img") as board:
        with Device.open(board.port) as dev, st.open_store(db) as store:
            t0 = time.monotonic()
            done = threading.Event()
            threading.Thread(target=_hold_lock, args=(db, [(0.3, 4.5)], t0, done),
                             daemon=True).start()
            res = record_session(dev, store, duration=4.0, on_message=live.append,
                                 on_warning=warnings.append)
        assert res.left_on_device > 0 and "stay only in the device's log" in "\n".join(warnings)
        with Device.open(board.port) as dev, st.open_store(db) as store:
            pull_log(dev, store)
            stored = [r["seq"] for r in store.conn.execute(
                "SELECT seq FROM events WHERE session_id=? ORDER BY seq", (res.session_id,))]
    sent = sorted(m.seq for m in live if m.type == 0x21)
    assert len(sent) > 2 and stored == sent  # pull brought the rest back into the session


def test_a_read_only_store_is_read_and_never_written(tmp_path):
    """An immutable file (chattr +i: read-only even for root, who runs the tests here)."""
    db = tmp_path / "ro.db"
    fill(db, 2)
    subprocess.run(["chattr", "+i", str(db)], check=True)
    try:
        r = CliRunner().invoke(main, ["--db", str(db), "record", "--port", "sim",
                                      "--duration", "1"])
        one_line_error(r, str(db), "read-only", "chmod u+w")
        r = CliRunner().invoke(main, ["--db", str(db), "sessions", "--json"])
        assert r.exit_code == 0 and len(r.stdout.splitlines()) == 2, r.output
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
