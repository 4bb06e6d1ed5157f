"""The stand-in `bluetooth` (firmware/sim_bluetooth.py) offers nothing the ESP32's module lacks,
and the firmware's BLE code calls nothing the ESP32's module lacks: both checked against the
micropython-esp32-stubs (installed by `make venv`), as test_static_firmware.py checks the ESP32
hardware layer. The stubs' signatures are not all right (their gatts_notify lacks the
conn_handle that docs/library/bluetooth.rst and the C module have), so names are checked against
the stubs and positional arity against the documented signatures below."""

import ast
import sys
from pathlib import Path

import pytest

from myotwitch.paths import firmware_dir

STUBS = Path(sys.prefix) / "micropython-stubs" / "bluetooth.pyi"
FIRMWARE_BLE = ("blelink.py", "blesetup.py", "blectl.py", "blehs.py", "blemac.py")

# docs/library/bluetooth.rst (MicroPython 1.24+): positional parameters (min, max) after self
DOCUMENTED = {
    "active": (0, 1), "config": (0, 1), "irq": (1, 1), "gatts_register_services": (1, 1),
    "gatts_set_buffer": (2, 3), "gatts_read": (1, 1), "gatts_write": (2, 3),
    "gatts_notify": (2, 3), "gap_advertise": (1, 2), "gap_disconnect": (1, 1),
    "gattc_exchange_mtu": (1, 1), "gap_pair": (1, 1),
}


def stub_api():
    if not STUBS.exists():
        pytest.fail("micropython-esp32-stubs missing in %s: run `make venv`" % STUBS.parent)
    tree = ast.parse(STUBS.read_text())
    module = set()
    ble = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            module.add(node.name)
            if node.name == "BLE":
                ble = {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            module.add(node.target.id)
        elif isinstance(node, ast.Assign):
            module |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return module, ble


def standin():
    tree = ast.parse((firmware_dir() / "sim_bluetooth.py").read_text())
    module = {}
    ble = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            module[node.name] = node
            if node.name == "BLE":
                ble = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
        elif isinstance(node, (ast.FunctionDef, ast.Assign)):
            names = [node.name] if isinstance(node, ast.FunctionDef) else \
                [t.id for t in node.targets if isinstance(t, ast.Name)]
            for n in names:
                module[n] = node
    return module, ble


def test_the_standin_offers_only_the_esp32_api():
    stub_module, stub_ble = stub_api()
    module, ble = standin()
    # public module names: the API, plus attach/service, the virtual board's hooks (hal_sim)
    public = {n for n in module if not n.startswith("_")} - {"attach", "service"}
    assert public <= stub_module, public - stub_module
    methods = {n for n in ble if not n.startswith("_")}
    assert methods <= stub_ble, methods - stub_ble
    assert methods <= set(DOCUMENTED), methods - set(DOCUMENTED)
    for name in methods:
        args = ble[name].args
        n_pos = len(args.args) - 1
        lo, hi = DOCUMENTED[name]
        if args.vararg is not None:  # active(*a), config(*a, **kw): optional positionals
            assert lo == 0, name
            continue
        required = n_pos - len(args.defaults)
        assert (required, n_pos) == (lo, hi), "%s takes %d..%d, documented %d..%d" % (
            name, required, n_pos, lo, hi)


def firmware_calls():
    """Names the firmware's BLE modules call on a BLE object (`ble.x(...)`, `x.ble.y(...)`),
    or take from the module (`bluetooth.x`)."""
    calls, module = set(), set()
    for f in FIRMWARE_BLE:
        for node in ast.walk(ast.parse((firmware_dir() / f).read_text())):
            if isinstance(node, ast.Attribute):
                v = node.value
                if isinstance(v, ast.Name) and v.id == "bluetooth":
                    module.add(node.attr)
                elif (isinstance(v, ast.Name) and v.id == "ble") or \
                        (isinstance(v, ast.Attribute) and v.attr == "ble"):
                    calls.add(node.attr)
    return calls, module


def test_the_firmware_calls_only_the_esp32_api():
    stub_module, stub_ble = stub_api()
    calls, module = firmware_calls()
    assert {"gatts_notify", "gatts_read", "gap_advertise", "irq"} <= calls  # (the check sees them)
    assert calls <= stub_ble, calls - stub_ble
    assert module <= stub_module, module - stub_module


def test_the_check_has_teeth(tmp_path):
    _, stub_ble = stub_api()
    assert "gatts_notify_many" not in stub_ble and "gatts_notify" in stub_ble
