"""`myotwitch pair`, `scan`, `unpair` and `--port ble:...` on other commands, through the CLI,
against a virtual board with a simulated radio (MYOTWITCH_BLE=sim)."""

import json

import pytest
from click.testing import CliRunner

from myotwitch.blesim import AirModel
from myotwitch.cli import main
from myotwitch.sim import SimBoard


@pytest.fixture
def board(tmp_path, monkeypatch):
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path / "data"))
    b = SimBoard(speed=1, ble=AirModel(), flash=tmp_path / "f.img")
    b.start()
    monkeypatch.setenv("MYOTWITCH_BLE", "sim")
    monkeypatch.setenv("MYOTWITCH_BLE_RADIO", str(b.radio.port))
    yield b
    b.close()


def run(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_pair_scan_use_and_unpair(board, tmp_path):
    r = run("--port", "ble:auto", "info")
    assert r.exit_code == 3 and "not paired" in r.output
    r = run("--port", board.port, "pair", "--json")
    assert r.exit_code == 0, r.output
    did = json.loads(r.output)["device_id"]
    assert (tmp_path / "data" / "keys" / (did + ".json")).stat().st_mode & 0o777 == 0o600
    r = run("scan", "--timeout", "1.5", "--json")
    rows = [json.loads(x) for x in r.output.splitlines()]
    assert [(x["device_id"], x["paired"]) for x in rows] == [(did, True)]
    r = run("--port", "ble:auto", "info", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["device_id"] == did
    r = run("--port", "ble:myotwitch", "config", "get", "ble_adv_ms")
    assert r.exit_code == 0 and r.output.strip() == "500"
    r = run("--port", "ble:auto", "pair")  # pairing is over USB only
    assert r.exit_code == 3 and "USB only" in r.output
    r = run("--port", board.port, "unpair")
    assert r.exit_code == 2 and "--yes" in r.output  # destructive: asks, or wants --yes
    r = run("--port", board.port, "unpair", "--yes")
    assert r.exit_code == 0 and "no owner key now" in r.output
    r = run("--port", "ble:auto", "info")
    assert r.exit_code == 3 and "not paired" in r.output


def test_scan_without_a_radio_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("MYOTWITCH_BLE", "sim")
    monkeypatch.delenv("MYOTWITCH_BLE_RADIO", raising=False)
    r = run("scan", "--timeout", "0.5")
    assert r.exit_code == 3 and "myotwitch sim --ble" in r.output
