"""One convention for every command: exit codes (0 ok, 1 a finding, 2 usage or input error,
3 device or link error), machine output (--json: ids as hex, times ISO 8601 with an offset),
commands that only read never create or change a file, help that says what to type, and shell
completion of board names, bundled recordings and session ids."""

import datetime as dt
import json
import os
import re
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.cli.common import EXIT_DEVICE, EXIT_FINDING, EXIT_INPUT, EXIT_OK
from myotwitch.sim import SimBoard
from myotwitch.store import open_store

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


@pytest.fixture
def runner(monkeypatch, tmp_path):
    for var in ("MYOTWITCH_DB", "MYOTWITCH_PORT", "MYOTWITCH_SIM_SPEED", "MYOTWITCH_SIM_RECORDING"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path / "data"))
    return CliRunner()


def test_exit_codes(runner, tmp_path):
    assert runner.invoke(main, ["boards"]).exit_code == EXIT_OK
    bad = tmp_path / "b.json"
    bad.write_text('{"name": "x"}')
    assert runner.invoke(main, ["boards", "--check", str(bad)]).exit_code == EXIT_FINDING
    assert runner.invoke(main, ["sessions", "--no-such-option"]).exit_code == EXIT_INPUT
    assert runner.invoke(main, ["replay", str(tmp_path / "missing.csv")]).exit_code == EXIT_INPUT
    assert runner.invoke(main, ["--sim-speed", "abc", "info"]).exit_code == EXIT_INPUT
    r = runner.invoke(main, ["--port", str(tmp_path / "ttyUSB9"), "info"])
    assert r.exit_code == EXIT_DEVICE and "does not exist" in r.output
    assert r.output.count("\n") == 1  # one line, no traceback


def test_commands_that_only_read_create_nothing(runner, tmp_path):
    db = tmp_path / "none" / "x.db"
    for args in (["sessions"], ["sessions", "--json"], ["events"], ["summary"], ["verify"],
                 ["replay", "1"]):
        r = runner.invoke(main, ["--db", str(db)] + args)
        assert r.exit_code in (EXIT_OK, EXIT_INPUT), (args, r.output)
        assert "Traceback" not in r.output
    assert not (tmp_path / "none").exists() and not (tmp_path / "data").exists()


def test_json_everywhere_with_hex_ids_and_iso_times(runner, tmp_path):
    env = {"MYOTWITCH_DATA_DIR": str(tmp_path / "data")}
    r = runner.invoke(main, ["--port", "sim", "record", "--duration", "2", "--json"], env=env)
    assert r.exit_code == 0, r.output
    sm = json.loads(r.stdout)
    assert ISO.match(sm["started_at"]) and ISO.match(sm["ended_at"])
    assert all(re.fullmatch("[0-9a-f]{8}", b["boot_id"]) for b in sm["boots"])
    r = runner.invoke(main, ["--port", "sim", "info", "--json"], env=env)
    info = json.loads(r.stdout)
    assert re.fullmatch("[0-9a-f]{8}", info["boot_id"]) and re.fullmatch("[0-9a-f]{12}",
                                                                          info["device_id"])
    rows = [json.loads(x) for x in runner.invoke(main, ["sessions", "--json"], env=env)
            .stdout.splitlines()]
    assert len(rows) == 1 and ISO.match(rows[0]["started_at"]) and rows[0]["device"]
    events = [json.loads(x) for x in runner.invoke(main, ["events", "--json"], env=env)
              .stdout.splitlines()]
    assert events and all(ISO.match(e["time"]) and re.fullmatch("[0-9a-f]{8}", e["boot_id"])
                          for e in events)
    t = dt.datetime.fromisoformat(events[0]["time"])
    assert t.tzinfo is not None
    keys = [json.loads(x) for x in runner.invoke(main, ["config", "keys", "--json"]).stdout
            .splitlines()]
    assert {"key", "min", "max", "unit", "default", "meaning"} <= set(keys[0])


def test_help_examples_are_real_and_summaries_whole(runner):
    r = runner.invoke(main, ["config", "set", "--help"])
    example = re.search(r"`myotwitch config set ([^`]+)`", r.output).group(1)
    from myotwitch import detect

    keys = {"name", "status_s", "led"} | set(detect.DEFAULTS)
    assert all(pair.split("=")[0] in keys for pair in example.split())
    r = runner.invoke(main, ["--help"])
    assert "..." not in r.output.split("Commands:")[1]  # no summary cut short
    r = runner.invoke(main, ["config", "--help"])
    assert "..." not in r.output.split("Commands:")[1] and "e.g." not in r.output


def _complete(args, incomplete, env):
    from click.shell_completion import ShellComplete

    comp = ShellComplete(main, {}, "myotwitch", "_MYOTWITCH_COMPLETE")
    return [c.value for c in comp.get_completions(args, incomplete)]


def test_shell_completion_of_boards_recordings_and_sessions(runner, tmp_path, monkeypatch):
    assert "devkitc-myoware2" in _complete(["flash", "--board"], "devkit", {})
    assert "rest_with_twitches" in _complete(["replay"], "rest", {})
    db = tmp_path / "c.db"
    with open_store(db) as s:
        dev = s.upsert_device("virtual")
        for _ in range(3):
            s.new_session(dev)
    assert _complete(["--db", str(db), "verify"], "", {}) == ["3", "2", "1"]
    monkeypatch.setenv("MYOTWITCH_DB", str(db))
    assert _complete(["summary"], "2", {}) == ["2"]
    # the script a shell sources: documented in the README
    r = runner.invoke(main, [], env={"_MYOTWITCH_COMPLETE": "bash_source"}, prog_name="myotwitch")
    assert "_myotwitch_completion" in r.output


def test_ports_lists_what_each_port_looks_like_and_who_answers(runner, tmp_path, monkeypatch):
    """USB enumeration cannot happen here, so list_ports is given two ports: an ESP32 bridge
    (CP210x ids) that is really the virtual board's pty, asked with a real HELLO, and a modem,
    which is not asked at all."""
    with SimBoard(speed=5, flash=tmp_path / "f.img") as board:
        fake = [SimpleNamespace(device=board.port, vid=0x10C4, pid=0xEA60, serial_number="0001",
                                description="CP2102 USB to UART"),
                SimpleNamespace(device="/dev/ttyACM7", vid=0x1234, pid=0x5678, serial_number=None,
                                description="USB modem")]
        monkeypatch.setattr("serial.tools.list_ports.comports", lambda: fake)
        r = runner.invoke(main, ["ports"])
        assert r.exit_code == 0, r.output
        assert "Silicon Labs CP210x" in r.output and "virtual" in r.output
        assert "USB modem" in r.output
        rows = [json.loads(x) for x in runner.invoke(main, ["ports", "--json"]).stdout.splitlines()]
        esp = next(x for x in rows if x["port"] == board.port)
        assert esp["board"] == "virtual" and len(esp["device_id"]) == 12
        modem = next(x for x in rows if x["port"] == "/dev/ttyACM7")
        assert modem["answer"] is None and not modem["esp32"]  # never poked
        rows = [json.loads(x) for x in runner.invoke(main, ["ports", "--json", "--no-probe"])
                .stdout.splitlines()]
        assert all(x["board"] is None for x in rows)
