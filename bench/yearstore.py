"""A synthetic store with a known truth: days of wear, twitches drawn from a Poisson process
whose rate follows the hour of day, the logged conditions and a trend, plus the other kinds of
event, and the wearer's notes. Used by the insight benchmark (a year) and by the tests (weeks),
which check that stats, forecast and report find what was put in.

    truth = fill(store, days=300, events=200_000, seed=1)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from myotwitch.notes import Note, add_note
from myotwitch.rawfile import RawWriter


@dataclass
class Truth:
    base_per_hour: float
    caffeine_rr: float  # rate after 3+ cups against fewer
    sleep_rr: float  # rate after under 6 h of sleep against more
    run_rr: float  # rate on days tagged #run (from 18:00) against the rest
    trend_per_week: float
    amplitude: float  # hour-of-day swing: rate x (1 + a sin(...)), peak at 20:00
    device_key: str
    days: int
    twitches: int = 0
    events: int = 0
    session_ids: list = field(default_factory=list)
    raw_session: int | None = None
    start: dt.date | None = None


def hour_profile(hour: np.ndarray, amplitude: float) -> np.ndarray:
    return 1 + amplitude * np.sin(2 * np.pi * (hour - 14) / 24)


def _local_ms(day: dt.date, hour: float) -> int:
    t = dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour)
    return int(t.astimezone().timestamp() * 1000)


def fill(store, days=300, events=200_000, seed=1, start=None, caffeine_rr=1.8, sleep_rr=1.4,
         run_rr=1.0, trend_per_week=1.0, amplitude=0.5, wear=(8.0, 22.0), channels=1,
         raw_minutes=0.0, other_share=0.05, device_key="a1b2c3d4e5f6") -> Truth:
    """Fill `store` with `days` days of wear (from wear[0] to wear[1] o'clock local, a boot and a
    session a day, 5 % of days skipped) and about `events` events, and return the truth."""
    rng = np.random.default_rng(seed)
    start = start or (dt.date.today() - dt.timedelta(days=days))
    hours_a_day = wear[1] - wear[0]
    # the base rate that gives about `events` in all: the effects' mean multipliers taken out
    hours = wear[0] + np.arange(int(hours_a_day * 60)) / 60.0
    mean = (hour_profile(hours, amplitude).mean() * (1 + 0.3 * (caffeine_rr - 1))
            * (1 + (1.5 / 4.5) * (sleep_rr - 1)) * np.mean(trend_per_week ** (np.arange(days) / 7))
            * (1 + 0.25 * np.mean(hours >= 18) * (run_rr - 1)))
    base = events * (1 - other_share) / (days * 0.95 * hours_a_day * mean)
    truth = Truth(base, caffeine_rr, sleep_rr, run_rr, trend_per_week, amplitude, device_key,
                  days, start=start)
    fs = 1000
    dev = store.upsert_device("virtual", key=device_key, fw_version="0.1.0", channels=channels,
                              fs=fs)
    seq = 0
    for d in range(days):
        day = start + dt.timedelta(days=d)
        if rng.random() < 0.05:
            continue
        boot = 0x10000 + d
        t0 = _local_ms(day, wear[0])
        t1 = _local_ms(day, wear[1])
        n_samples = (t1 - t0) * fs // 1000
        store.upsert_boot(dev, boot, fs, channels, seen_at=t0 / 1000)
        store.set_boot_sync(dev, boot, t0, 0, 20)
        sid = store.new_session(dev, started_at=t0 / 1000)
        store.add_session_boot(sid, dev, boot)
        store.note_samples(sid, boot, 0, n_samples)
        truth.session_ids.append(sid)

        cups = int(rng.choice([0, 1, 2, 3, 4], p=[0.2, 0.25, 0.25, 0.2, 0.1]))
        sleep = float(np.round(rng.uniform(4.5, 9.0), 1))
        run = rng.random() < 0.25
        add_note(store, Note(None, t0, factors={"caffeine": cups, "sleep": sleep}))
        if run:
            add_note(store, Note(None, _local_ms(day, 18.0), tags=["run"]))

        # twitches: an inhomogeneous Poisson process, drawn per minute
        minutes = np.arange(int(hours_a_day * 60))
        hour = wear[0] + minutes / 60.0
        rate = (base * hour_profile(hour, amplitude) * trend_per_week ** (d / 7.0)
                * (caffeine_rr if cups >= 3 else 1.0) * (sleep_rr if sleep < 6 else 1.0)
                * np.where(run & (hour >= 18), run_rr, 1.0))
        n = rng.poisson(rate / 60.0)
        onset_ms = np.repeat(minutes * 60_000, n) + rng.integers(0, 60_000, n.sum())
        kinds = np.zeros(len(onset_ms), dtype=int)
        durations = rng.integers(8, 25, len(onset_ms))
        n_other = rng.poisson(other_share * len(onset_ms) / (1 - other_share) + 1)
        other_t = rng.integers(0, int(hours_a_day * 3_600_000), n_other)
        other_k = rng.choice([1, 2, 3], n_other, p=[0.5, 0.3, 0.2])
        other_d = np.where(other_k == 3, rng.integers(500, 3000, n_other),
                           rng.integers(60, 900, n_other))
        onset_ms = np.concatenate([onset_ms, other_t])
        kinds = np.concatenate([kinds, other_k])
        durations = np.concatenate([durations, other_d])
        order = np.argsort(onset_ms, kind="stable")
        evs = []
        for i in order:
            evs.append({"seq": seq, "onset": int(onset_ms[i]), "duration": int(durations[i]),
                        "kind": int(kinds[i]), "channel": int(rng.integers(0, channels)),
                        "peak": int(rng.integers(40, 400)), "area": int(rng.integers(100, 2000)),
                        "received_at": t0 / 1000})
            seq += 1
        store.add_events(sid, dev, boot, evs)
        truth.twitches += int((kinds == 0).sum())
        truth.events += len(evs)
        store.end_session(sid, ended_at=t1 / 1000, end_reason="duration")
    if raw_minutes:
        truth.raw_session = _raw_session(store, dev, start + dt.timedelta(days=days), raw_minutes,
                                         channels, rng, seq)
    return truth


def twitch_shape(fs: int = 1000) -> np.ndarray:
    """A biphasic motor-unit-like potential of about 12 ms."""
    t = np.arange(int(0.012 * fs)) / fs
    return np.sin(2 * np.pi * t / 0.012) * np.exp(-((t - 0.004) / 0.004) ** 2)


def _raw_session(store, dev, day, minutes, channels, rng, seq) -> int:
    """A short session with raw samples: noise with twitch potentials at the events' onsets."""
    fs = 1000
    t0 = _local_ms(day, 7.0)
    n = int(minutes * 60 * fs)
    boot = 0x20000
    store.upsert_boot(dev, boot, fs, channels)
    store.set_boot_sync(dev, boot, t0, 0, 20)
    sid = store.new_session(dev, started_at=t0 / 1000, raw=True, channels=range(channels), fs=fs,
                            notes="caffeine=1 #raw-demo morning check")
    store.add_session_boot(sid, dev, boot)
    store.note_samples(sid, boot, 0, n)
    data = rng.normal(0, 8, (n, channels))
    shape = twitch_shape(fs)
    onsets = np.sort(rng.choice(np.arange(fs, n - fs), max(3, int(minutes * 2)), replace=False))
    evs = []
    for i, o in enumerate(onsets):
        ch = int(i % channels)
        amp = rng.uniform(60, 250)
        data[o:o + len(shape), ch] += amp * shape
        evs.append({"seq": seq + i, "onset": int(o), "duration": len(shape), "kind": 0,
                    "channel": ch, "peak": int(amp), "area": int(amp * 5)})
    burst = n // 2
    data[burst:burst + 400, 0] += rng.normal(0, 120, 400)
    evs.append({"seq": seq + len(onsets), "onset": burst, "duration": 400, "kind": 1, "channel": 0,
                "peak": 300, "area": 9000})
    store.raw_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # health data: owner-only
    w = RawWriter(store.raw_path(sid), list(range(channels)), fs)
    w.begin_boot(boot, fs)
    counts = np.clip(np.rint(data), -32768, 32767).astype(np.int16)
    for lo in range(0, n, 100):  # frames as the device sends them, channel by channel
        for ch in range(channels):
            w.add(ch, lo, counts[lo:lo + 100, ch], boot)
    w.close()
    store.add_events(sid, dev, boot, evs)
    store.end_session(sid, ended_at=t0 / 1000 + minutes * 60, end_reason="duration")
    return sid

