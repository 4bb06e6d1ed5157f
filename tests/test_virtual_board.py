"""End to end against the virtual board: the real firmware in the MicroPython unix port, a real
pty, real pyserial, a real littlefs2 flash image."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
import serial
from click.testing import CliRunner

from myotwitch.build import cached_sim_build
from myotwitch.cli import main
from myotwitch.demo import stop_when_board_ends
from myotwitch.link import Device, DeviceError
from myotwitch.protocol import myoproto as mp
from myotwitch.record import record_session
from myotwitch.recordings import load_default
from myotwitch.sim import SimBoard
from myotwitch.store import open_store


@pytest.fixture
def board(tmp_path):
    with SimBoard(speed=5, flash=tmp_path / "flash.img") as b:
        yield b


@pytest.fixture
def dev(board):
    with Device.open(board.port) as d:
        yield d


def test_hello_reports_the_build_it_runs(dev):
    info = dev.hello()
    assert info.board == "virtual"
    assert info.fs == 1000 and info.channels == 1
    assert info.build_hash == cached_sim_build().hash.hex()
    assert dev.ping() < 1.0
    # The id hosts tell devices apart by: in HELLO, the same as CONFIG device_id
    assert info.device_id == dev.config_get("device_id")["device_id"]
    assert len(info.device_id) == 12 and int(info.device_id, 16) >= 0


def test_config_round_trip_and_validation(dev):
    values = dev.config_get()
    assert values["fs"] == 1000 and values["led"] is True and values["name"] == "myotwitch"
    assert len(values["device_id"]) == 12
    dev.config_set("name", "left calf")
    dev.config_set("status_s", 2)
    assert dev.config_get("name") == {"name": "left calf"}
    before = dev.config_get()
    with pytest.raises(DeviceError) as e:
        dev.config_set("fs", 20000)
    assert e.value.code == mp.E_BAD_VALUE and "500..2000" in str(e.value)
    with pytest.raises(DeviceError) as e:
        dev.config_set("no_such_key", 1)
    assert e.value.code == mp.E_UNKNOWN_KEY
    with pytest.raises(DeviceError) as e:
        dev.config_set("led", "yes")  # a string where a bool belongs
    assert e.value.code == mp.E_BAD_VALUE
    with pytest.raises(DeviceError) as e:
        dev.config_set("device_id", "cafe")
    assert "read-only" in str(e.value)
    assert dev.config_get() == before  # refused changes changed nothing


def test_config_survives_a_virtual_reboot(board):
    with Device.open(board.port) as dev:
        boot1 = dev.hello().boot_id
        dev.config_set("det_thresh", 77)
        dev.config_set("name", "persisted")
        board.reboot()
        deadline = time.monotonic() + 10
        hello = None
        while time.monotonic() < deadline:  # the boot announcement arrives unsolicited
            msg = dev.recv(0.5)
            if msg is not None and msg.type == mp.HELLO:
                hello = msg
                break
        assert hello is not None and hello["ref"] == mp.UNSOLICITED
        assert hello["boot_id"] != boot1
        assert hello["device_id"] == dev.config_get("device_id")["device_id"]  # same board
        values = dev.config_get()
        assert values["det_thresh"] == 77 and values["name"] == "persisted"


def test_restart_keys_start_a_new_time_base(dev):
    boot1 = dev.hello().boot_id
    dev.config_set("fs", 500)
    info = dev.hello()
    assert info.fs == 500 and info.boot_id != boot1


def _raw_request(port, frames, want, timeout=5.0):
    """Write raw bytes and collect decoded answers until `want(messages)` holds."""
    got = []
    dec = mp.StreamDecoder()
    with serial.Serial(port, timeout=0.1) as s:
        s.reset_input_buffer()
        for f in frames:
            s.write(f)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not want(got):
            got += dec.feed(s.read(512))
    return got


def _body_frame(body):
    body = bytes(body)
    crc = mp.crc16(body)
    return mp.cobs_encode(body + bytes((crc & 0xFF, crc >> 8))) + b"\x00"


def test_malformed_and_unknown_frames_get_clear_answers(board):
    def answers(msgs):
        return [m for m in msgs if m.type in (mp.NACK, mp.PONG)]

    unknown = mp.encode_frame(0x7E, 11, b"")
    bad_version = _body_frame(bytes((9, mp.PING, 12, 0, 0, 0, 1, 2, 3, 4)))
    truncated = _body_frame(bytes((1, mp.CONFIG_SET, 13, 0, 0, 0, 5, ord("a"))))
    corrupt = bytearray(mp.encode(mp.PING, 14, {"nonce": 1}))
    corrupt[3] ^= 0x40  # CRC will fail: must be dropped silently
    garbage = bytes(range(1, 200)) + b"\x00"
    ping = mp.encode(mp.PING, 15, {"nonce": 99})
    got = _raw_request(board.port, [garbage, unknown, bad_version, truncated, bytes(corrupt), ping],
                       lambda m: any(x.type == mp.PONG for x in m))
    by_ref = {m["ref"]: m for m in answers(got)}
    assert by_ref[11].type == mp.NACK and by_ref[11]["code"] == mp.E_UNKNOWN_TYPE
    assert by_ref[12]["code"] == mp.E_BAD_VERSION
    assert by_ref[13]["code"] == mp.E_BAD_PAYLOAD
    assert 14 not in by_ref  # corrupt: no answer at all
    assert by_ref[15].type == mp.PONG and by_ref[15]["nonce"] == 99  # and it still works


def test_record_with_raw_over_the_pty_matches_the_recording_and_accounts_for_a_stall(tmp_path):
    rec = load_default()
    # Speed 2: the board's 512-sample ring spans 250 ms of host time. At speed 5 (100 ms) an
    # ordinary stall of the board's process on a loaded two-core machine (a clean clone's CI
    # run, once) lapped the ring. So the test makes one stall itself (SIGSTOP for 0.8 s, as a
    # starved process or a long flash write would): the samples lapped in the ring must be
    # counted by the board and listed as a gap by the host, and every other one must arrive.
    with SimBoard(speed=2, once=True, flash=tmp_path / "f.img") as board, \
            Device.open(board.port) as dev, open_store(tmp_path / "s.db") as store:
        threading.Timer(6.0, board.stall, (0.8,)).start()
        stop = stop_when_board_ends(board)
        result = record_session(dev, store, duration=60, raw=True, stop=stop)
        from myotwitch.rawfile import load_raw

        raw = load_raw(store.raw_path(result.session_id))
        seg = raw.segments[0]
        n = seg.rows
        assert n > 0.8 * len(rec.samples)
        got = seg.data[:, 0]
        want = rec.samples[seg.first_index:seg.first_index + n, 0]
        valid = raw.valid_mask(0)[:, 0]
        # Every sample that arrived is the recording's own, at its index ...
        assert (got[valid] == want[valid]).all()
        # ... and those that did not are a gap the file lists and fills with 0, which the
        # board counted as dropped (or the link as lost frames): none closed up, none made up.
        missing = int((~valid).sum())
        assert raw.gaps and missing >= 1000  # 0.8 s at 2 kHz, less the ring's 512
        assert (got[~valid] == 0).all()
        final = store.status_rows(result.session_id)[-1]
        assert final["sample_index"] == len(rec.samples)  # the board's last STATUS, at the end
        # The board counts each lost sample once, though the lap cost both the detector and
        # the stream (it reported their sum, about twice the loss, before).
        if result.link_stats["lost_frames"] == 0:
            assert final["dropped"] == missing
        else:
            assert missing <= final["dropped"] + 100 * result.link_stats["lost_frames"]
        assert result.events > 0 and result.events == len(store.events(result.session_id))


def test_a_reboot_in_the_middle_of_a_session_is_recorded_not_lost(tmp_path):
    with SimBoard(speed=10, flash=tmp_path / "f.img") as board, \
            Device.open(board.port) as dev, open_store(tmp_path / "s.db") as store:
        threading.Timer(2.0, board.reboot).start()
        result = record_session(dev, store, duration=5.0)
        assert result.end_reason == "duration"
        assert len(result.boots) == 2  # both boots belong to the one session
        boots = {r["boot_id"] for r in store.status_rows(result.session_id)}
        assert boots == set(result.boots)


def test_button_press_becomes_a_mark(tmp_path):
    with SimBoard(speed=10, flash=tmp_path / "f.img", presses=[3000]) as board, \
            Device.open(board.port) as dev:
        dev.hello()
        deadline = time.monotonic() + 5
        marks = []
        while time.monotonic() < deadline and not marks:
            m = dev.recv(0.2)
            if m is not None and m.type == mp.MARK:
                marks.append(m)
        assert marks and marks[0]["source"] == mp.MARK_BUTTON
        assert marks[0]["sample_index"] >= 3000


def test_cli_against_the_virtual_board(tmp_path):
    runner = CliRunner()
    env = {"MYOTWITCH_DATA_DIR": str(tmp_path), "MYOTWITCH_SIM_SPEED": "10"}
    r = runner.invoke(main, ["--port", "sim", "info"], env=env)
    assert r.exit_code == 0, r.output
    assert "virtual" in r.output and "1000 Hz" in r.output
    r = runner.invoke(main, ["--port", "sim", "config", "set", "fs=abc"], env=env)
    assert r.exit_code == 2 and "nothing was changed" in r.output
    # The user's virtual board keeps its flash between commands: settings, and its identity
    r = runner.invoke(main, ["--port", "sim", "config", "set", "name=left-calf"], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["--port", "sim", "config", "get", "name"], env=env)
    assert r.exit_code == 0 and r.stdout.strip() == "left-calf", r.output
    assert "kept between commands" in r.stderr
    ids = {json.loads(runner.invoke(main, ["--port", "sim", "info", "--json"], env=env).stdout)
           ["device_id"] for _ in range(2)}
    assert len(ids) == 1
    image = tmp_path / "virtual-board" / "flash.img"
    assert image.exists() and (image.stat().st_mode & 0o777) == 0o600
    r = runner.invoke(main, ["--port", "sim", "record", "--raw", "--duration", "3", "-q"], env=env)
    assert r.exit_code == 0, r.output
    assert "session 1 ended (duration)" in r.output and "not a diagnosis" in r.output


def test_sim_command_prints_the_port_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ, MYOTWITCH_DATA_DIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "myotwitch", "sim", "--speed", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        port = None
        for line in proc.stdout:
            if line.startswith("serial port:"):
                port = line.split()[-1]
                break
        assert port and port.startswith("/dev/")
        with Device.open(port) as dev:
            assert dev.hello().board == "virtual"
            boot = dev.hello().boot_id
        # While it runs, every --port sim command joins this board (not a second one on the
        # same flash image), and a second `myotwitch sim` on that image is refused.
        runner = CliRunner()
        r = runner.invoke(main, ["--port", "sim", "info", "--json"], env={"MYOTWITCH_DATA_DIR":
                                                                         str(tmp_path)})
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["boot_id"] == "%08x" % boot and "joining" in r.stderr
        r = runner.invoke(main, ["sim"], env={"MYOTWITCH_DATA_DIR": str(tmp_path)})
        assert r.exit_code == 2 and "already runs on %s" % port in r.output
        proc.send_signal(signal.SIGINT)
        try:
            out = proc.communicate(timeout=15)[0]
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("sim ignored SIGINT for 15 s (SIGINT handler of this process: %r); it "
                        "printed:\n%s" % (signal.getsignal(signal.SIGINT), proc.communicate()[0]))
        assert proc.returncode == 0 and "stopping the virtual board" in out
    finally:
        if proc.poll() is None:
            proc.kill()
