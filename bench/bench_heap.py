"""Firmware heap on the MicroPython unix port (x64): steady state and the smallest heap that
boots and runs, for the virtual board's HAL and the ESP32's (radio off), and for the virtual
board with a BLE host connected, authenticated and taking the raw stream, the stand-in
`bluetooth` module's own share set apart (tests/test_firmware_heap.py asserts the 64 KB budget;
this prints the figures)."""

import subprocess
import tempfile
import time
from pathlib import Path

from myotwitch.boards import get as get_board
from myotwitch.build import cached_sim_build
from myotwitch.flash import device_board_json
from myotwitch.paths import micropython_binary, mpy_cross_binary
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


def _run_ble(heap_k, tmp):
    """The virtual board with a BLE host connected and streaming (tests/mp/heap_ble.py):
    (standin bytes, steady total bytes) or None if it fails at this heap size."""
    import os

    from myotwitch.ble import streaming_host
    from myotwitch.blesim import Radio

    build = cached_sim_build()
    samples = tmp / "s.i16"
    if not samples.exists():
        write_i16(load_default(), samples)
    run = tmp / ("ble%d-%d" % (heap_k, time.monotonic_ns()))
    run.mkdir()
    (run / "s.i16").symlink_to(samples)
    key = os.urandom(32)
    # compiled, so that the harness's own names stay out of the heap's string pool
    subprocess.run([mpy_cross_binary(), "-o", str(run / "heap_ble.mpy"), str(MP / "heap_ble.py")],
                   check=True)
    with Radio() as radio:
        proc = subprocess.Popen(
            [micropython_binary(), "-X", "heapsize=%dk" % heap_k, "-m", "heap_ble",
             "s.i16", "flash.img", "30", str(radio.port), key.hex(), "4000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=run,
            env={"MICROPYPATH": "%s:%s" % (build.out_dir, run)})
        streaming_host(radio.port, key)
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(120)
    lines = err.splitlines()
    standin = [int(x.split()[1]) for x in lines if x.startswith("STANDIN ")]
    heap = [x for x in lines if x.startswith("HEAP ")]
    if proc.returncode or not heap or not standin:
        return None
    return standin[0], int(heap[0].split()[1])


def ble_row(tmp):
    """BLE active: the stand-in's share measured and set apart (it is C in flash on a chip)."""
    first = _run_ble(BUDGET_K + 12, tmp)
    if first is None:
        print("%-14s %14s" % ("BLE, streaming", "FAILS"))
        return
    standin, total = first
    allowance = -(-standin // 1024)
    smallest = None
    for k in range(BUDGET_K + allowance + 2, BUDGET_K + allowance - 8, -1):
        if _run_ble(k, tmp) is None:
            break
        smallest = k - allowance
    print("%-14s %14s %10s %16s %8s   (stand-in's own %d B set apart)" % (
        "BLE, streaming", "%d" % (total - standin), "0",
        "%dk" % smallest if smallest else "> %dk" % (BUDGET_K + 2),
        "%dk %s" % (BUDGET_K, "ok" if smallest and smallest <= BUDGET_K - 2 else
                    "margin < 2k" if smallest and smallest <= BUDGET_K else "OVER"), standin))


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
        ble_row(tmp)


if __name__ == "__main__":
    main()
