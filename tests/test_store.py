"""The host store: real SQLite files in temporary directories, and raw sample files."""

import json
import os
import sqlite3
import stat

import numpy as np
import pytest

from myotwitch import store as st
from myotwitch.rawfile import RawWriter, load_raw


@pytest.fixture
def db(tmp_path):
    s = st.open_store(tmp_path / "data" / "m.db")
    yield s
    s.close()


def ev(seq, onset=100, kind=0):
    return {"seq": seq, "onset": onset, "duration": 13, "kind": kind, "channel": 0, "peak": 200,
            "area": 800, "received_at": 1.0}


def setup_device(s, boot=7):
    dev = s.upsert_device("virtual", fw_version="1.0", build_hash="00ff", proto=1, channels=1, fs=1000)
    s.upsert_boot(dev, boot, 1000, 1)
    sid = s.new_session(dev)
    s.add_session_boot(sid, dev, boot)
    return dev, sid


def test_migrates_an_empty_file_and_is_owner_only(tmp_path):
    path = tmp_path / "deep" / "dir" / "m.db"
    s = st.open_store(path)
    try:
        assert s.schema_version == st.SCHEMA_VERSION == len(st.MIGRATIONS)
        tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"devices", "boots", "sessions", "session_boots", "events", "marks", "status"} <= tables
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        dev, sid = setup_device(s)  # writes: WAL files appear
        for p in [path] + [path.with_name(path.name + x) for x in ("-wal", "-shm")]:
            if p.exists():
                assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p
    finally:
        s.close()
    # an existing empty file (e.g. touched by the user) is migrated too
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    s = st.open_store(empty)
    assert s.schema_version == st.SCHEMA_VERSION
    s.close()
    # reopening does not migrate again, data survives
    s = st.open_store(path)
    assert s.schema_version == st.SCHEMA_VERSION and s.latest_session_id() == sid
    s.close()


def test_refuses_newer_schema_and_non_databases(tmp_path):
    path = tmp_path / "new.db"
    c = sqlite3.connect(path)
    c.execute("PRAGMA user_version = 999")
    c.close()
    with pytest.raises(st.StoreError, match="newer myotwitch"):
        st.open_store(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(st.StoreError, match="cannot use"):
        st.open_store(junk)


def test_a_failing_migration_leaves_the_database_untouched(tmp_path, monkeypatch):
    monkeypatch.setattr(st, "MIGRATIONS", st.MIGRATIONS + ["CREATE TABLE x (a); CREATE TABLE devices (b);"])
    monkeypatch.setattr(st, "SCHEMA_VERSION", len(st.MIGRATIONS))
    path = tmp_path / "m.db"
    with pytest.raises(st.StoreError):
        st.open_store(path)
    c = sqlite3.connect(path)
    assert c.execute("PRAGMA user_version").fetchone()[0] == len(st.MIGRATIONS) - 1
    assert c.execute("SELECT count(*) FROM sqlite_master WHERE name='x'").fetchone()[0] == 0
    c.close()


def test_db_path_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv("MYOTWITCH_DB", raising=False)
    monkeypatch.delenv("MYOTWITCH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert st.resolve_db_path() == tmp_path / "xdg" / "myotwitch" / "myotwitch.db"
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path / "dd"))
    assert st.resolve_db_path() == tmp_path / "dd" / "myotwitch.db"
    monkeypatch.setenv("MYOTWITCH_DB", str(tmp_path / "env.db"))
    assert st.resolve_db_path() == tmp_path / "env.db"
    assert st.resolve_db_path(tmp_path / "flag.db") == tmp_path / "flag.db"
    monkeypatch.delenv("MYOTWITCH_DB")
    monkeypatch.delenv("MYOTWITCH_DATA_DIR")
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert st.resolve_db_path() == tmp_path / "home" / ".local" / "share" / "myotwitch" / "myotwitch.db"


def test_inserts_are_idempotent(db):
    dev, sid = setup_device(db)
    assert db.add_events(sid, dev, 7, [ev(1), ev(2), ev(3, kind=1)]) == 3
    assert db.add_events(sid, dev, 7, [ev(2), ev(3), ev(4)]) == 1
    assert [r["seq"] for r in db.events(sid)] == [1, 2, 3, 4]
    # the same seq in another boot is another record
    db.upsert_boot(dev, 8, 1000)
    assert db.add_events(sid, dev, 8, [ev(1)]) == 1
    assert db.event_counts(sid) == {"twitch": 4, "burst": 1, "contraction": 0, "artifact": 0}
    m = {"seq": 9, "sample_index": 50, "source": 0}
    assert db.add_marks(sid, dev, 7, [m, m]) == 1
    s = {"uptime_s": 5, "sample_index": 5000, "dropped": 2, "noise": [10]}
    assert db.add_status(sid, dev, 7, [s]) == 1 and db.add_status(sid, dev, 7, [s]) == 0
    # upserting device and boot again keeps the same rows
    assert db.upsert_device("virtual") == dev
    before = db.boot(dev, 7)["id"]
    assert db.upsert_boot(dev, 7, 1000) == before


def test_events_get_host_time_from_the_boot_sync(db):
    dev, sid = setup_device(db)
    db.set_boot_sync(dev, 7, unix_ms=1_700_000_000_000, sample_index=1000)
    db.add_events(sid, dev, 7, [ev(1, onset=3000)])
    assert db.events(sid)[0]["onset_unix_ms"] == 1_700_000_002_000
    with pytest.raises(st.StoreError):
        db.set_boot_sync(dev, 12345, 0, 0)


def test_transaction_rolls_back_on_error(db):
    dev, sid = setup_device(db)
    with pytest.raises(RuntimeError):
        with db.transaction():
            db.add_events(sid, dev, 7, [ev(1), ev(2)])
            raise RuntimeError("boom")
    assert db.events(sid) == []
    # a bad row in a batch rolls back the whole batch
    with pytest.raises(KeyError):
        db.add_events(sid, dev, 7, [ev(1), {"seq": 2}])
    assert db.events(sid) == []
    # nested blocks: the inner failure is undone, the outer work is kept
    with db.transaction():
        db.add_events(sid, dev, 7, [ev(1)])
        with pytest.raises(ValueError):
            with db.transaction():
                db.add_events(sid, dev, 7, [ev(2)])
                raise ValueError
    assert [r["seq"] for r in db.events(sid)] == [1]
    # foreign keys hold: an event of an unknown boot is refused
    with pytest.raises(sqlite3.IntegrityError):
        db.add_events(sid, dev, 99, [ev(5)])


def test_sessions_listing_and_end(db):
    dev, sid = setup_device(db)
    db.add_events(sid, dev, 7, [ev(1), ev(2, kind=3)])
    db.end_session(sid, link_stats={"frames": 10}, end_reason="duration")
    rows = db.sessions()
    assert rows[0]["id"] == sid and rows[0]["events"] == 2 and rows[0]["twitches"] == 1
    s = db.session(sid)
    assert json.loads(s["link_stats"]) == {"frames": 10} and s["end_reason"] == "duration"
    sid2 = db.new_session(dev, raw=True, channels=[0], fs=1000)
    assert db.latest_session_id() == sid2
    assert db.raw_path(sid2) == db.root / "raw" / ("%d.i16" % sid2)
    assert db.raw_path(sid) is None


# ---- raw files


def test_raw_roundtrip_single_channel(tmp_path):
    w = RawWriter(tmp_path / "1.i16", [0], 1000)
    data = np.arange(-500, 500, dtype=np.int16)
    for i in range(0, 1000, 120):
        w.add(0, 40 + i, data[i:i + 120], boot_id=1)
    w.flush()
    # readable mid-way (as after a crash): the file length wins over the sidecar
    mid = load_raw(tmp_path / "1.i16")
    assert np.array_equal(mid.channel(0), data)
    w.close()
    assert stat.S_IMODE(os.stat(tmp_path / "1.i16").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "1.json").st_mode) == 0o600
    r = load_raw(tmp_path / "1.json")
    assert r.complete and r.samples == 1000 and r.gaps == []
    assert r.segments[0].first_index == 40 and r.segments[0].boot_id == 1
    assert np.array_equal(r.channel(0), data)


def test_raw_lost_frames_become_listed_gaps(tmp_path):
    w = RawWriter(tmp_path / "g.i16", [0], 1000)
    w.add(0, 0, [1] * 100, boot_id=5)
    w.add(0, 150, [2] * 50, boot_id=5)  # 50 samples lost
    w.add(0, 150, [2] * 50, boot_id=5)  # duplicate frame: discarded
    w.add(0, 100_000, [3] * 10, boot_id=5)  # far jump: new segment, not 100k zeros
    w.begin_boot(6, 500)
    w.add(0, 0, [4] * 10)
    w.close()
    r = load_raw(tmp_path / "g.i16")
    assert [(s.boot_id, s.first_index, s.rows, s.fs) for s in r.segments] == [
        (5, 0, 200, 1000), (5, 100_000, 10, 1000), (6, 0, 10, 500)]
    assert r.gaps[0] == {"boot_id": 5, "channel": 0, "first_index": 100, "count": 50}
    assert r.gaps[1]["first_index"] == 200 and r.gaps[1]["count"] == 100_000 - 200
    assert r.discarded == 50
    seg = r.channel(0, 0)
    assert list(seg[95:105]) == [1] * 5 + [0] * 5 and seg[150] == 2
    mask = r.valid_mask(0)[:, 0]
    assert mask[:100].all() and not mask[100:150].any() and mask[150:].all()


def test_raw_interleaves_channels(tmp_path):
    w = RawWriter(tmp_path / "c.i16", [0, 2], 1000)
    a = np.arange(300, dtype=np.int16)
    b = -np.arange(300, dtype=np.int16)
    for i in range(0, 300, 100):
        w.add(0, 1000 + i, a[i:i + 100], boot_id=1)
        if i != 100:  # a channel-2 frame is lost
            w.add(2, 1000 + i, b[i:i + 100], boot_id=1)
    w.add(1, 1000, [9] * 5, boot_id=1)  # a channel the file does not hold
    w.close()
    r = load_raw(tmp_path / "c.i16")
    assert r.channels == [0, 2] and r.samples == 300
    assert np.array_equal(r.channel(0), a)
    expect_b = b.copy()
    expect_b[100:200] = 0
    assert np.array_equal(r.channel(2), expect_b)
    assert r.gaps == [{"boot_id": 1, "channel": 2, "first_index": 1100, "count": 100}]
    raw = np.fromfile(tmp_path / "c.i16", dtype="<i2")
    assert list(raw[:6]) == [0, 0, 1, -1, 2, -2]  # interleaved rows


def test_a_boot_a_legacy_row_holds_moves_with_its_sessions_to_the_device_with_an_id(db):
    old = db.upsert_device("virtual")  # no id: the legacy row of its board name
    other = db.upsert_device("myoware")  # another legacy row holding the same boot (a copy)
    assert db.is_legacy(old) and db.conn.execute(
        "SELECT key FROM devices WHERE id=?", (old,)).fetchone()[0] == "legacy:virtual"
    for dev in (old, other):
        db.upsert_boot(dev, 7, 1000)
    db.upsert_boot(old, 8, 1000)
    db.upsert_boot(old, 9, 1000)  # a boot of no session: stays unless shown itself
    sid = db.new_session(old)
    db.add_session_boot(sid, old, 7)
    db.add_session_boot(sid, old, 8)  # the session also saw boot 8: the same device
    db.add_events(sid, old, 7, [ev(1), ev(2)])
    db.add_events(sid, old, 8, [ev(3)])
    db.add_events(None, other, 7, [ev(2), ev(5)])
    db.end_session(sid)
    real = db.upsert_device("virtual", key="a1b2c3d4e5f6")
    db.upsert_boot(real, 7, 1000)  # the device with an id shows boot 7
    rows = db.conn.execute("SELECT device_id, boot_id, seq FROM events ORDER BY boot_id, seq")
    assert [tuple(r) for r in rows] == [(real, 7, 1), (real, 7, 2), (real, 7, 5), (real, 8, 3)]
    assert db.session(sid)["device_key"] == "a1b2c3d4e5f6"
    assert {r["boot_id"] for r in db.conn.execute("SELECT boot_id FROM boots WHERE device_id=?",
                                                  (old,))} == {9}
    assert db.conn.execute("SELECT count(*) FROM boots WHERE device_id=?", (other,)).fetchone()[0] == 0
    assert db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    assert db.claim_boot(real, 7) == []  # nothing left to move
