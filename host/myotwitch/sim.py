"""The virtual board: the real firmware in the MicroPython unix port, on a pty.

`SimBoard` builds the firmware (x64 .mpy, cached by build hash), converts the recording to the
raw int16 file the simulation HAL reads, opens a pty and starts
`micropython sim_main.py` with the pty's master side as its stdin/stdout. Hosts open the slave
side (`board.port`, e.g. /dev/pts/7) with pyserial exactly like a USB port. The flash is a
littlefs2 image file, so config and records survive `reboot()` (a kill -9 and a fresh start on
the same pty and image: a power cut as far as the firmware can tell).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
import tty
from pathlib import Path

from myotwitch import private, recordings
from myotwitch.build import Build, cached_sim_build
from myotwitch.paths import micropython_binary

READY_LINE = b"myotwitch virtual board ready"
# MicroPython heap of the virtual board. The firmware with its codec needs about 60 KB of it on
# this 64-bit port (objects and code tables are twice their size on the ESP32's 32-bit heap).
HEAPSIZE = "96k"


class SimError(RuntimeError):
    pass


def home_dir() -> Path:
    """The user's virtual board: its flash image (config, event log, device id), the lock of
    the process that runs a board on it, and where `myotwitch sim` can be reached."""
    from myotwitch.store import user_data_dir

    return user_data_dir() / "virtual-board"


def default_flash_image() -> Path:
    return home_dir() / "flash.img"


def _private_dir(path: Path) -> list:
    private.make_dir(path)
    return private.tighten(path)


def _private_file(path: Path) -> list:
    """The flash image holds the event log (health data): 0600, and its folder 0700 when it
    is the user's virtual board's. Returns what had wider permissions and was tightened."""
    tightened = _private_dir(path.parent) if path.parent == home_dir() else []
    private.make_dir(path.parent)
    private.create_file(path)
    return tightened + private.tighten(path)


class Claim:
    """One board at a time on the user's flash image (two littlefs writers would corrupt it):
    an advisory lock (flock, released by the kernel however the holder ends) on a file beside
    the image. `myotwitch sim` also publishes its port there, so `--port sim` joins it."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root else home_dir()
        self.fd = None

    @property
    def info_path(self) -> Path:
        return self.root / "running.json"

    def acquire(self) -> bool:
        import fcntl

        _private_dir(self.root)
        fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self.fd = fd
        self.info_path.unlink(missing_ok=True)  # left by a holder that was killed
        return True

    def publish(self, **info) -> None:
        import json

        tmp = self.info_path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(dict(info, pid=os.getpid()), f)
        os.replace(tmp, self.info_path)

    def release(self) -> None:
        if self.fd is not None:
            self.info_path.unlink(missing_ok=True)
            os.close(self.fd)  # drops the lock
            self.fd = None

    def holder(self) -> dict | None:
        """What the process holding the lock published (`myotwitch sim`: its port), {} if it
        published nothing (a command's own board), None if nobody holds it."""
        import json

        probe = Claim(self.root)
        if probe.acquire():
            probe.release()
            return None
        try:
            return json.loads(self.info_path.read_text())
        except (OSError, ValueError):
            return {}


class SimBoard:
    def __init__(self, recording=None, speed: float = 1.0, once: bool = False, flash=None,
                 board: str = "virtual", fs: int | None = None, presses=(), heapsize: str = HEAPSIZE,
                 flash_blocks: int = 256, max_channels: int | None = None, firmware_dir=None,
                 hold: bool = False, ble=None):
        self.recording = recordings.load(recording, fs=fs)
        if not (isinstance(speed, (int, float)) and 0 <= speed <= 1000):  # nan and inf too
            raise SimError("--speed must be 0..1000 (0: as fast as the firmware runs), not %s"
                           % speed)
        self.speed = speed
        self.once = once
        self.hold = hold  # play nothing until the host starts the raw stream (same run each time)
        # ble: True or a blesim.AirModel: the board gets a radio (the stand-in `bluetooth`) in
        # front of a simulated air run here (`self.radio`, myotwitch.blesim)
        self.ble = ble
        self.radio = None
        self.board = board
        self.presses = list(presses)
        self.heapsize = heapsize
        self.flash_blocks = flash_blocks
        if max_channels is None:  # what boards/virtual.json says the virtual front end has
            from myotwitch.boards import get

            max_channels = get("virtual").max_channels
        self.max_channels = max_channels
        # A deployed firmware directory (myotwitch flash to a unix-port device) instead of the
        # cached build of the source tree.
        self.firmware_dir = firmware_dir
        self._tmp = tempfile.TemporaryDirectory(prefix="myotwitch-sim-")
        self.workdir = Path(self._tmp.name)
        self.flash = Path(flash) if flash else self.workdir / "flash.img"
        self.tightened = _private_file(self.flash)  # said by whoever starts the board
        self.log_path = self.workdir / "firmware.log"
        self.proc: subprocess.Popen | None = None
        self.master = self.slave = None
        self.port: str | None = None
        self.build = None
        self.boots = 0
        self._stderr_thread = None

    # ---- lifecycle

    def start(self, timeout: float = 20.0) -> "SimBoard":
        if self.proc is not None:
            return self
        if self.firmware_dir is not None:
            self.build = Build(b"", [], Path(self.firmware_dir))
        else:
            self.build = cached_sim_build()
        self.samples_file = recordings.write_i16(self.recording, self.workdir / "samples.i16")
        if self.ble and self.radio is None:
            from myotwitch.blesim import AirModel, Radio

            self.radio = Radio(self.ble if isinstance(self.ble, AirModel) else None).start()
        self.master, self.slave = os.openpty()
        # Raw on the slave: the bytes are frames, not lines of text (no echo, no CR/LF mapping).
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self._spawn(timeout)
        return self

    def _argv(self):
        argv = [micropython_binary(), "-X", "heapsize=" + self.heapsize,
                "-m", "sim_main",
                "--samples", str(self.samples_file),
                "--file-channels", str(self.recording.channels),
                "--speed-milli", str(int(round(self.speed * 1000))),
                "--flash", str(self.flash), "--flash-blocks", str(self.flash_blocks),
                "--board", self.board, "--max-channels", str(self.max_channels),
                "--fs", str(self.recording.fs)]
        if self.once:
            argv.append("--once")
        if self.hold:
            argv.append("--hold")
        if self.radio is not None:
            argv += ["--ble", str(self.radio.port)]
        if self.presses:
            argv += ["--presses", ",".join(str(int(p)) for p in self.presses)]
        return argv

    def _spawn(self, timeout):
        env = dict(os.environ, MICROPYPATH=str(self.build.out_dir))
        ready = threading.Event()
        self.proc = subprocess.Popen(self._argv(), stdin=self.master, stdout=self.master,
                                     stderr=subprocess.PIPE, env=env, cwd=self.workdir)
        self.boots += 1
        self._stderr_thread = threading.Thread(target=self._pump_stderr, args=(self.proc, ready),
                                               daemon=True)
        self._stderr_thread.start()
        deadline = time.monotonic() + timeout
        while not ready.wait(0.05):
            if self.proc.poll() is not None:
                raise SimError("the virtual board exited at boot (code %s):\n%s"
                               % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise SimError("the virtual board did not start within %.0f s:\n%s"
                               % (timeout, self.log_tail()))

    def _pump_stderr(self, proc, ready):
        with open(self.log_path, "ab") as log:
            for line in proc.stderr:
                log.write(line)
                log.flush()
                if READY_LINE in line:
                    ready.set()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _kill(self, sig=signal.SIGKILL, wait: float = 5.0):
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._stderr_thread is not None:
            self._stderr_thread.join(2)
        self.proc = None

    def reboot(self, timeout: float = 20.0):
        """Power-cycle: kill the firmware without warning and boot it again on the same pty
        and flash image."""
        self._kill(signal.SIGKILL)
        self._spawn(timeout)

    def stall(self, seconds: float):
        """Freeze the firmware's process for `seconds` (SIGSTOP, then SIGCONT), as a starved
        process or a long flash write would: samples keep falling due meanwhile, and a stall
        longer than the ring lapses them (counted as dropped)."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self):
        """Stop the firmware (SIGTERM, then SIGKILL) and release the pty."""
        try:
            self._kill(signal.SIGTERM, wait=3.0)
        finally:
            if self.radio is not None:
                self.radio.stop()
                self.radio = None
            for fd in (self.master, self.slave):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self.master = self.slave = None

    def close(self):
        self.stop()
        self._tmp.cleanup()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
