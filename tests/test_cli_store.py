"""CLI commands that only read the store: sessions, summary; --db handling; help texts."""

import json

import pytest
from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.devconfig import ConfigInputError, parse_pairs
from myotwitch.store import open_store
from myotwitch.summary import HEALTH_NOTE

COMMANDS = [["info"], ["config"], ["config", "show"], ["config", "get"], ["config", "set"],
            ["monitor"], ["record"], ["sessions"], ["summary"], ["demo"]]


@pytest.fixture
def runner(monkeypatch, tmp_path):
    monkeypatch.delenv("MYOTWITCH_DB", raising=False)
    monkeypatch.delenv("MYOTWITCH_PORT", raising=False)
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def fill(path, n_sessions=1):
    s = open_store(path)
    dev = s.upsert_device("virtual", fw_version="1.2.3", fs=1000, channels=1)
    s.upsert_boot(dev, 42, 1000, 1)
    s.set_boot_sync(dev, 42, 1_700_000_000_000, 0)
    sids = []
    for k in range(n_sessions):
        sid = s.new_session(dev, started_at=1_700_000_000 + k * 1000)
        s.add_session_boot(sid, dev, 42)
        s.note_samples(sid, 42, 0, 120_000)  # two minutes of device time
        s.add_events(sid, dev, 42, [
            {"seq": 10 * k + i, "onset": 1000 * i, "duration": 12, "kind": kind, "channel": 0,
             "peak": 300, "area": 700} for i, kind in enumerate([0, 0, 0, 0, 1, 3])])
        s.note_dropped(sid, 42, 100)  # the boot had dropped 100 before the session began
        s.add_status(sid, dev, 42, [{"uptime_s": 60, "sample_index": 60_000 + k, "dropped": 103,
                                     "noise": [11]},
                                    {"uptime_s": 120, "sample_index": 120_000 + k, "dropped": 107,
                                     "noise": [13]}])
        s.note_dropped(sid, 42, 107)
        s.end_session(sid, ended_at=1_700_000_120 + k * 1000, end_reason="duration",
                      link_stats={"frames": 500, "lost_frames": 2, "lost_records": 0, "crc_errors": 1,
                                  "bad_frames": 0, "overruns": 0, "reboots": 0})
        sids.append(sid)
    s.close()
    return sids


@pytest.mark.parametrize("cmd", COMMANDS)
def test_every_command_has_help(runner, cmd):
    r = runner.invoke(main, cmd + ["--help"])
    assert r.exit_code == 0, r.output
    assert "Usage:" in r.output
    if cmd[0] in ("info", "monitor", "record") or cmd[:2] in (["config", "show"], ["config", "get"],
                                                              ["config", "set"]):
        assert "--port" in r.output and "sim" in r.output


def test_sessions_and_summary_on_an_empty_store(runner, tmp_path):
    r = runner.invoke(main, ["sessions"])
    assert r.exit_code == 0 and "no sessions yet" in r.output
    assert str(tmp_path / "data" / "myotwitch.db") in r.output  # MYOTWITCH_DATA_DIR honoured
    assert not (tmp_path / "data").exists()  # a command that only reads creates nothing
    r = runner.invoke(main, ["sessions", "--json"])
    assert r.exit_code == 0 and r.output == ""
    r = runner.invoke(main, ["summary"])
    assert r.exit_code == 2 and "no sessions recorded yet" in r.output
    assert not (tmp_path / "data").exists()


def test_summary_counts_and_describes(runner, tmp_path):
    db = tmp_path / "x.db"
    sids = fill(db, 2)
    r = runner.invoke(main, ["summary", "--db", str(db)])
    assert r.exit_code == 0, r.output
    out = r.output
    assert "Session %d" % sids[-1] in out
    assert "6 in all: 4 twitch, 1 burst, 0 contraction, 1 artifact" in out
    assert "twitches per minute: 2.00" in out  # 4 twitches in 2 min of device time
    assert "2 lost (sequence gaps)" in out and "1 CRC errors" in out
    assert "Dropped samples during the session: 7" in out  # its own, not the boot's 107
    assert "Warning: the device dropped 7 samples" in out
    assert HEALTH_NOTE in out
    for word in ("normal", "abnormal", "ALS", "disease", "healthy"):
        assert word not in out
    r = runner.invoke(main, ["summary", "--db", str(db), str(sids[0]), "--json"])
    sm = json.loads(r.output)
    assert sm["session_id"] == sids[0] and sm["events"]["twitch"] == 4 and sm["sample_seconds"] == 120
    r = runner.invoke(main, ["summary", "--db", str(db), "999"])
    assert r.exit_code == 2 and "no session 999" in r.output


def test_db_option_at_group_or_command_level_and_env(runner, tmp_path, monkeypatch):
    db = tmp_path / "g.db"
    fill(db, 3)
    for args in (["--db", str(db), "sessions"], ["sessions", "--db", str(db)]):
        r = runner.invoke(main, args)
        assert r.exit_code == 0, r.output
        assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 4  # header + 3
    monkeypatch.setenv("MYOTWITCH_DB", str(db))
    r = runner.invoke(main, ["sessions", "-n", "1"])
    assert len([ln for ln in r.output.splitlines() if ln.strip()]) == 2
    # the command's own --db wins over the group's
    other = tmp_path / "other.db"
    r = runner.invoke(main, ["--db", str(db), "sessions", "--db", str(other)])
    assert "no sessions yet" in r.output


def test_bad_store_file_is_a_clear_error(runner, tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database" * 200)
    r = runner.invoke(main, ["sessions", "--db", str(junk)])
    assert r.exit_code == 2 and "cannot use" in r.output


def test_no_board_is_a_clear_error(runner, monkeypatch):
    monkeypatch.setattr("serial.tools.list_ports.comports", lambda: [])
    r = runner.invoke(main, ["info"])
    assert r.exit_code == 3
    assert "no ESP32 board found" in r.output and "--port" in r.output


# ---- config input parsing (pure; the device round trip is in test_cli_device.py)

CURRENT = {"threshold": 40, "led": True, "name": "x"}


def test_parse_pairs_types_by_the_device_value():
    assert parse_pairs(["threshold=0x20", "led=off", "name=a=b"], CURRENT) == [
        ("threshold", 32), ("led", False), ("name", "a=b")]


@pytest.mark.parametrize("pairs, words", [
    (["threshold=abc"], ["integer"]),
    (["led=maybe"], ["bool"]),
    (["nope=1"], ["unknown key", "threshold"]),
    (["threshold"], ["KEY=VALUE"]),
    (["threshold=1", "threshold=2"], ["twice"]),
    (["threshold=99999999999"], ["32-bit"]),
    ([], ["nothing to set"]),
])
def test_parse_pairs_rejects_bad_input(pairs, words):
    with pytest.raises(ConfigInputError) as ei:
        parse_pairs(pairs, CURRENT)
    assert "nothing was changed" in str(ei.value)
    for w in words:
        assert w in str(ei.value)


def test_parse_pairs_reports_every_problem():
    with pytest.raises(ConfigInputError) as ei:
        parse_pairs(["threshold=x", "led=2", "name=ok"], CURRENT)
    assert "threshold" in str(ei.value) and "led" in str(ei.value)


def test_config_keys_lists_every_detector_setting_without_a_board():
    from myotwitch import detect
    from myotwitch.cli import main as cli_main

    r = CliRunner().invoke(cli_main, ["config", "keys"])
    assert r.exit_code == 0, r.output
    for key, (lo, hi) in detect.RANGES.items():
        assert "%s..%s %s, default %s" % (lo, hi, detect.UNITS[key], detect.DEFAULTS[key]) in r.output
    assert "wide band" in r.output and r.output.count("\n") == 2 * len(detect.RANGES)
