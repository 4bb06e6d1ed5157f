"""The numbers: exact intervals, hours of wear (and what is left out), trend, hour of day,
conditions and the forecast, on stores whose truth is known (bench/yearstore.py draws twitches
from a Poisson process with chosen effects)."""

import datetime as dt
import json
import time

import numpy as np
import pytest

from bench.yearstore import fill
from myotwitch import forecast as fc
from myotwitch import stats, wear
from myotwitch.notes import list_notes
from myotwitch.store import open_store
from myotwitch.summary import HEALTH_NOTE

FORBIDDEN = ("normal", "abnormal", "healthy", "ALS", "disease", "cause", "because", "due to",
             "trigger")


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "s.db")
    yield s
    s.close()


def test_exact_poisson_intervals():
    lo, hi = stats.poisson_ci(0, 1.0)
    assert lo == 0 and hi == pytest.approx(3.689, abs=1e-3)
    lo, hi = stats.poisson_ci(10, 2.0)
    assert (lo, hi) == (pytest.approx(4.795 / 2, abs=1e-3), pytest.approx(18.390 / 2, abs=1e-3))
    # over-dispersion 4: 40 events in 4 h are as uncertain as 10 in 1 h
    assert stats.poisson_ci(40, 4.0, phi=4) == pytest.approx(stats.poisson_ci(10, 1.0))


def test_rate_ratio_interval_covers_the_truth_95_percent_of_the_time():
    rng = np.random.default_rng(7)
    covered = 0
    n = 400
    for _ in range(n):
        a, b = rng.poisson(3.0 * 8), rng.poisson(1.5 * 20)  # true ratio 2
        rr, lo, hi = stats.rate_ratio_ci(a, 8, b, 20)
        covered += lo <= 2.0 <= hi
    assert 0.93 <= covered / n <= 0.99  # exact intervals are conservative, never too narrow
    rr, lo, hi = stats.rate_ratio_ci(0, 5, 10, 5)
    assert rr == 0 and lo == 0 and 0 < hi < 1


def _ms(day, hour):
    return int((dt.datetime.combine(day, dt.time()) + dt.timedelta(hours=hour)).astimezone()
               .timestamp() * 1000)


def test_wear_counts_only_time_worn_and_logging_and_says_what_it_left_out(store):
    day = dt.date(2026, 5, 4)
    dev = store.upsert_device("virtual", key="dev1", fs=1000)
    store.upsert_boot(dev, 1, 1000)
    store.set_boot_sync(dev, 1, _ms(day, 9), 0)
    sid = store.new_session(dev, started_at=_ms(day, 9) / 1000)
    store.add_session_boot(sid, dev, 1)
    store.note_samples(sid, 1, 0, 2 * 3_600_000)  # 09:00-11:00
    ev = [  # (seq, onset sample, duration, kind)
        (1, 600_000, 12, 0), (2, 1_200_000, 2000, 3),  # an artifact of 2 s
        (3, 1_300_000, 12, 0), (10, 5_400_000, 12, 0), (11, 5_500_000, 12, 0),
        (12, 8_000_000, 12, 0)]  # after the session's end: not worn time, not counted
    store.add_events(sid, dev, 1, [{"seq": s, "onset": o, "duration": d, "kind": k, "channel": 0,
                                    "peak": 50, "area": 100} for s, o, d, k in ev])
    store.add_status(sid, dev, 1, [{"uptime_s": 60, "sample_index": 60_000, "dropped": 0},
                                   {"uptime_s": 120, "sample_index": 120_000, "dropped": 500}])
    # records 4..9 are missing from the log: the time between seq 3 and 10 is unknown
    store.conn.execute("INSERT INTO log_gaps (device_id, from_seq, to_seq, kind, found_at) "
                       "VALUES (?, 4, 9, 'dropped', 0)", (dev,))
    # a second boot without a clock sync: its events cannot be placed
    store.upsert_boot(dev, 2, 1000)
    sid2 = store.new_session(dev)
    store.add_session_boot(sid2, dev, 2)
    store.note_samples(sid2, 2, 0, 3_600_000)
    store.add_events(sid2, dev, 2, [{"seq": 20, "onset": 5, "duration": 12, "kind": 0,
                                     "channel": 0, "peak": 50, "area": 100}])
    t = wear.build(store)
    gap_s = (5_400_000 - 1_300_000) / 1000 + 0.001
    expected = 7200 - 2.0 - 0.5 - gap_s
    assert t.exposure_s.sum() == pytest.approx(expected, abs=0.01)
    assert t.twitches.sum() == 2  # at 10 and 90 min; 1300 s sits at the gap's edge, 8000 s outside
    ex = t.excluded
    assert ex["artifact_seconds"] == pytest.approx(2.0) and ex["dropped_seconds"] == pytest.approx(0.5)
    assert ex["log_gap_records"] == 6 and ex["log_gap_seconds"] == pytest.approx(gap_s, abs=0.01)
    assert ex["unsynced_boots"] == 1 and ex["unsynced_twitches"] == 1
    assert ex["unsynced_seconds"] == pytest.approx(3600)
    assert set(t.hour_of_day) == {9, 10}
    lines = stats.excluded_lines(ex)
    assert any("without a clock sync" in x for x in lines)
    assert any("artifacts" in x for x in lines) and any("missing from the device's log" in x
                                                        for x in lines)
    # a range cuts the wear and the counts
    part = wear.build(store, since_ms=_ms(day, 9), until_ms=_ms(day, 9.5))
    # 09:00-09:30 less the artifact, the drop and the log gap from 09:21:40
    assert part.exposure_s.sum() == pytest.approx(1800 - 2 - 0.5 - 500, abs=0.01)
    assert part.twitches.sum() == 1


def test_days_and_hours_follow_the_local_clock_across_daylight_saving(store, monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        day = dt.date(2026, 3, 29)  # clocks go from 02:00 to 03:00
        dev = store.upsert_device("virtual", key="dst", fs=1000)
        store.upsert_boot(dev, 1, 1000)
        t0 = _ms(day, 0)
        store.set_boot_sync(dev, 1, t0, 0)
        sid = store.new_session(dev, started_at=t0 / 1000)
        store.add_session_boot(sid, dev, 1)
        store.note_samples(sid, 1, 0, 4 * 3_600_000)  # four real hours: 00:00 to 05:00 local
        store.add_events(sid, dev, 1, [{"seq": i, "onset": i * 900_000 + 1, "duration": 12,
                                        "kind": 0, "channel": 0, "peak": 5, "area": 5}
                                       for i in range(16)])
        t = wear.build(store)
        assert t.exposure_s.sum() == pytest.approx(4 * 3600)
        hours = np.bincount(t.hour_of_day, weights=t.exposure_s, minlength=24) / 3600
        assert list(np.flatnonzero(hours)) == [0, 1, 3, 4]  # no 02 o'clock that night
        assert t.twitches.sum() == 16 and set(wear.day_date(d) for d in t.day) == {day}
    finally:
        monkeypatch.undo()
        time.tzset()


def test_stats_find_what_was_put_in(store):
    truth = fill(store, days=42, events=9000, seed=11, caffeine_rr=2.0, sleep_rr=1.0,
                 trend_per_week=1.15, amplitude=0.5)
    t = wear.build(store)
    s = stats.compute(t, list_notes(store))
    json.dumps(s)  # machine output as it is
    # every twitch drawn counts, but those that fell under an artifact (no twitch can be seen)
    assert 0.995 * truth.twitches <= s["total"]["twitches"] <= truth.twitches
    assert s["trend"]["verdict"] == "rising"
    assert s["trend"]["low"] <= 1.15 <= s["trend"]["high"]
    caf = next(c for c in s["conditions"] if c["factor"] == "caffeine" and c["level"] == "3+ cups")
    assert caf["verdict"] == "higher" and caf["low"] > 1.0
    # the rest mixes 0-2 cups at rate 1, so the ratio is 2 only against them: it is near 2
    assert 1.4 <= caf["ratio"] <= 2.6
    assert any("after 3+ cups" in a and "caffeine" in a for a in s["advice"])
    assert not any("sleep" in a for a in s["advice"])  # sleep was given no effect
    run = next(c for c in s["conditions"] if c["factor"] == "tag")
    assert run["verdict"] in ("no clear difference", stats.NOT_ENOUGH)
    hod = s["hour_of_day"]
    assert hod["test"]["p"] < 0.001
    rates = {h["hour"]: h["rate"] for h in hod["hours"] if h["enough"]}
    assert rates[20] > 2 * rates[8]  # the profile peaks at 20:00, lowest at 08:00
    text = stats.format_stats(s)
    assert HEALTH_NOTE in text and "not causes" in text and "Poisson regression" in text
    for word in FORBIDDEN:
        assert word not in text.replace("not causes", "")


def test_no_effects_means_no_claims(store):
    fill(store, days=30, events=5000, seed=5, caffeine_rr=1.0, sleep_rr=1.0, amplitude=0.0)
    s = stats.compute(wear.build(store), list_notes(store))
    assert s["trend"]["verdict"] == "no clear change"
    claims = [c for c in s["conditions"] if c["verdict"] in ("higher", "lower")]
    assert len(claims) <= 1  # 12 comparisons at 95 %: at most a chance one
    assert not s["advice"] or len(s["advice"]) <= 1
    text = stats.format_stats(s)
    assert "Well-known factors" in text or "From your own figures" in text


def test_too_little_data_says_so(store):
    fill(store, days=2, events=300, seed=2)
    s = stats.compute(wear.build(store), list_notes(store), forecast=True)
    assert s["trend"]["verdict"] == stats.NOT_ENOUGH
    assert all(c["verdict"] == stats.NOT_ENOUGH for c in s["conditions"])
    assert s["forecast"]["verdict"] == stats.NOT_ENOUGH
    text = stats.format_stats(s)
    assert text.count(stats.NOT_ENOUGH) >= 3 and HEALTH_NOTE in text
    empty = stats.compute(wear.build(store, since_ms=0, until_ms=1), [])
    assert "No hours of wear" in stats.format_stats(empty)


def test_forecast_shows_itself_only_when_it_beats_a_flat_rate_on_held_out_days(store, tmp_path):
    fill(store, days=28, events=8000, seed=3, caffeine_rr=2.0, amplitude=0.6)
    t = wear.build(store)
    f = fc.forecast(t, list_notes(store), today=dt.date.today())
    assert f["verdict"] == "ok", f
    chk = f["check"]
    assert chk["gain"] > fc.LL_MARGIN and chk["held_out_days"] >= fc.MIN_HOLDOUT_DAYS
    cal = chk["calibration"]
    assert len(cal) == 4 and cal[0]["predicted_rate"] < cal[-1]["predicted_rate"]
    for c in cal:  # calibrated: observed within its interval, give or take bunching
        assert c["low"] * 0.8 <= c["predicted_rate"] <= c["high"] * 1.2
    hours = {h["hour"]: h for h in f["hours"]}
    assert set(hours) == set(range(8, 22))  # only hours ever worn
    assert hours[20]["rate"] > hours[9]["rate"] and hours[20]["low"] < hours[20]["rate"]
    assert set(f["assumed"]) <= {"caffeine", "sleep"}
    text = fc.format_forecast(f)
    assert "tomorrow" in text and "calibration" in text
    # no hour-of-day pattern, no effect: the model cannot beat the flat rate
    flat = open_store(tmp_path / "flat.db")
    fill(flat, days=28, events=6000, seed=4, caffeine_rr=1.0, sleep_rr=1.0, amplitude=0.0)
    g = fc.forecast(wear.build(flat), list_notes(flat))
    flat.close()
    assert g["verdict"] == stats.NOT_ENOUGH and "no better than your flat rate" in g["reason"]
    assert "calibration" in fc.format_forecast(g)
