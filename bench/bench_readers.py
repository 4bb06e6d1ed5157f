"""Readers on a day of samples: time and peak memory of reading a 24 h, 1 kHz recording as CSV
(a time column and one channel, 1.1 GB of text) and as EDF (173 MB), each in a fresh process.

    .venv/bin/python -m bench.bench_readers [HOURS]      (or via bench/run.py)

The readers stream (myotwitch.readers: CHUNK samples per channel, a BLOCK of CSV text at a
time), so peak memory must not grow with the file: the aim is <= 200 MB whatever its size. The
baseline is the same process importing everything and reading nothing. `replay` (the
detector's twin, detect.Stream, fed as the file is read) is measured on both files the same way. The files are made here
in a temporary folder (seeded noise with bursts) and removed afterwards.
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FS = 1000
AIM_MB = 200
ROWS = 1_000_000  # rows generated at a time

# VmHWM, not ru_maxrss: a child's ru_maxrss counts the parent's memory it was forked with
CHILD = r"""
import re, sys, time
import numpy as np
from myotwitch import readers
path, mode = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
n = total = 0
if mode == "replay":  # what `myotwitch replay FILE` does, the detector's events kept
    from myotwitch import replay as rp
    src = rp.open_source(path)
    res = rp.replay(src, [("defaults", None)])
    n, total = round(src.duration_s * src.runs[0].fs), len(res.events)
elif mode == "read":
    with readers.open_file(path) as rd:
        fs = rd.channels[0].fs
        for chunk in rd.chunks():
            n += len(chunk[0])
            total += int(chunk[0].astype(np.int64).sum())
hwm = int(re.search(r"VmHWM:\s*(\d+)", open("/proc/self/status").read()).group(1))
print("RESULT %d %d %.3f %d" % (n, total, time.perf_counter() - t0, hwm))
"""


def _samples(start, count, rng):
    x = rng.normal(0, 40, count)
    for at in rng.integers(0, count, max(1, count // 5000)):  # a burst every ~5 s
        x[at:at + 60] += rng.normal(0, 800, len(x[at:at + 60]))
    return np.clip(np.rint(x), -32768, 32767).astype(np.int16)


def make_files(tmp: Path, hours: float):
    """The same samples as CSV (time_ms,emg) and EDF (1 s records); returns paths and the
    samples' count and sum (to check what was read)."""
    import pyedflib

    n = int(hours * 3600 * FS)
    rng = np.random.default_rng(24)
    csv_path, edf_path = tmp / "day.csv", tmp / "day.edf"
    w = pyedflib.EdfWriter(str(edf_path), 1, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": "EMG", "dimension": "uV", "sample_frequency": FS,
                         "physical_max": 32767.0, "physical_min": -32768.0,
                         "digital_max": 32767, "digital_min": -32768, "transducer": "",
                         "prefilter": ""}])
    total = 0
    with open(csv_path, "w") as f:
        f.write("time_ms,emg\n")
        for start in range(0, n, ROWS):
            x = _samples(start, min(ROWS, n - start), rng)
            total += int(x.astype(np.int64).sum())
            f.write("".join(map("{},{}\n".format, range(start, start + len(x)), x.tolist())))
            w.writeSamples([x.astype(np.int32)], digital=True)
    w.close()
    return csv_path, edf_path, n, total


def measure(path, mode="read"):
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode],
                         capture_output=True, text=True, check=True)
    n, total, secs, kb = out.stdout.split("RESULT", 1)[1].split()
    return int(n), int(total), float(secs), int(kb) / 1024


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    hours = float(args[0]) if args else 24.0
    with tempfile.TemporaryDirectory(prefix="bench-readers-") as tmp:
        t0 = time.perf_counter()
        csv_path, edf_path, n, total = make_files(Path(tmp), hours)
        print("made %g h at %d Hz (%d samples): CSV %.0f MB, EDF %.0f MB in %.0f s"
              % (hours, FS, n, csv_path.stat().st_size / 1e6, edf_path.stat().st_size / 1e6,
                 time.perf_counter() - t0))
        _, _, _, base = measure(csv_path, "none")
        print("baseline (python, numpy and the readers imported, nothing read): peak RSS %.0f MB" % base)
        worst = 0.0
        for name, path in (("CSV", csv_path), ("EDF", edf_path)):
            got, s, secs, peak = measure(path)
            worst = max(worst, peak)
            ok = got == n and s == total
            print("%s: read %d samples in %.1f s (%.1f M samples/s), peak RSS %.0f MB (+%.0f MB "
                  "over the baseline)   aim <= %d MB: %s%s"
                  % (name, got, secs, got / secs / 1e6, peak, peak - base, AIM_MB,
                     "ok" if peak <= AIM_MB else "OVER", "" if ok else "   SAMPLES DIFFER"))
            if not ok:
                raise RuntimeError("%s: read %d samples (sum %d), wrote %d (sum %d)"
                                   % (name, got, s, n, total))
        events = {}
        for name, path in (("CSV", csv_path), ("EDF", edf_path)):
            got, events[name], secs, peak = measure(path, "replay")
            worst = max(worst, peak)
            print("replay %s (the detector at its defaults, the whole file): %d samples, %d "
                  "events in %.1f s, peak RSS %.0f MB   aim <= %d MB: %s"
                  % (name, got, events[name], secs, peak, AIM_MB,
                     "ok" if peak <= AIM_MB else "OVER"))
            if got != n:
                raise RuntimeError("replay %s saw %d samples, wrote %d" % (name, got, n))
        if events["CSV"] != events["EDF"]:
            raise RuntimeError("replay found %(CSV)d events in the CSV, %(EDF)d in the EDF" % events)
    if worst > AIM_MB:
        raise RuntimeError("reading took %.0f MB at its peak (aim %d MB)" % (worst, AIM_MB))


if __name__ == "__main__":
    main()
