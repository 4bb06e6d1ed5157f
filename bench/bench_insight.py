"""What the wearer sees, at the scale of a year: `stats` and `report` on a synthetic year of
events (300 days, 200,000 events, with notes), their time and peak memory; export throughput
(events per second, raw megabytes per second) for CSV, Parquet and EDF+.

    .venv/bin/python -m bench.run insight

The year comes from bench/yearstore.py (twitches from a Poisson process with a daily cycle, a
caffeine effect and a short-sleep effect; 5 % of days not worn). Peak memory is the largest
Python/NumPy heap during the step (tracemalloc), measured in a second run so it does not slow
the timed one. The hard case is the heaviest one: the whole year at once, no --since.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

DAYS = 300
EVENTS = 200_000
RAW_HOURS = 1.0
RAW_CHANNELS = 2


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _peak(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _raw_session(store, hours, channels):
    """A long session with raw samples (noise), for the raw export throughput."""
    from myotwitch.rawfile import RawWriter

    fs = 1000
    dev = store.upsert_device("virtual", key="rawbench", fs=fs, channels=channels)
    store.upsert_boot(dev, 0x30000, fs, channels)
    t0 = int(time.time() * 1000) - 86_400_000
    store.set_boot_sync(dev, 0x30000, t0, 0)
    sid = store.new_session(dev, started_at=t0 / 1000, raw=True, channels=range(channels), fs=fs)
    store.add_session_boot(sid, dev, 0x30000)
    n = int(hours * 3600 * fs)
    store.note_samples(sid, 0x30000, 0, n)
    store.raw_dir.mkdir(parents=True, exist_ok=True)
    w = RawWriter(store.raw_path(sid), list(range(channels)), fs)
    rng = np.random.default_rng(0)
    block = 60_000
    for lo in range(0, n, block):
        for ch in range(channels):
            w.add(ch, lo, rng.normal(0, 12, min(block, n - lo)).astype(np.int16), 0x30000)
    w.close()
    store.end_session(sid, ended_at=t0 / 1000 + hours * 3600)
    return sid


def main():
    from bench.yearstore import fill
    from myotwitch import export, report, stats, wear
    from myotwitch.notes import list_notes
    from myotwitch.store import open_store

    tmp = Path(tempfile.mkdtemp(prefix="myotwitch-bench-insight-"))
    try:
        store = open_store(tmp / "year.db")
        truth, secs = _timed(lambda: fill(store, days=DAYS, events=EVENTS, seed=1, raw_minutes=5))
        print("synthetic year: %d days, %d events (%d twitches), %d sessions, filled in %.1f s"
              % (DAYS, truth.events, truth.twitches, len(truth.session_ids), secs))

        def run_stats():
            t = wear.build(store)
            return stats.compute(t, list_notes(store), forecast=True)

        s, secs_stats = _timed(run_stats)
        peak_stats = _peak(run_stats)
        print("stats --forecast on the year: %.2f s, peak memory %.1f MB (%.0f h of wear, "
              "forecast: %s)" % (secs_stats, peak_stats / 1e6, s["total"]["wear_hours"],
                                 s["forecast"]["verdict"]))
        html, secs_report = _timed(lambda: report.build_report(store))
        peak_report = _peak(lambda: report.build_report(store))
        print("report on the year: %.2f s, peak memory %.1f MB, %.0f KB of HTML"
              % (secs_report, peak_report / 1e6, len(html.encode()) / 1024))

        # export throughput: the year's events, and an hour of raw samples on its own
        for fmt in ("csv", "parquet"):
            res, sec = _timed(lambda: export.export(store, fmt, tmp / ("ev-" + fmt)))
            print("export %-7s events: %d in %.2f s = %.0f events/s (and %d raw samples)"
                  % (fmt, res.events, sec, res.events / sec, res.samples))
        raw_store = open_store(tmp / "raw.db")
        _raw_session(raw_store, RAW_HOURS, RAW_CHANNELS)
        for fmt in export.FORMATS:
            res, sec = _timed(lambda: export.export(raw_store, fmt, tmp / ("raw-" + fmt)))
            size = sum(p.stat().st_size for p in (tmp / ("raw-" + fmt)).rglob("*") if p.is_file())
            print("export %-7s raw: %.1f MB of int16 samples (%.0f h x %d ch at 1 kHz) in %.2f s "
                  "= %.1f MB/s, %.1f MB written" % (fmt, res.raw_bytes / 1e6, RAW_HOURS,
                                                   RAW_CHANNELS, sec, res.raw_bytes / 1e6 / sec,
                                                   size / 1e6))
        raw_store.close()
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
