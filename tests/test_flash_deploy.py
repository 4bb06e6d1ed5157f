"""`myotwitch flash` against a device made of real parts: the MicroPython unix port at its REPL on
a pty, its filesystem a fresh directory, driven by real mpremote. The deployed firmware is then
booted from that directory as the virtual board and asked for its HELLO."""

import json
import os
import subprocess
import time
import tty
from pathlib import Path

import pytest
import serial
from click.testing import CliRunner
from mpremote.transport import TransportError

from myotwitch import flash as fl
from myotwitch.boards import get
from myotwitch.build import Build, buildinfo_source, host_march
from myotwitch.cli import main
from myotwitch.link import Device
from myotwitch.paths import micropython_binary, mpy_cross_binary
from myotwitch.protocol import myoproto as mp
from myotwitch.sim import SimBoard


class UnixDevice:
    """What mpremote sees of a board with MicroPython on it: a REPL on a serial port (a pty)
    whose filesystem is `root`."""

    def __init__(self, root: Path):
        self.root = root
        self.proc = None
        self.slave = None

    def start(self):
        master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.proc = subprocess.Popen([micropython_binary()], stdin=master, stdout=master,
                                     stderr=subprocess.DEVNULL, cwd=self.root)
        os.close(master)  # the device process holds it: when it dies the port reads EIO
        return self

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def close(self):
        self.kill()
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None


@pytest.fixture
def device(tmp_path):
    root = tmp_path / "device"
    root.mkdir()
    d = UnixDevice(root).start()
    yield d
    d.close()


@pytest.fixture(scope="module")
def payload():
    return fl.build_payload(get("virtual"))


def rebuilt(payload, tmp: Path, tag: int):
    """The same sources under another build hash: what a firmware change looks like."""
    digest = bytes([tag]) * 8
    src = tmp / "buildinfo.py"
    src.write_text(buildinfo_source(digest))
    out = tmp / "buildinfo.mpy"
    subprocess.run([mpy_cross_binary(), "-s", "buildinfo", "-o", str(out), str(src)],
                   check=True)
    files = dict(payload.slot_files)
    files["buildinfo.mpy"] = out.read_bytes()
    return fl.Payload(Build(digest, [], tmp), files, payload.entry, payload.mpy_header)


def deploy(device, p, **kw):
    t = fl.open_transport(device.port)
    try:
        state = fl.probe(t)
        fl.check_compatible(state, p, get("virtual"))
        return fl.deploy(t, p, progress=kw.get("progress", lambda s: None))
    finally:
        fl.close_transport(t)


def active_dir(root: Path) -> Path:
    return root / "fw" / (root / "fw" / "active").read_text().strip()


def boot_hello(root: Path, name=None):
    """Boot the deployed firmware (its active slot) as the virtual board; HELLO and config."""
    with SimBoard(speed=5, flash=root / "data" / "flash.img", firmware_dir=active_dir(root)) as b:
        with Device.open(b.port) as dev:
            info = dev.hello()
            if name is not None:
                dev.config_set("name", name)
            return info, dev.config_get("name")["name"]


def test_deploy_then_boot_reports_the_deployed_build(device, payload):
    res = deploy(device, payload)
    assert res.slot == "a" and res.switched
    assert sorted(res.copied) == sorted(list(payload.slot_files) + ["main.py"])
    root = device.root
    for name, data in payload.slot_files.items():
        assert (root / "fw" / "a" / name).read_bytes() == data
    assert (root / "main.py").read_bytes() == payload.entry
    assert (root / "fw" / "active").read_text() == "a"
    assert "sim_main.mpy" in payload.slot_files and "board.json" in payload.slot_files

    again = deploy(device, payload)
    assert again.copied == [] and again.removed == [] and not again.switched

    device.kill()
    info, _ = boot_hello(root)
    assert info.build_hash == payload.build.hash_hex
    assert info.board == "virtual"


def test_hello_after_the_deploy_must_report_the_deployed_build(device, payload):
    deploy(device, payload)
    device.kill()
    root = device.root
    with SimBoard(speed=5, flash=root / "data" / "flash.img", firmware_dir=active_dir(root)) as b:
        lines = []
        info = fl.reset_and_hello(None, b.port, payload.build.hash_hex, timeout=10,
                                  progress=lines.append)
        assert info.build_hash == payload.build.hash_hex and lines == ["waiting for HELLO"]
        with pytest.raises(fl.FlashError, match="reports build %s, but 0000" % info.build_hash):
            fl.reset_and_hello(None, b.port, "00" * 8, timeout=10, progress=lines.append)


def test_cut_deploy_keeps_the_previous_firmware_and_the_data(device, payload, tmp_path):
    root = device.root
    deploy(device, payload)
    device.kill()
    info, name = boot_hello(root, name="left calf")
    assert info.build_hash == payload.build.hash_hex and name == "left calf"

    new = rebuilt(payload, tmp_path, 0xA5)
    device.start()
    seen = []

    def cut(line):
        seen.append(line)
        if len(seen) == 4:
            device.kill()  # the cable is pulled while the 4th file is on its way

    # what the CLI turns into "the connection to the board broke off ... run flash again"
    with pytest.raises((TransportError, serial.SerialException)) as cut_err:
        deploy(device, new, progress=cut)
    assert "read failed" in str(cut_err.value) or "disconnected" in str(cut_err.value)
    assert (root / "fw" / "active").read_text() == "a"
    info, name = boot_hello(root)
    assert info.build_hash == payload.build.hash_hex, "the previous firmware must still boot"
    assert name == "left calf"

    device.start()
    res = deploy(device, new)
    assert res.slot == "b" and res.switched
    assert 0 < len(res.copied) < len(new.slot_files), "files that made it are not sent again"
    info, name = boot_hello(root)
    assert info.build_hash == new.build.hash_hex and name == "left calf"

    # Back to the first build: slot a still holds it whole, so only the pointer moves.
    device.start()
    back = deploy(device, payload)
    assert back.slot == "a" and back.copied == [] and back.switched
    info, _ = boot_hello(root)
    assert info.build_hash == payload.build.hash_hex


def test_cli_flash_virtual_board_and_dry_run(device):
    r = CliRunner().invoke(main, ["flash", "--board", "virtual", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would switch fw/active" in r.output and "fw/<slot>/app.mpy" in r.output
    assert not any(device.root.iterdir()), "--dry-run touches no device"

    r = CliRunner().invoke(main, ["--port", device.port, "flash", "--board", "virtual"])
    assert r.exit_code == 0, r.output
    assert "MicroPython" in r.output and "switched" in r.output
    assert "[1/" in r.output  # progress per file
    (device.root / "data" / "config.json").write_text("{}")
    r = CliRunner().invoke(main, ["flash", "--board", "virtual", "--port", device.port])
    assert r.exit_code == 0, r.output
    assert "nothing to copy" in r.output and "copied 0 file(s)" in r.output
    assert (device.root / "data" / "config.json").exists(), "a re-flash keeps the device's data"
    r = CliRunner().invoke(main, ["flash", "--board", "virtual", "--port", device.port, "--erase"])
    assert r.exit_code == 2 and "add --yes" in r.output  # no terminal to ask on: nothing erased
    assert (device.root / "data" / "config.json").exists()
    r = CliRunner().invoke(main, ["flash", "--board", "virtual", "--port", device.port, "--erase",
                                  "--yes"])
    assert r.exit_code == 0, r.output
    assert "erasing data/" in r.output and not (device.root / "data" / "config.json").exists()
    assert (device.root / "fw" / "a" / "app.mpy").exists()


def test_cli_flash_cut_short_says_what_to_do(device, monkeypatch):
    import click

    echo = click.echo

    def echo_and_pull_the_cable(msg=None, **kw):
        echo(msg, **kw)
        if msg and str(msg).startswith("[4/"):
            device.kill()

    monkeypatch.setattr(click, "echo", echo_and_pull_the_cable)
    r = CliRunner().invoke(main, ["flash", "--board", "virtual", "--port", device.port])
    assert r.exit_code == 3, r.output
    assert "broke off" in r.output and "run `myotwitch flash` again" in r.output
    assert not (device.root / "fw" / "active").exists(), "nothing was switched to"


def test_flash_failures_say_what_to_do(tmp_path):
    runner = CliRunner()
    r = runner.invoke(main, ["flash", "--board", "virtual", "--port", str(tmp_path / "ttyNONE")])
    assert r.exit_code == 3 and "does not exist" in r.output and "plugged in" in r.output
    r = runner.invoke(main, ["flash", "--board", "virtual", "--port", "sim"])
    assert r.exit_code == 2 and "nothing to flash" in r.output
    r = runner.invoke(main, ["flash", "--board", "no-such-board", "--dry-run"])
    assert r.exit_code == 2 and "unknown board 'no-such-board'" in r.output

    # Nothing answers on the port: not MicroPython.
    master, slave = os.openpty()
    try:
        with pytest.raises(fl.FlashError, match="MicroPython"):
            fl.open_transport(os.ttyname(slave), timeout=1.0)
        # Port busy: another program holds it exclusively.
        held = serial.Serial(os.ttyname(slave), exclusive=True)
        try:
            with pytest.raises(fl.FlashError, match="another program"):
                fl.open_transport(os.ttyname(slave), timeout=1.0)
        finally:
            held.close()
    finally:
        os.close(master)
        os.close(slave)


def test_incompatible_mpy_and_hash_mismatch_messages(payload):
    board = get("devkitc-myoware2")
    old = fl.DeviceState(mpy=5 | (2 << 10), platform="esp32", version="1.18", active=None,
                         entry=None, slots={"a": {}, "b": {}}, machine="ESP32 module")
    with pytest.raises(fl.FlashError, match=r"incompatible \.mpy.*v5.*--micropython"):
        fl.check_compatible(old, fl.Payload(payload.build, {}, b"", (6, 0, 0)), board)
    other_arch = fl.DeviceState(mpy=6 | (3 << 8) | (10 << 10), platform="esp32", version="1.26",
                                active=None, entry=None, slots={"a": {}, "b": {}},
                                machine="ESP32 module")
    with pytest.raises(fl.FlashError, match="another architecture"):
        fl.check_compatible(other_arch, fl.Payload(payload.build, {}, b"", (6, 0, 0)), board)
    ok = fl.DeviceState(mpy=6 | (3 << 8) | (9 << 10), platform="esp32", version="1.26",
                        active=None, entry=None, slots={"a": {}, "b": {}},
                        machine="Generic ESP32 module with ESP32")
    fl.check_compatible(ok, fl.Payload(payload.build, {}, b"", (6, 0, 0)), board)
    s3 = fl.DeviceState(mpy=6 | (3 << 8) | (9 << 10), platform="esp32", version="1.26",
                        active=None, entry=None, slots={"a": {}, "b": {}},
                        machine="Generic ESP32S3 module with ESP32S3")
    with pytest.raises(fl.FlashError, match="built for .*ESP32S3.*devkitc-myoware2 is esp32"):
        fl.check_compatible(s3, fl.Payload(payload.build, {}, b"", (6, 0, 0)), board)
    fl.check_compatible(s3, fl.Payload(payload.build, {}, b"", (6, 0, 0)),
                        get("s3-devkitc-bioamp-exg-pill"))
    with pytest.raises(fl.FlashError, match="is esp32c3"):
        fl.check_compatible(s3, fl.Payload(payload.build, {}, b"", (6, 0, 0)),
                            get("xiao-c3-ad8232"))
    with pytest.raises(fl.FlashError, match="reports build 00.*did not start"):
        fl.check_hash("0000000000000000", "1111111111111111")


def test_esptool_steps_use_the_chip_offset():
    steps = {c: fl.flash_steps(get(b), "/dev/ttyUSB0", "mp.bin", erase=False)[-1]
             for c, b in (("esp32", "devkitc-myoware2"), ("esp32s3", "s3-devkitc-bioamp-exg-pill"),
                          ("esp32c3", "xiao-c3-ad8232"))}
    assert steps["esp32"][-2:] == ["0x1000", "mp.bin"]
    assert steps["esp32s3"][-2:] == ["0x0", "mp.bin"]
    assert steps["esp32c3"][-2:] == ["0x0", "mp.bin"]
    assert "--chip" in steps["esp32c3"] and "esp32c3" in steps["esp32c3"]
    erase = fl.flash_steps(get("devkitc-myoware2"), "/dev/ttyUSB0", "mp.bin", erase=True)
    assert "erase-flash" in erase[0] and len(erase) == 2
    # The esptool the steps call is installed and knows these commands.
    out = subprocess.run(fl.esptool_cmd("write-flash", "--help"), capture_output=True, text=True)
    assert out.returncode == 0 and "address" in out.stdout.lower()


def test_esp32_build_deployed_boots_through_main_py(device, tmp_path):
    """The build for a real board, deployed by mpremote, booted by its main.py with the ESP32
    HAL on a bench stand-in for `machine`: HELLO names the board and the deployed build; the
    break run that `myotwitch flash` sends returns to the REPL. Compiled for this machine's CPU,
    not xtensawin: the detector's viper code is machine code the bench could not run."""
    board = get("devkitc-myoware2")
    p = fl.build_payload(board, march=host_march())
    assert p.mpy_header[2], "the viper detector makes the build arch-specific"
    t = fl.open_transport(device.port)
    try:
        res = fl.deploy(t, p, progress=lambda s: None)
    finally:
        fl.close_transport(t)
    device.kill()
    assert res.slot == "a" and "hal_esp32.mpy" in res.copied and "hal_sim.mpy" not in res.copied
    root = device.root
    env = dict(os.environ, MICROPYPATH=str(Path(__file__).parent / "mp"))
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=128k",
                           str(Path(__file__).parent / "mp" / "esp32_boot.py")],
                          input=b"\x03" * 300, capture_output=True, cwd=root, env=env, timeout=60)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr
    assert out.endswith(b"myotwitch: stopped, REPL ready\n"), out[-300:]
    hello = mp.decode(out[:out.index(b"\x00") + 1])
    assert hello.type == mp.HELLO
    assert hello.fields["board"] == "devkitc-myoware2"
    assert bytes(hello.fields["build_hash"]).hex() == p.build.hash_hex
    # the config went to data/ (kept by re-flashes), with the chip's unique id as device id
    assert json.loads((root / "data" / "config.json").read_text())["device_id"] == "240ac4010203"


@pytest.mark.parametrize("board", ["devkitc-myoware2", "xiao-c3-ad8232", "devkitc-ads1292r"])
def test_dry_run_builds_every_chip_s_firmware(board):
    # Viper code makes some .mpy files arch-specific; a build mixes them with bytecode-only ones.
    r = CliRunner().invoke(main, ["flash", "--board", board, "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "would switch fw/active" in r.output and "detector.mpy" in r.output
