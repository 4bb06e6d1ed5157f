"""Firmware heap on the MicroPython unix port (x64): steady state and the smallest heap that
boots and runs, for the virtual board's HAL and the ESP32's (radio off), and for the virtual
board with a BLE host connected, authenticated and taking the raw stream, the stand-in
`bluetooth` module's own share set apart (tests/test_firmware_heap.py asserts the 64 KB budget
with 2 KB to spare; this prints the figures).

Each row twice: with the resident modules compiled to native code, as the virtual board runs
them (MicroPython keeps native code off its heap: build.NATIVE_RESIDENT), and as bytecode, the
form a chip build has them in (on the heap). Both are x64 figures. With MYOTWITCH_MICROPYTHON32
naming a 32-bit unix port of the same MicroPython (the ESP32's word size: 4-byte pointers,
16-byte GC blocks, 31-bit small ints), the rows once more on it, bytecode as on a chip. One is
built from MicroPython's source in a minute with gcc-multilib (apt) installed:
    make -C ports/unix VARIANT=standard CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 MICROPY_PY_FFI=0 \
        MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 FROZEN_MANIFEST=
(measured with v1.29.0-preview; `make test` never needs it)."""

import os
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
MARGIN_K = 2  # the issue's: >= 2 KB to spare


def _run_dir(tmp, tag, heap_k):
    samples = tmp / "s.i16"
    if not samples.exists():
        write_i16(load_default(), samples)
    run = tmp / ("%s%d-%d" % (tag, heap_k, time.monotonic_ns()))
    run.mkdir()
    # Short relative names (run in `run`): the unix port's heap grows with the length of the
    # host paths it is given, which is no part of the firmware (tests/test_firmware_heap.py).
    (run / "s.i16").symlink_to(samples)
    return run


def _run(path, heap_k, tmp, build, binary=None):
    """Radio off (tests/mp/heap_steady.py, heap_esp32.py): (steady bytes, growth) or None if it
    fails at this heap size."""
    run = _run_dir(tmp, "run", heap_k)
    if path == "virtual board":
        argv = [str(MP / "heap_steady.py"), "s.i16", "flash.img", "32"]
        env = {"MICROPYPATH": str(build.out_dir)}
    else:
        board = run / "board.json"
        board.write_bytes(device_board_json(get_board("devkitc-myoware2")))
        argv = [str(MP / "heap_esp32.py"), "board.json", "data", "s.i16", "32"]
        env = {"MICROPYPATH": "%s:%s" % (build.out_dir, MP)}
    proc = subprocess.run([binary or micropython_binary(), "-X", "heapsize=%dk" % heap_k] + argv,
                          capture_output=True, timeout=300, env=env, cwd=run)
    # heap_steady.py reports on stderr (its stdout is the firmware's serial link), heap_esp32.py
    # on stdout: look at both, separately.
    lines = proc.stdout.decode(errors="replace").splitlines() + \
        proc.stderr.decode(errors="replace").splitlines()
    heap = [line for line in lines if line.startswith("HEAP ")]
    if proc.returncode or not heap:
        return None
    lo, hi = map(int, heap[0].split()[1:3])
    return lo, hi - lo


def _run_ble(heap_k, tmp, build, requests=False, binary=None):
    """The virtual board with a BLE host connected and streaming (tests/mp/heap_ble.py):
    (steady bytes without the stand-in's, growth, stand-in's bytes) or None if it fails (with
    requests: also if the board refused one, NACK E_BUSY "out of memory, retry")."""
    from myotwitch.ble import streaming_host
    from myotwitch.blesim import Radio

    run = _run_dir(tmp, "ble", heap_k)
    key = os.urandom(32)
    # compiled, so that the harness's own names stay out of the heap's string pool
    subprocess.run([mpy_cross_binary(), "-o", str(run / "heap_ble.mpy"), str(MP / "heap_ble.py")],
                   check=True)
    with Radio() as radio:
        proc = subprocess.Popen(
            [binary or micropython_binary(), "-X", "heapsize=%dk" % heap_k, "-m", "heap_ble",
             "s.i16", "flash.img", "30", str(radio.port), key.hex(), "4000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=run,
            env={"MICROPYPATH": "%s:%s" % (build.out_dir, run)})
        host = streaming_host(radio.port, key, requests=requests)
        err = proc.stderr.read().decode(errors="replace")
        proc.wait(120)
    lines = err.splitlines()
    standin = [int(x.split()[1]) for x in lines if x.startswith("STANDIN ")]
    heap = [x for x in lines if x.startswith("HEAP ")]
    if proc.returncode or not heap or not standin or host.get("refused") or "error" in host:
        return None
    lo, hi = map(int, heap[0].split()[1:3])
    return lo - standin[0], hi - lo, standin[0]


def _smallest(passes, start_k):
    """The smallest heap (KB) at which passes(k) holds, searched from start_k: down while it
    passes, up (at most 16 KB) while it does not. None if nothing up there passes."""
    if passes(start_k):
        k = start_k
        while k > start_k - 16 and passes(k - 1):
            k -= 1
        return k
    for k in range(start_k + 1, start_k + 17):
        if passes(k):
            return k
    return None


def _row(path, form, steady, growth, smallest, note=""):
    if smallest is None:
        verdict = "OVER"
    elif smallest <= BUDGET_K - MARGIN_K:
        verdict = "ok"
    elif smallest <= BUDGET_K:
        verdict = "margin < %dk" % MARGIN_K
    else:
        verdict = "over"
    print("%-14s %-9s %12s %7s %14s %14s%s" % (
        path, form, steady if steady is not None else "FAILS", growth if growth is not None
        else "-", "%dk" % smallest if smallest else "> %dk" % (BUDGET_K + 16),
        "%dk %s" % (BUDGET_K, verdict), note))


def radio_off_rows(tmp, form, build, start_k, binary=None):
    steady = {}
    for path in ("virtual board", "ESP32 HAL"):
        smallest = _smallest(lambda k, path=path: _run(path, k, tmp, build, binary) is not None,
                             start_k)
        # the steady state at the budget (or at the smallest heap that runs, if above it)
        at = _run(path, max(BUDGET_K, smallest or BUDGET_K + 16), tmp, build, binary)
        _row(path, form, at and at[0], at and at[1], smallest)
        steady[path] = at
    return steady


def ble_row(tmp, form, build, start_k, requests=False, binary=None):
    """BLE active: the stand-in's share measured and set apart (it is C in flash on a chip):
    the run gets its whole KB on top of the heap size, as the test does. requests: the host
    asks HELLO, CONFIG_GET/SET, PING, TIME_SET and the whole log first (the test runs it at
    62k only for the refusals: E_BUSY, never a stop)."""
    path = "BLE + requests" if requests else "BLE streaming"
    first = _run_ble(BUDGET_K + 24, tmp, build, requests, binary)
    if first is None:
        _row(path, form, None, None, None)
        return None
    allowance = -(-first[2] // 1024)
    smallest = _smallest(
        lambda k: _run_ble(k + allowance, tmp, build, requests, binary) is not None, start_k)
    # (with requests, a growth is one step a few seconds after the log download, then flat:
    # the download closes the segment being appended to and the first flush after it opens a
    # new one, whose file object is the step (measured: no segment open at the reading before
    # it); the test's run, without requests, has its segment open all along)
    _row(path, form, first[0], first[1], smallest,
         "   (growth: see bench_heap.py)" if requests and first[1] else
         "" if requests else "   (the stand-in's own %d B set apart)" % first[2])
    return first


def main():
    print("firmware heap, x64 unix port (the same objects take about 1.4 times their 32-bit "
          "size here); resident modules as native code (the virtual board) and as bytecode (a "
          "chip build)")
    print("%-14s %-9s %12s %7s %14s %14s" % ("path", "resident", "steady bytes", "growth",
                                             "smallest heap", "budget"))
    steady = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for form, native, start_k in (("native", True, BUDGET_K - MARGIN_K),
                                      ("bytecode", False, BUDGET_K + 4)):
            build = cached_sim_build(native_resident=native)
            s = radio_off_rows(tmp, form, build, start_k)
            b = ble_row(tmp, form, build, start_k)
            ble_row(tmp, form, build, start_k + 2, requests=True)
            steady[form] = (s.get("virtual board"), b)
        m32 = os.environ.get("MYOTWITCH_MICROPYTHON32")
        if m32:
            # A 32-bit unix port (the chip's word size), bytecode as a chip build has it: see
            # the module's docstring for how to build one. Not needed by `make test`.
            print("32-bit unix port (%s), resident modules as bytecode:" % m32)
            build = cached_sim_build(native_resident=False, march="x86")
            radio_off_rows(tmp, "32-bit", build, BUDGET_K - 16, m32)
            ble_row(tmp, "32-bit", build, BUDGET_K - 14, binary=m32)
            ble_row(tmp, "32-bit", build, BUDGET_K - 12, requests=True, binary=m32)
    nat, byt = steady["native"], steady["bytecode"]
    if nat[0] and byt[0]:
        print("resident modules as bytecode: %+d B at steady state with the radio off" % (
            byt[0][0] - nat[0][0]), end="")
        if nat[1] and byt[1]:
            print(", %+d B with BLE streaming" % (byt[1][0] - nat[1][0]), end="")
        print(" (x64; the native code itself is off the heap)")


if __name__ == "__main__":
    main()
