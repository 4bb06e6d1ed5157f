"""Destructive commands ask, and what a device says cannot drive the terminal (issue 16): `pull
--erase` refuses without a terminal or --yes, asks on a terminal (a real pty), and is refused for
a device without an id; board names and config strings with control characters are printed
escaped by every command that shows them. Real firmware on the virtual board."""

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.sim import SimBoard
from myotwitch.simlog import prefill_log

from linkproxy import LinkProxy
from test_devices import older_firmware
from test_pull import read_log

EXE = str(Path(sys.executable).parent / "myotwitch")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def on_a_terminal(args, answer, timeout=60):
    """Run myotwitch with a pty as its terminal; answer its question; return all it wrote."""
    master, slave = os.openpty()
    p = subprocess.Popen([EXE, *map(str, args)], stdin=slave, stdout=slave, stderr=slave,
                         env=dict(os.environ, COLUMNS="200"))
    os.close(slave)
    out = b""
    answered = False
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            out += data
        if not answered and b"[y/N]" in out:
            os.write(master, answer.encode() + b"\n")
            answered = True
        if p.poll() is not None and not r:
            break
    p.wait(10)
    os.close(master)
    return p.returncode, out.decode(errors="replace")


def test_pull_erase_asks_and_a_script_must_say_yes(tmp_path):
    img = tmp_path / "f.img"
    prefill_log(img, 100, boot_id=0x5A5A5A5A, seed=5)
    db = tmp_path / "s.db"
    with SimBoard(speed=1, flash=img, hold=True) as board:
        r = run("--db", db, "pull", "--port", board.port, "--erase")
        assert r.exit_code == 2 and "add --yes" in r.stderr and r.stderr.count("\n") == 1
        assert not db.exists()  # refused before anything was done
        code, out = on_a_terminal(["--db", db, "pull", "--port", board.port, "--erase"], "n")
        assert code == 0 and "erase the log of board virtual (device " in out, out
        assert "not erased (not confirmed)" in out
        msg, _ = read_log(board.port)
        assert msg["oldest_seq"] == 0
        code, out = on_a_terminal(["--db", db, "pull", "--port", board.port, "--erase"], "y")
        assert code == 0 and "device log erased up to seq" in out, out
        upto = int(re.search(r"erased up to seq (\d+)", out).group(1))
        msg, _ = read_log(board.port)
        assert msg["oldest_seq"] > upto >= 100
        r = run("--db", db, "pull", "--port", board.port, "--erase", "--yes", "-q")
        assert r.exit_code == 0 and "device log erased" in r.output
        with LinkProxy(board.port, transform=older_firmware(config_id=False)) as px:
            r = run("--db", db, "pull", "--port", px.port, "--erase", "--yes", "-q")
        assert r.exit_code == 2 and "no usable device id" in r.stderr, r.output
        assert r.stderr.count("\n") == 1


ESC = "\x1b"


def test_device_strings_are_printed_escaped(tmp_path):
    db = tmp_path / "s.db"
    evil_board = "vir\x1b[31mtual\x07"
    with SimBoard(speed=10, flash=tmp_path / "f.img", board=evil_board) as board:
        port = board.port
        r = run("config", "set", "--port", port, "name=\x1b]0;owned\x07")
        assert r.exit_code == 0, r.output
        assert "\\x1b]0;owned\\x07" in r.output and ESC not in r.output
        outputs = [run("config", "show", "--port", port), run("config", "get", "--port", port, "name"),
                   run("info", "--port", port),
                   run("--db", db, "record", "--port", port, "--duration", 1),
                   run("--db", db, "pull", "--port", port, "-q")]
    outputs += [run("--db", db, "sessions"), run("--db", db, "summary"), run("--db", db, "events")]
    for r in outputs:
        assert r.exit_code == 0, r.output
        assert ESC not in r.output and "\x07" not in r.output, r.output
    text = "".join(r.output for r in outputs)
    assert "vir\\x1b[31mtual\\x07" in text and "\\x1b]0;owned\\x07" in text
