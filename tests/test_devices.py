"""Devices told apart by their device id (issue 16): two virtual boards of the same kind (two flash
images, one board name) pulled alternately with --erase lose nothing; an older store's rows,
keyed by board name, become legacy rows whose boots move to the device that shows them; a
firmware without the HELLO field is identified by CONFIG, and one without any id is never
erased. Real firmware on the virtual board, real pty, real SQLite."""

import random
import sqlite3

import pytest

from myotwitch import store as st
from myotwitch.link import Device
from myotwitch.protocol import myoproto as mp
from myotwitch.pull import EraseRefused, pull_log
from myotwitch.sim import SimBoard
from myotwitch.simlog import prefill_log

from linkproxy import LinkProxy
from test_faults_link import flash_events
from test_pull import read_log


def stored_events(db, key):
    c = sqlite3.connect(db)
    try:
        return set(c.execute(
            "SELECT e.boot_id, e.seq, e.onset, e.duration, e.kind, e.channel, e.peak, e.area"
            " FROM events e JOIN devices d ON d.id = e.device_id WHERE d.key=?", (key,)))
    finally:
        c.close()


def older_firmware(config_id=True):
    """A proxy transform: the real firmware's frames as firmware older than HELLO's device_id
    sends them (and, with config_id=False, one without the CONFIG key either)."""
    def transform(frame):
        try:
            msg = mp.decode(frame)
        except mp.CodecError:
            return frame
        if msg.type == mp.HELLO:
            fields = dict(msg.fields)
            fields.pop("device_id", None)
            return mp.encode(mp.HELLO, msg.seq, fields)
        if not config_id and msg.type == mp.CONFIG_VALUE and msg.fields["key"] == "device_id":
            return None
        return frame
    return transform


def alternate_with_erase(tmp, rounds=3, seed=16, check=None):
    """Two virtual boards of one kind (two flash images, board name "virtual") get new events
    and are pulled in turn with erase, `rounds` times. Returns what each board ever logged, the
    store's events of each device id, and each pull's result; `check(k, res, recs, left)` is
    called after each pull with the board's flash before and after it."""
    imgs = [tmp / "a.img", tmp / "b.img"]
    db = tmp / "s.db"
    rng = random.Random(seed)
    logged = [set(), set()]  # every event each board ever had on its flash
    results = []
    for rnd in range(rounds):
        for k in (0, 1):
            # New events on the board's flash (the board is off meanwhile: one littlefs writer)
            prefill_log(imgs[k], 150 + 60 * k, boot_id=rng.getrandbits(32),
                        seed=seed * 100 + 10 * rnd + k)
            with SimBoard(speed=1, flash=imgs[k], hold=True) as board:  # hold: no events of its own
                msg, recs = read_log(board.port)
                logged[k] |= flash_events(recs)
                with Device.open(board.port) as dev, st.open_store(db) as store:
                    res = pull_log(dev, store, erase=True)
                _, left = read_log(board.port)
            results.append((k, res))
            if check is not None:
                check(k, res, recs, left)
    ids = [next(r.device for j, r in results if j == k) for k in (0, 1)]
    return db, ids, logged, [stored_events(db, i) for i in ids], results


def test_two_boards_of_one_kind_pulled_alternately_with_erase(tmp_path):
    last = [-1, -1]  # where each board's last pull ended
    ids = [None, None]

    def check(k, res, recs, left):
        assert res.board == "virtual"
        ids[k] = ids[k] or res.device
        assert res.device == ids[k]  # the same board, the same id, round after round
        assert res.from_seq == last[k] + 1, k  # its own position, not the other board's
        assert not res.log_reset and res.gap_counts()["dropped"] == 0
        assert res.erased_to == res.last_seq >= max(s for _, s, _, _ in recs)
        assert all(s > res.erased_to for _, s, _, _ in left)  # erased up to its own last
        last[k] = res.last_seq

    db, ids_, logged, stored, _ = alternate_with_erase(tmp_path, check=check)
    assert ids_ == ids and ids[0] != ids[1]
    assert len(logged[0]) == 3 * 150 and len(logged[1]) == 3 * 210
    assert stored == logged  # nothing lost, nothing of the other board
    with st.open_store(db) as store:
        rows = store.conn.execute("SELECT d.key, l.last_seq, l.erased_to FROM log_sync l"
                                  " JOIN devices d ON d.id = l.device_id").fetchall()
    assert {r["key"]: (r["last_seq"], r["erased_to"]) for r in rows} == {
        ids[0]: (last[0], last[0]), ids[1]: (last[1], last[1])}


def old_store(path):
    """A store as myotwitch made it before devices had ids (schema 4): its rows keyed by the
    board name."""
    c = sqlite3.connect(path, isolation_level=None)
    for script in st.MIGRATIONS[:4]:
        for stmt in st._statements(script):
            c.execute(stmt)
    c.execute("PRAGMA user_version = 4")
    return c


def test_an_older_store_keeps_its_rows_and_never_lends_a_position(tmp_path):
    img_a, img_b = tmp_path / "a.img", tmp_path / "b.img"
    prefill_log(img_a, 300, boot_id=0xA1A1A1A1, seed=1)
    prefill_log(img_b, 200, boot_id=0xB2B2B2B2, seed=2)
    db = tmp_path / "old.db"
    with SimBoard(speed=1, flash=img_a, hold=True) as board:
        _, recs_a = read_log(board.port)
    ref_a = flash_events(recs_a)
    # The old store pulled board A up to its seq 199, under the key "virtual", and recorded a
    # session in its boot.
    c = old_store(db)
    c.execute("INSERT INTO devices (id, key, board, first_seen, last_seen) VALUES"
              " (1, 'virtual', 'virtual', 1, 1)")
    c.execute("INSERT INTO boots (device_id, boot_id, fs, first_seen, last_seen) VALUES"
              " (1, ?, 1000, 1, 1)", (0xA1A1A1A1,))
    c.execute("INSERT INTO sessions (id, device_id, started_at, ended_at) VALUES (7, 1, 1, 2)")
    c.execute("INSERT INTO session_boots (session_id, device_id, boot_id, first_index,"
              " last_index) VALUES (7, 1, ?, 0, 10)", (0xA1A1A1A1,))
    early = sorted(e for e in ref_a if e[1] <= 199)
    c.executemany("INSERT INTO events (device_id, boot_id, seq, onset, duration, kind, channel,"
                  " peak, area, source) VALUES (1,?,?,?,?,?,?,?,?,'log')", early)
    c.execute("INSERT INTO log_sync (device_id, last_seq, pulled_at) VALUES (1, 199, 1)")
    c.close()

    with st.open_store(db) as store:  # migration 5
        assert store.schema_version == len(st.MIGRATIONS)
        legacy = store.conn.execute("SELECT * FROM devices").fetchone()
        assert (legacy["key"], legacy["legacy"]) == ("legacy:virtual", 1)
    # Board B, same board name: pulled by its id from its oldest record, not from A's 199.
    with SimBoard(speed=1, flash=img_b, hold=True) as board:
        _, recs_b = read_log(board.port)
        with Device.open(board.port) as dev, st.open_store(db) as store:
            res_b = pull_log(dev, store)
    assert res_b.from_seq == 0 and stored_events(db, res_b.device) == flash_events(recs_b)
    # Board A by its id: its boot held by the legacy row moves to it, with the session; the
    # 200 events already stored are recognised, not stored twice.
    with SimBoard(speed=1, flash=img_a, hold=True) as board:
        with Device.open(board.port) as dev, st.open_store(db) as store:
            res_a = pull_log(dev, store)
            moved = store.conn.execute("SELECT d.key FROM sessions s JOIN devices d"
                                       " ON d.id = s.device_id WHERE s.id = 7").fetchone()[0]
            left = store.conn.execute("SELECT count(*) FROM boots WHERE device_id=1").fetchone()[0]
    assert res_a.from_seq == 0 and res_a.new["events"] == len(ref_a) - len(early)
    assert stored_events(db, res_a.device) == ref_a
    assert moved == res_a.device and left == 0
    assert res_a.device != res_b.device


def test_identity_of_older_firmware_and_of_none(tmp_path):
    img = tmp_path / "a.img"
    prefill_log(img, 120, boot_id=0xC3C3C3C3, seed=3)
    db = tmp_path / "s.db"
    with SimBoard(speed=1, flash=img, hold=True) as board:
        with Device.open(board.port) as dev:
            real = dev.identify()
        assert real and len(real) == 12
        # HELLO without the field: the id comes from CONFIG device_id.
        with LinkProxy(board.port, transform=older_firmware()) as px:
            with Device.open(px.port) as dev:
                assert dev.hello().device_id is None and dev.identify() == real
        # Neither: the store cannot tell this board from others of its kind.
        with LinkProxy(board.port, transform=older_firmware(config_id=False)) as px:
            with Device.open(px.port) as dev, st.open_store(db) as store:
                assert dev.identify() is None
                with pytest.raises(EraseRefused, match="no usable device id"):
                    pull_log(dev, store, erase=True)
                first = pull_log(dev, store)
                again = pull_log(dev, store)
        msg, _ = read_log(board.port)
        assert msg["oldest_seq"] == 0  # nothing was erased
        assert first.device is None and first.new["events"] == 120
        assert again.from_seq == 0 and again.new["events"] == 0  # read again, stored once
        assert len(stored_events(db, "legacy:virtual")) == 120
        # The same board later with its id: the legacy row's boot is its own.
        with Device.open(board.port) as dev, st.open_store(db) as store:
            res = pull_log(dev, store)
    assert res.device == real and res.new["events"] == 0
    assert len(stored_events(db, real)) == 120 and not stored_events(db, "legacy:virtual")
