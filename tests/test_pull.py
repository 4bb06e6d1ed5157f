"""`myotwitch pull` and `myotwitch events` against the virtual board: the real firmware's flash
log (littlefs image), real pty and pyserial, a real SQLite store."""

import csv
import io
import json
import os
import re
import stat
import time

import pytest
from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.link import Device
from myotwitch.protocol import myoproto as mp
from myotwitch.pull import pull_log
from myotwitch.record import record_session
from myotwitch.sim import SimBoard
from myotwitch.simlog import prefill_log
from myotwitch.store import open_store


def cli(*args):
    r = CliRunner().invoke(main, list(map(str, args)))
    assert r.exit_code == 0, (r.output, r.stderr, r.exception)
    return r


def read_log(port, from_seq=0):
    """Every record the device returns for LOG_READ(from_seq..newest), straight off the link."""
    from myotwitch.pull import _Reader

    with Device.open(port) as dev:
        dev.hello()
        reader = _Reader(dev.link)
        reader.start(from_seq)
        out = []
        while True:
            msg = reader.next_chunk(5.0)
            assert msg is not None and msg.type == mp.LOG_CHUNK
            out += mp.decode_records(msg["records"])
            if msg["flags"] & mp.CHUNK_LAST:
                return msg, out


def test_pull_live_events_idempotent_and_listed(tmp_path):
    db = tmp_path / "store" / "s.db"
    with SimBoard(speed=40, flash=tmp_path / "flash.img") as board:
        with Device.open(board.port) as dev, open_store(db) as store:
            live = record_session(dev, store, duration=4.0)  # the same events, live
        assert live.events > 0
        r = cli("--db", db, "pull", "--port", board.port, "-q")
        assert "pulled seq 0.." in r.output and "store: %s" % db in r.output
        assert stat.S_IMODE(os.stat(db).st_mode) == 0o600  # the store is owner-only
        upto = int(re.search(r"pulled seq 0\.\.(\d+)", r.output).group(1))
        again = cli("--db", db, "pull", "--port", board.port, "-q")
        # Only what is new since (the board keeps logging STATUS), nothing stored twice.
        assert ("pulled seq %d.." % (upto + 1)) in again.output or "nothing new" in again.output
        _, on_flash = read_log(board.port)
    with open_store(db) as store:
        rows = store.conn.execute("SELECT boot_id, seq, onset, duration, kind, channel, peak, area,"
                                  " source FROM events ORDER BY seq").fetchall()
        last = store.conn.execute("SELECT last_seq FROM log_sync").fetchone()[0]
        n_live = store.conn.execute("SELECT count(*) FROM events WHERE source='live'").fetchone()[0]
    flash_events = [(b, s, f["onset"], f["duration"], f["kind"], f["channel"], f["peak"], f["area"])
                    for t, s, b, f in on_flash if t == mp.EVENT and s <= last]
    assert [tuple(r)[:8] for r in rows if r["seq"] <= last] == flash_events  # once each, intact
    assert n_live == live.events  # the pulled copies of live events were not stored again
    assert len({r["seq"] for r in rows}) == len(rows)
    assert last >= max(s for _, s, _, _ in on_flash if s <= last)

    out = cli("--db", db, "events", "--format", "json").stdout.splitlines()
    evs = [json.loads(x) for x in out]
    assert len(evs) == len(rows)
    assert all(e["time"] is not None for e in evs)  # record synced the boot's clock
    table = cli("--db", db, "events").stdout.splitlines()
    assert table[0].split()[:4] == ["device", "boot", "seq", "time"] and len(table) == len(rows) + 1
    kinds = {e["kind"] for e in evs}
    k = sorted(kinds)[0]
    only = [json.loads(x) for x in cli("--db", db, "events", "--kind", k, "--format", "json")
            .stdout.splitlines()]
    assert only and {e["kind"] for e in only} == {k}
    rows_csv = list(csv.DictReader(io.StringIO(cli("--db", db, "events", "--format", "csv").stdout)))
    assert len(rows_csv) == len(rows) and rows_csv[0]["seq"] == str(evs[0]["seq"])
    t_mid = evs[len(evs) // 2]["unix_ms"]
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t_mid / 1000 + 1))
    later = cli("--db", db, "events", "--since", iso, "--format", "json").stdout.splitlines()
    assert 0 < len(later) < len(evs)
    assert cli("--db", db, "events", "--channel", 3, "--format", "json").stdout == ""
    bad = CliRunner().invoke(main, ["--db", str(db), "events", "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.stderr


def test_dropped_records_unsynced_boots_and_erase(tmp_path):
    img, db = tmp_path / "flash.img", tmp_path / "s.db"
    blocks = 40  # a small flash: the log holds 3 segments (about 2,100 events)
    a = prefill_log(img, 1000, flash_blocks=blocks, boot_id=0xA0A0A0A0)  # never synced
    with SimBoard(speed=1, flash=img, flash_blocks=blocks) as board:
        with Device.open(board.port) as dev, open_store(db) as store:
            first = pull_log(dev, store)
    assert first.records >= 1000 and first.new["events"] == 1000
    assert first.unsynced_boots == [0xA0A0A0A0]
    # More than the log holds arrives before the next pull: the oldest unpulled records go.
    a2 = prefill_log(img, 1000, flash_blocks=blocks, boot_id=0xA1A1A1A1)
    b = prefill_log(img, 1500, flash_blocks=blocks, boot_id=0xB0B0B0B0, time_ms=1_700_000_000_000)
    assert b["dropped"] > 0 and a2["first"] > first.last_seq
    with SimBoard(speed=1, flash=img, flash_blocks=blocks) as board:
        with Device.open(board.port) as dev, open_store(db) as store:
            second = pull_log(dev, store, erase=True)
            counts = second.gap_counts()
            assert counts["dropped"] > 0  # reported, never silent
            assert second.erased_to == second.last_seq
            boot_b = store.conn.execute(
                "SELECT count(*), count(onset_unix_ms), min(onset_unix_ms) FROM events"
                " WHERE boot_id=?", (0xB0B0B0B0,)).fetchone()
            boot_a = store.conn.execute(
                "SELECT count(*), count(onset_unix_ms) FROM events WHERE boot_id=?",
                (0xA0A0A0A0,)).fetchone()
            gaps = store.conn.execute("SELECT kind, from_seq, to_seq FROM log_gaps").fetchall()
        assert boot_a[0] == 1000 and boot_a[1] == 0  # flagged (NULL), not guessed
        assert boot_b[1] == boot_b[0] > 0 and boot_b[2] > 1_700_000_000_000  # placed by its TIME
        assert any(g["kind"] == "dropped" for g in gaps)
        msg, left = read_log(board.port)  # after --erase only newer records remain
        assert all(s > second.erased_to for _, s, _, _ in left)
        assert msg["oldest_seq"] > second.erased_to
    out = cli("--db", db, "events", "--format", "json", "--limit", 5).stdout.splitlines()
    assert len(out) == 5
    table = cli("--db", db, "events", "--device", "virtual").output
    assert "unsynced" in table
