"""A session shows its own figures: the samples the device dropped during it (not since the boot
began), its median noise floor against the device's usual, warnings when something is off, and
its notes. The drops are made for real: the virtual board's process is stopped (SIGSTOP) long
enough for its sample ring to be lapped, which the firmware counts."""

import json
import time

from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.link import Device
from myotwitch.record import record_session
from myotwitch.sim import SimBoard
from myotwitch.store import open_store
from myotwitch.summary import format_summary, session_summary


def test_a_session_counts_only_the_drops_made_during_it(tmp_path):
    with SimBoard(speed=5, flash=tmp_path / "f.img") as board, \
            Device.open(board.port) as dev, open_store(tmp_path / "s.db") as store:
        board.stall(0.6)  # before any session: 3000 samples due at once, the ring holds 512
        time.sleep(0.5)
        quiet = record_session(dev, store, duration=2.5, notes="after coffee")
        sm = session_summary(store, quiet.session_id)
        statuses = store.status_rows(quiet.session_id)
        assert statuses and max(r["dropped"] for r in statuses) > 1000  # the boot's count
        assert sm["dropped_samples"] == 0 and sm["dropped_exact"]
        assert not sm["warnings"]
        text = format_summary(sm)
        assert "Dropped samples during the session: 0" in text and "Notes: after coffee" in text

        import threading

        threading.Timer(1.0, board.stall, (0.6,)).start()
        stalled = record_session(dev, store, duration=3.0)
        sm = session_summary(store, stalled.session_id)
        assert sm["dropped_exact"] and 1000 < sm["dropped_samples"] < 5000
        assert any("dropped" in w for w in sm["warnings"])


def test_a_noise_floor_far_above_the_devices_usual_is_said(tmp_path):
    db = tmp_path / "n.db"
    s = open_store(db)
    dev = s.upsert_device("virtual", fs=1000, channels=1)
    s.upsert_boot(dev, 7, 1000, 1)
    for k, noise in enumerate([8, 7, 52]):
        sid = s.new_session(dev, started_at=1_700_000_000 + 100 * k)
        s.add_session_boot(sid, dev, 7)
        s.add_status(sid, dev, 7, [{"uptime_s": i, "sample_index": 10_000 * k + i, "dropped": 0,
                                    "noise": [noise + i % 2]} for i in range(12)])
        s.end_session(sid, ended_at=1_700_000_060 + 100 * k, end_reason="duration")
    s.close()
    r = CliRunner().invoke(main, ["--db", str(db), "summary", "--json"])
    sm = json.loads(r.output)
    assert sm["noise"] == [52] and sm["usual_noise"] == [8]
    assert any("noise floor 52" in w for w in sm["warnings"])
    r = CliRunner().invoke(main, ["--db", str(db), "summary", "2"])
    assert r.exit_code == 0 and "Warning" not in r.output  # 7-8 against a usual of 8
