"""Checks that the firmware fits a real ESP32 without one: it compiles for both ESP32 CPU
architectures, the hardware layer type-checks against MicroPython's ESP32 stubs, and nothing
imports a module stock ESP32 MicroPython lacks."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from myotwitch.build import source_files
from myotwitch.paths import firmware_dir, mpy_cross_binary, protocol_dir

ALL_MODULES = sorted(p for p in firmware_dir().glob("*.py") if p.name != "__init__.py") + [
    protocol_dir() / "myoproto.py"]
ESP32_LAYER = ("hal_esp32.py", "esp32board.py", "ads1x9x.py", "main.py")
# Installed by `make venv` (Makefile: MPY_STUBS), apart from the venv's CPython typeshed.
STUBS = Path(sys.prefix) / "micropython-stubs"

# Modules built into (or frozen in) stock ESP32 MicroPython >= 1.24 (esp32, esp32s3, esp32c3).
ESP32_BUILTINS = {
    "array", "binascii", "builtins", "cmath", "collections", "cryptolib", "deflate", "errno",
    "esp", "esp32", "framebuf", "gc", "hashlib", "heapq", "io", "json", "machine", "math",
    "micropython", "network", "os", "platform", "random", "re", "select", "socket", "ssl",
    "struct", "sys", "time", "uctypes", "vfs", "asyncio", "bluetooth", "btree", "neopixel",
    "onewire", "dht", "ds18x20", "_thread", "espnow", "ntptime", "webrepl", "mip", "requests",
}


@pytest.mark.parametrize("march", ["xtensawin", "rv32imc"])
def test_every_firmware_module_compiles_for_esp32_cpus(march, tmp_path):
    failed = []
    for p in ALL_MODULES:
        out = tmp_path / (p.stem + ".mpy")
        proc = subprocess.run([mpy_cross_binary(), "-march=" + march, "-o", str(out), str(p)],
                              capture_output=True, text=True)
        if proc.returncode or not out.exists():
            failed.append("%s: %s" % (p.name, proc.stderr.strip()))
    assert not failed, "\n".join(failed)
    assert len(ALL_MODULES) >= 10


def imports_of(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_device_firmware_imports_only_esp32_modules():
    deployed = source_files("device")
    own = {p.stem for p in deployed} | {"buildinfo"}
    assert {"hal_esp32", "ads1x9x", "main"} <= own
    assert not own & {"hal_sim", "blockdev", "sim_main", "sim_bluetooth"}, \
        "sim-only modules (the stand-in bluetooth among them) are not deployed"
    bad = {}
    for p in deployed:
        foreign = imports_of(p) - own - ESP32_BUILTINS
        if foreign:
            bad[p.name] = sorted(foreign)
    assert not bad, "imports stock ESP32 MicroPython lacks: %s" % bad


def test_import_check_catches_a_foreign_module(tmp_path):
    p = tmp_path / "x.py"
    p.write_text("import numpy\nfrom typing import List\nimport machine\n")
    assert imports_of(p) - ESP32_BUILTINS == {"numpy", "typing"}


def run_mypy(tmp_path, extra: str = ""):
    if not (STUBS / "machine.pyi").exists():
        pytest.fail("micropython-esp32-stubs missing in %s: run `make venv`" % STUBS)
    flat = tmp_path / "flat"  # deployed flat, as on the device
    flat.mkdir()
    for p in ALL_MODULES:
        shutil.copyfile(p, flat / p.name)
    if extra:
        with open(flat / "hal_esp32.py", "a") as f:
            f.write(extra)
    cfg = tmp_path / "mypy.ini"
    # Only the ESP32 layer is held to the stubs; the portable modules are checked by running
    # them in the unix port.
    cfg.write_text("[mypy]\nignore_errors = True\nfollow_imports = silent\n"
                   "[mypy-%s]\nignore_errors = False\ncheck_untyped_defs = True\n" % ",".join(Path(m).stem for m in ESP32_LAYER))
    env = {"MYPYPATH": str(STUBS), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(cfg), "--custom-typeshed-dir",
         str(STUBS), "--cache-dir", str(tmp_path / "cache"), "--no-error-summary", *ESP32_LAYER],
        cwd=flat, capture_output=True, text=True, env=env)


def test_esp32_layer_type_checks_against_micropython_stubs(tmp_path):
    proc = run_mypy(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_type_check_has_teeth(tmp_path):
    # The same check on a misuse of the ESP32 API must fail: the stubs are really in use.
    proc = run_mypy(tmp_path, "\ndef _bad():\n    machine.Timer(0).init(mode=machine.Timer.PERIODIC,"
                              " frequency=1000)\n    x: str = machine.unique_id()\n")
    assert proc.returncode == 1
    assert "frequency" in proc.stdout and "bytes" in proc.stdout
