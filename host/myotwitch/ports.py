"""Finding the serial port an ESP32 board is on.

`resolve_port(None)` looks for the USB-serial bridges ESP32 dev boards carry
(by USB vendor:product id) and returns the one it finds; `resolve_port(path)`
returns the path unchanged. The special name ``sim`` (the virtual board) is not
a port: `open_device` (below) starts a SimBoard for it.
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


def _sim_options():
    import os

    opts = {}
    if os.environ.get("MYOTWITCH_SIM_SPEED"):
        opts["speed"] = float(os.environ["MYOTWITCH_SIM_SPEED"])
    if os.environ.get("MYOTWITCH_SIM_RECORDING"):
        opts["recording"] = os.environ["MYOTWITCH_SIM_RECORDING"]
    return opts


class open_device:
    """Context manager: a connected `link.Device` on `port` (None: auto-detect).

    ``sim`` starts a virtual board (SimBoard) for the duration of the block;
    MYOTWITCH_SIM_SPEED and MYOTWITCH_SIM_RECORDING tune it, keyword arguments
    (`sim_options`) override them.
    """

    def __init__(self, port=None, sim_options=None):
        self.port = port
        self.sim_options = sim_options
        self.board = None
        self.device = None

    def __enter__(self):
        from myotwitch.link import Device

        path = resolve_port(self.port)
        if path == SIM:
            from myotwitch.sim import SimBoard

            opts = _sim_options()
            opts.update(self.sim_options or {})
            self.board = SimBoard(**opts)
            self.board.start()
            path = self.board.port
        try:
            self.device = Device.open(path)
        except BaseException:
            self._stop_board()
            raise
        return self.device

    def _stop_board(self):
        if self.board is not None:
            try:
                self.board.stop()
            finally:
                self.board = None

    def __exit__(self, *exc):
        try:
            if self.device is not None:
                self.device.close()
        finally:
            self._stop_board()
