"""Finding the serial port an ESP32 board is on.

`resolve_port(None)` looks for the USB-serial bridges ESP32 dev boards carry
(by USB vendor:product id) and returns the one it finds; `resolve_port(path)`
returns the path unchanged. The special name ``sim`` (the virtual board) is not
a port: `open_device` (below) starts a SimBoard for it; ``ble:NAME`` (``ble:auto``,
``ble:ADDRESS``) is a board over Bluetooth LE (myotwitch.ble).
"""

from __future__ import annotations

from dataclasses import dataclass

SIM = "sim"

# (vid, pid) -> chip name of the USB-serial bridges found on ESP32 boards.
KNOWN_ADAPTERS: dict[tuple[int, int], str] = {
    (0x10C4, 0xEA60): "Silicon Labs CP210x",
    (0x10C4, 0xEA70): "Silicon Labs CP2105",
    (0x1A86, 0x7523): "WCH CH340",
    (0x1A86, 0x55D4): "WCH CH9102",
    (0x1A86, 0x55D3): "WCH CH343",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232",
    (0x0403, 0x6015): "FTDI FT231X",
    (0x303A, 0x1001): "Espressif USB Serial/JTAG (ESP32-S3/C3)",
    (0x303A, 0x0002): "Espressif USB CDC (ESP32-S2/S3 TinyUSB)",
    (0x303A, 0x4001): "Espressif USB CDC (MicroPython)",
}


class PortError(Exception):
    """No usable port, or more than one candidate: the message says what to do."""


@dataclass(frozen=True)
class Candidate:
    device: str
    adapter: str
    serial_number: str | None = None
    description: str = ""

    def describe(self) -> str:
        sn = " serial %s" % self.serial_number if self.serial_number else ""
        desc = " (%s)" % self.description if self.description and self.description != "n/a" else ""
        return "%s  %s%s%s" % (self.device, self.adapter, sn, desc)


def list_candidates(ports=None) -> list[Candidate]:
    """ESP32-looking ports among `ports` (default: serial.tools.list_ports.comports())."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    out = []
    for p in ports:
        vid = getattr(p, "vid", None)
        pid = getattr(p, "pid", None)
        if vid is None or pid is None:
            continue
        name = KNOWN_ADAPTERS.get((vid, pid))
        if name is None:
            continue
        out.append(Candidate(p.device, "%s %04X:%04X" % (name, vid, pid),
                             getattr(p, "serial_number", None), getattr(p, "description", "") or ""))
    out.sort(key=lambda c: c.device)
    return out


def resolve_port(port: str | None, ports=None) -> str:
    """The serial device to open.

    None -> auto-detect (exactly one known ESP32 USB-serial adapter must be present);
    anything else is returned unchanged (``sim`` included: the caller handles it).
    """
    if port:
        return port
    found = list_candidates(ports)
    if not found:
        raise PortError(
            "no ESP32 board found on USB (looked for CP210x, CH340/CH343/CH9102, FTDI and "
            "Espressif native USB adapters). Plug the board in with a data (not charge-only) "
            "cable and check that the adapter's driver is installed, or name the port with "
            "--port /dev/ttyUSB0 (or --port sim for the virtual board).")
    if len(found) > 1:
        lines = "\n".join("  " + c.describe() for c in found)
        raise PortError("several ESP32 boards found:\n%s\nchoose one with --port PATH." % lines)
    return found[0].device


def survey(probe: bool = True, ports=None, timeout: float = 1.0) -> list[dict]:
    """Every serial port with what it looks like: the USB bridge (ESP32 boards' are known by
    vendor:product id) and, for those and the running virtual board, who answers HELLO.
    Only ESP32-looking ports are sent a HELLO_REQ: a modem or another gadget is not poked."""
    if ports is None:
        from serial.tools import list_ports

        ports = list_ports.comports()
    known = {c.device: c for c in list_candidates(ports)}
    out = []
    for p in sorted(ports, key=lambda p: p.device):
        c = known.get(p.device)
        kind = ("ESP32 USB bridge: " + c.adapter) if c else (
            getattr(p, "description", "") or "serial port")
        out.append({"port": p.device, "kind": kind, "esp32": c is not None, "board": None,
                    "device_id": None, "answer": None})
    from myotwitch.sim import Claim

    held = Claim().holder()
    if held and held.get("port"):
        out.append({"port": held["port"], "kind": "virtual board (myotwitch sim, pid %s)"
                    % held.get("pid"), "esp32": False, "board": None, "device_id": None,
                    "answer": None, "virtual": True})
    if probe:
        for row in out:
            if row["esp32"] or row.get("virtual"):
                _ask(row, timeout)
    return out


def _ask(row, timeout):
    from myotwitch.link import Device, LinkError

    try:
        with Device.open(row["port"]) as dev:
            hello = dev.hello(timeout=timeout)
        row["board"], row["device_id"] = hello.board, hello.device_id
        row["answer"] = "myotwitch firmware %s" % hello.fw_version
    except LinkError as e:
        row["answer"] = ("in use by another program" if "in use" in str(e)
                         else "no myotwitch answer")


SIM_SPEED = 10.0  # a board started for `--port sim` plays ten seconds of recording per second


class open_device:
    """Context manager: a connected `link.Device` on `port` (None: auto-detect).

    ``sim`` is the user's virtual board (sim.home_dir(): its flash image persists between
    commands): the one `myotwitch sim` runs, if it runs; else one started for the duration
    of the block, at `sim_options` (speed, default SIM_SPEED; recording). `note` then says
    which, for the caller to show.
    """

    def __init__(self, port=None, sim_options=None):
        self.port = port
        self.sim_options = dict(sim_options or {})
        self.board = None
        self.claim = None
        self.device = None
        self.note = None

    def __enter__(self):
        from myotwitch.link import Device

        path = resolve_port(self.port)
        if path == SIM:
            path = self._virtual_board()
        try:
            if path.startswith("ble:"):
                from myotwitch.ble import open_ble

                self.device = open_ble(path)  # the owner's handshake included (SPEC 13)
            else:
                self.device = Device.open(path)
            self._sync_clock()
        except BaseException:
            if self.device is not None:
                self.device.close()
            self._stop_board()
            raise
        return self.device

    def _sync_clock(self):
        # Every connection gives the running boot a wall-clock anchor: the device logs the
        # TIME, so events of this boot pulled later get their time even if nobody records.
        from myotwitch.link import DeviceError

        try:
            self.device.time_set()
        except DeviceError:
            pass

    def _virtual_board(self) -> str:
        from myotwitch.sim import Claim, SimBoard, default_flash_image

        claim = Claim()
        if not claim.acquire():
            held = claim.holder() or {}
            if held.get("port"):
                self.note = ("virtual board: joining the one `myotwitch sim` runs (pid %s) on %s"
                             % (held.get("pid"), held["port"]))
                if self.sim_options:
                    self.note += " (--sim-speed/--sim-recording ignored: it is already running)"
                return held["port"]
            raise PortError("the virtual board is busy with another myotwitch command: wait for "
                            "it to end (or run `myotwitch sim` in a terminal: every --port sim "
                            "command then joins that board)")
        self.claim = claim
        opts = dict(self.sim_options)
        opts.setdefault("speed", SIM_SPEED)
        try:
            self.board = SimBoard(flash=default_flash_image(), **opts)
            self.board.start()
        except BaseException:
            self._stop_board()
            raise
        rec = self.board.recording
        self.note = ("virtual board: %s at %gx, flash image %s (kept between commands)"
                     % (rec.name, self.board.speed, self.board.flash))
        if self.board.tightened:
            self.note += "\nmade owner-only (health data): " + ", ".join(self.board.tightened)
        return self.board.port

    def _stop_board(self):
        try:
            if self.board is not None:
                self.board.close()
        finally:
            self.board = None
            if self.claim is not None:
                self.claim.release()
                self.claim = None

    def __exit__(self, *exc):
        try:
            if self.device is not None:
                self.device.close()
        finally:
            self._stop_board()
