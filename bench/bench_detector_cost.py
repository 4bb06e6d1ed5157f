"""Detector cost: the firmware detector on the MicroPython unix port, an ESP32 estimate, and the
NumPy twin's throughput.

    .venv/bin/python -m bench.bench_detector_cost        (or via bench/run.py)

Device side: the firmware detector runs in the MicroPython unix port, both builds of its
per-sample loop (detref.py, bytecode; detviper.py, viper machine code, what app.py runs) over
the bundled recordings, in blocks of 128 samples from a ring buffer as firmware/app.py feeds it. Each
figure is also a ratio to a bare loop over the same buffer in the same run
(`for i in range(n): x = buf[i & mask]`), which carries over to other machines far better than
microseconds do.

ESP32 estimate: ratio x ESP32_BARE_LOOP_US, the bare loop's cost on a 160 MHz ESP32. That figure
is an ESTIMATE, not a measurement (no chip here), derived from pystone:
  - ESP32 at 240 MHz, MicroPython v1.12: 1661 pystones/s (pystone_lowmem; micropython issue
    #5673); scaled linearly to 160 MHz (an assumption): 1107 pystones/s;
  - the same pystone_lowmem on this project's MicroPython unix port (x86-64 dev machine,
    2026-11): 249,000 pystones/s, in the same process as the bare loop at 0.045 us/iteration;
  - so ESP32 at 160 MHz is ~225x slower than that unix port, and one bare-loop iteration there
    costs ~0.045 x 225 = 10 us.
pystone allocates objects (GC on the chip's larger, slower heap), so the factor is likely
pessimistic for an allocation-free integer loop like the detector's.

Host side: detect.detect() over ~10 M samples built by tiling the bundled recordings; and a
24 h recording at 1 kHz (86.4 M samples, the bundled recordings tiled, made chunk by chunk)
through detect.Stream in chunks of 2**20 samples, in a fresh process: its peak RSS (aim: about
200 MB) and time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE = ROOT / "firmware"

ESP32_BARE_LOOP_US = 0.045 * 225  # see the module docstring: an estimate with its sources
ESP32_FACTOR_NOTE = ("pystone: ESP32@240MHz 1661/s (micropython#5673) scaled to 160 MHz = 1107/s "
                     "vs unix port 249k/s beside a 0.045 us bare loop -> x225")
FS = 1000
AIM_CPU_PCT = 5.0
AIM_TWIN_SPS = 10e6
RING_BITS = 16  # 65,536-sample buffer: the recordings' variety without an unreal heap
BLOCK = 128  # as firmware/app.py hands samples to the detectors
PASSES = 3  # over the buffer, per measurement

MP_SCRIPT = r"""
import sys, time
sys.path.insert(0, FIRMWARE)
from array import array
import dettable
import detref
f = open(SAMPLES, "rb")
buf = array("h", f.read())
f.close()
mask = len(buf) - 1
n = len(buf) * PASSES
params = {}
for p in dettable.PARAMS:
    params[p[0]] = p[1]
events = [0]
def emit(onset, duration, kind, channel, peak, area):
    events[0] += 1

def bare(buf, mask, n):
    # locals, as in Detector.process (globals would double the bare loop's cost)
    t0 = time.ticks_us()
    for i in range(n):
        x = buf[i & mask]
    return time.ticks_diff(time.ticks_us(), t0)

def run(cls):
    d = cls(0, FS, params, emit)
    t0 = time.ticks_us()
    idx = 0
    while idx < n:
        d.process(buf, idx & mask, BLOCK, idx, mask)
        idx += BLOCK
    return time.ticks_diff(time.ticks_us(), t0)

variants = [("bytecode", detref.RefDetector)]
try:
    import detviper
    variants.append(("viper", detviper.ViperDetector))
except ImportError:  # a port without viper
    pass
for name, cls in variants:
    best_b = best_d = 1 << 60
    for _ in range(2):
        b = bare(buf, mask, n)
        events[0] = 0
        dt = run(cls)
        best_b = min(best_b, b)
        best_d = min(best_d, dt)
    print("RESULT", name, n, best_b, best_d, events[0])
"""


def _tiled(n_samples: int) -> np.ndarray:
    from myotwitch import recordings

    parts = [recordings.load(name).samples[:, 0] for name in recordings.bundled()]
    one = np.concatenate(parts)
    return np.resize(one, n_samples).astype(np.int16)


def micropython_cost():
    from myotwitch.paths import micropython_binary

    rows = []
    with tempfile.TemporaryDirectory() as d:
        samples = Path(d) / "samples.i16"
        _tiled(1 << RING_BITS).astype("<i2").tofile(samples)
        script = Path(d) / "cost.py"
        script.write_text("FIRMWARE = %r\nSAMPLES = %r\nPASSES = %d\nFS = %d\nBLOCK = %d\n"
                          % (str(FIRMWARE), str(samples), PASSES, FS, BLOCK) + MP_SCRIPT)
        out = subprocess.run([micropython_binary(), "-X", "heapsize=4m", str(script)],
                             capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("micropython: %s" % (out.stderr or out.stdout).strip()[-400:])
    for line in out.stdout.splitlines():
        if line.startswith("RESULT"):
            _, name, n, bare_us, det_us, events = line.split()
            n = int(n)
            rows.append({"variant": name, "samples": n, "bare_us": int(bare_us) / n,
                         "det_us": int(det_us) / n, "events": int(events)})
    return rows


def twin_throughput(n_samples=10_000_000):
    from myotwitch import detect

    x = _tiled(n_samples)
    best = float("inf")
    events = 0
    for _ in range(2):
        t0 = time.perf_counter()
        ev = detect.detect(x, FS)
        best = min(best, time.perf_counter() - t0)
        events = len(ev)
    return n_samples / best, events


STREAM_SCRIPT = r"""
import resource, sys, time
import numpy as np
from myotwitch import detect
from myotwitch.recordings import bundled, load
one = np.concatenate([load(n).samples[:, 0] for n in bundled()]).astype(np.int16)
total, chunk = int(sys.argv[1]), int(sys.argv[2])
s = detect.Stream(1000)
events = 0
t0 = time.perf_counter()
pos = 0
while pos < total:
    k = min(chunk, total - pos)
    x = np.take(one, np.arange(pos, pos + k) % len(one))
    events += len(s.feed(x))
    pos += k
events += len(s.flush())
dt = time.perf_counter() - t0
# Peak RSS of this program: VmHWM (ru_maxrss survives exec on Linux, so it would report the
# bench process this one was forked from).
try:
    with open("/proc/self/status") as f:
        kb = [int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")][0]
except OSError:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print("RESULT", total, events, dt, kb)
"""
AIM_STREAM_MB = 200


def stream_24h(total=86_400_000, chunk=1 << 20):
    """(samples, events, seconds, peak RSS in MB) of a 24 h recording through detect.Stream."""
    out = subprocess.run([sys.executable, "-c", STREAM_SCRIPT, str(total), str(chunk)],
                         capture_output=True, text=True, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip()[-400:])
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("RESULT")][0].split()
    return int(line[1]), int(line[2]), float(line[3]), int(line[4]) / 1024


def main():
    print("detector cost (one channel, %d Hz; buffer %d samples, blocks of %d as in app.py)"
          % (FS, 1 << RING_BITS, BLOCK))
    print("%-34s %14s %12s %10s" % ("what", "value", "aim", "verdict"))
    rows = micropython_cost()
    src = FIRMWARE.joinpath("detviper.py").read_text()
    for r in rows:
        ratio = r["det_us"] / r["bare_us"]
        esp_us = ratio * ESP32_BARE_LOOP_US
        cpu = esp_us * FS / 1e6 * 100
        v = r["variant"]
        print("%-34s %11.3f us %12s %10s" % ("unix port, %s, per sample" % v, r["det_us"], "", ""))
        print("%-34s %11.3f us %12s %10s" % ("unix port, bare loop, per sample", r["bare_us"], "", ""))
        print("%-34s %13.1fx %12s %10s" % ("ratio to bare loop (%s)" % v, ratio, "", ""))
        print("%-34s %11.1f us %12s %10s" % ("ESP32 160 MHz estimate (%s)" % v, esp_us, "", ""))
        print("%-34s %12.2f %% %12s %10s" % ("ESP32 core at 1 kHz (%s)" % v, cpu, "< %g %%" % AIM_CPU_PCT,
                                            "ok" if cpu < AIM_CPU_PCT else "OVER"))
        print("%-34s %14d" % ("events in the run (%s)" % v, r["events"]))
    if "micropython.viper" not in src and "micropython.native" not in src:
        print("%-34s %14s" % ("viper/native variant", "none in detviper.py"))
    elif len(rows) > 1:
        print("note: the ESP32 factor scales the interpreter's cost; machine code (viper/native) "
              "keeps its ratio to the bare loop only roughly on the chip: read its % as an order "
              "of magnitude")
    print("ESP32 factor: bare loop %.1f us/iteration on a 160 MHz ESP32 (ESTIMATE: %s)"
          % (ESP32_BARE_LOOP_US, ESP32_FACTOR_NOTE))
    try:
        sps, events = twin_throughput()
    except ImportError as e:
        print("%-34s %14s" % ("NumPy twin", "not available (%s)" % e))
        return
    print("%-34s %10.1f M/s %12s %10s" % ("NumPy twin, 10 M samples, 1 core", sps / 1e6,
                                          ">= %g M/s" % (AIM_TWIN_SPS / 1e6),
                                          "ok" if sps >= AIM_TWIN_SPS else "UNDER"))
    print("%-34s %14d" % ("events found by the twin", events))
    n, ev, dt, mb = stream_24h()
    print("%-34s %11.0f MB %12s %10s" % ("24 h at 1 kHz via Stream, peak RSS", mb,
                                          "~%d MB" % AIM_STREAM_MB,
                                          "ok" if mb <= AIM_STREAM_MB else "OVER"))
    print("%-34s %11.1f s  (%d samples in chunks of 2**20, %d events, %.1f M samples/s)"
          % ("24 h at 1 kHz via Stream, time", dt, n, ev, n / dt / 1e6))


if __name__ == "__main__":
    sys.exit(main())
