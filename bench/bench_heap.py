"""Firmware heap on the MicroPython unix port (x64): steady state and the smallest heap that
boots and runs, for the virtual board's HAL and the ESP32's (tests/test_firmware_heap.py asserts
the 64 KB budget; this prints the figures)."""

import subprocess
import tempfile
import time
from pathlib import Path

from myotwitch.boards import get as get_board
from myotwitch.build import cached_sim_build
from myotwitch.flash import device_board_json
from myotwitch.paths import micropython_binary
from myotwitch.recordings import load_default, write_i16

REPO = Path(__file__).resolve().parent.parent
MP = REPO / "tests" / "mp"
BUDGET_K = 64


def _run(path, heap_k, tmp):
    build = cached_sim_build()
    samples = tmp / "s.i16"
    if not samples.exists():
        write_i16(load_default(), samples)
    run = tmp / ("run%d-%d" % (heap_k, time.monotonic_ns()))
    run.mkdir()
    # Short relative names (run in `run`): the unix port's heap grows with the length of the
    # host paths it is given, which is no part of the firmware (tests/test_firmware_heap.py).
    (run / "s.i16").symlink_to(samples)
    if path == "virtual board":
        argv = [str(MP / "heap_steady.py"), "s.i16", "flash.img", "32"]
        env = {"MICROPYPATH": str(build.out_dir)}
    else:
        board = run / "board.json"
        board.write_bytes(device_board_json(get_board("devkitc-myoware2")))
        argv = [str(MP / "heap_esp32.py"), "board.json", "data", "s.i16", "32"]
        env = {"MICROPYPATH": "%s:%s" % (build.out_dir, MP)}
    proc = subprocess.run([micropython_binary(), "-X", "heapsize=%dk" % heap_k] + argv,
                          capture_output=True, timeout=300, env=env, cwd=run)
    # heap_steady.py reports on stderr (its stdout is the firmware's serial link), heap_esp32.py
    # on stdout: look at both, separately.
    lines = proc.stdout.decode(errors="replace").splitlines() + \
        proc.stderr.decode(errors="replace").splitlines()
    heap = [line for line in lines if line.startswith("HEAP ")]
    if proc.returncode or not heap:
        return None
    lo, hi = map(int, heap[0].split()[1:3])
    return lo, hi


def main():
    print("firmware heap, x64 unix port (objects are about twice their ESP32 size here)")
    print("%-14s %14s %10s %16s %8s" % ("path", "steady bytes", "growth", "smallest heap", "budget"))
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for path in ("virtual board", "ESP32 HAL"):
            at_budget = _run(path, BUDGET_K, tmp)
            smallest = None
            for k in range(BUDGET_K, BUDGET_K - 8, -1):
                if _run(path, k, tmp) is None:
                    break
                smallest = k
            steady = "%d" % at_budget[0] if at_budget else "FAILS"
            growth = "%d" % (at_budget[1] - at_budget[0]) if at_budget else "-"
            print("%-14s %14s %10s %16s %8s" % (
                path, steady, growth, "%dk" % smallest if smallest else "> %dk" % BUDGET_K,
                "%dk %s" % (BUDGET_K, "ok" if at_budget and smallest else "OVER")))


if __name__ == "__main__":
    main()
