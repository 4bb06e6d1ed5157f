"""Exports read back by the tools they are for: CSV by the csv module, Parquet by DuckDB (as a
study would query it, partitions and all), EDF+ by pyedflib (signals and annotations)."""

import csv
import datetime as dt

import numpy as np
import pytest

from bench.yearstore import fill
from myotwitch import export as ex
from myotwitch.rawfile import RawWriter, load_raw
from myotwitch.store import open_store

duckdb = pytest.importorskip("duckdb", reason="duckdb comes with the test extra")
pyedflib = pytest.importorskip("pyedflib")


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    d = tmp_path_factory.mktemp("export")
    s = open_store(d / "s.db")
    truth = fill(s, days=6, events=2500, seed=2, raw_minutes=1.5, channels=2)
    gap_sid = _session_with_a_lost_frame(s)
    yield s, truth, gap_sid, d
    s.close()


def _session_with_a_lost_frame(s):
    dev = s.upsert_device("virtual", key="gapdev", fs=500, channels=1)
    s.upsert_boot(dev, 77, 500)
    t0 = int(dt.datetime(2026, 6, 1, 23, 59, 50).astimezone().timestamp() * 1000)
    s.set_boot_sync(dev, 77, t0, 1000)
    sid = s.new_session(dev, started_at=t0 / 1000, raw=True, channels=[0], fs=500,
                        notes="#across-midnight")
    s.add_session_boot(sid, dev, 77)
    s.raw_dir.mkdir(parents=True, exist_ok=True)
    w = RawWriter(s.raw_path(sid), [0], 500)
    for lo in range(1000, 1000 + 20 * 500, 50):  # 20 s at 500 Hz, across local midnight
        if lo != 3000:  # one frame of 50 samples lost
            w.add(0, lo, np.arange(lo, lo + 50) % 1000 - 500, boot_id=77)
    w.close()
    s.add_events(sid, dev, 77, [{"seq": 1, "onset": 2000, "duration": 6, "kind": 0, "channel": 0,
                                 "peak": 90, "area": 200},
                                {"seq": 2, "onset": 9000, "duration": 300, "kind": 2,
                                 "channel": 0, "peak": 400, "area": 9000}])
    s.add_marks(sid, dev, 77, [{"seq": 3, "sample_index": 5000, "source": 0}])
    s.end_session(sid, ended_at=t0 / 1000 + 20)
    return sid


def test_csv(filled, tmp_path):
    s, truth, gap_sid, d = filled
    r = ex.export(s, "csv", tmp_path / "out")
    with open(tmp_path / "out" / "events.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == r.events == s.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    assert r.events > truth.events
    assert {x["kind"] for x in rows} == {"twitch", "burst", "contraction", "artifact"}
    with open(tmp_path / "out" / "notes.csv") as f:
        notes = list(csv.DictReader(f))
    assert any(n["tags"] == "raw-demo" and n["caffeine"] == "1.0" for n in notes)
    with open(tmp_path / "out" / "samples" / ("session_%d.csv" % gap_sid)) as f:
        samples = list(csv.DictReader(f))
    assert len(samples) == 20 * 500
    lost = [x for x in samples if x["ch0"] == ""]
    assert [int(x["sample_index"]) for x in lost] == list(range(3000, 3050))
    first = samples[0]
    assert first["sample_index"] == "1000" and first["ch0"] == "-500" and first["boot_id"] == "0000004d"
    raw = load_raw(s.raw_path(truth.raw_session))
    with open(tmp_path / "out" / "samples" / ("session_%d.csv" % truth.raw_session)) as f:
        got = np.array([[int(x["ch0"]), int(x["ch1"])] for x in csv.DictReader(f)])
    assert np.array_equal(got, raw.segments[0].data)
    with pytest.raises(ex.ExportError, match="not an empty directory"):
        ex.export(s, "csv", tmp_path / "out")


def test_parquet_partitioned_for_duckdb(filled, tmp_path):
    s, truth, gap_sid, d = filled
    out = tmp_path / "pq"
    r = ex.export(s, "parquet", out)
    assert r.events == s.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    got = duckdb.sql(
        "SELECT device, CAST(date AS VARCHAR) AS day, count(*) FILTER (WHERE kind = 'twitch') "
        "FROM read_parquet('%s/events/*/*/*.parquet', hive_partitioning = true) GROUP BY ALL "
        "ORDER BY ALL" % out).fetchall()
    want = s.conn.execute(
        "SELECT d.key, date(e.onset_unix_ms / 1000, 'unixepoch', 'localtime'), sum(e.kind = 0) "
        "FROM events e JOIN devices d ON d.id = e.device_id GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    assert got == [tuple(x) for x in want]
    assert {p.name.split("=")[0] for p in (out / "events").iterdir()} == {"device"}
    # the session across midnight: its samples split over two days, the lost frame has no rows
    days = duckdb.sql(
        "SELECT CAST(date AS VARCHAR), count(*), min(sample_index), max(sample_index) FROM "
        "read_parquet('%s/samples/*/*/*.parquet', hive_partitioning = true) WHERE session_id = %d "
        "GROUP BY ALL ORDER BY 1" % (out, gap_sid)).fetchall()
    assert [x[0] for x in days] == ["2026-06-01", "2026-06-02"]
    assert sum(x[1] for x in days) == 20 * 500 - 50 and days[0][2] == 1000
    t = duckdb.sql("SELECT value, unix_ms FROM read_parquet('%s/samples/*/*/*.parquet', "
                   "hive_partitioning = true) WHERE session_id = %d AND sample_index = 1001"
                   % (out, gap_sid)).fetchall()[0]
    clock = s.clock(s.session(gap_sid)["device_id"], 77)
    assert t == (1001 % 1000 - 500, clock(1001))
    n = duckdb.sql("SELECT count(*) FROM read_parquet('%s/notes.parquet') WHERE list_contains("
                   "tags, 'across-midnight')" % out).fetchall()[0][0]
    assert n == 1


def test_edf_plus_read_back_with_pyedflib(filled, tmp_path):
    s, truth, gap_sid, d = filled
    out = tmp_path / "edf"
    r = ex.export(s, "edf", out)
    assert len(r.files) == 2
    assert r.skipped == ["%d session(s) without raw samples, so no signal for EDF (their events "
                         "are in the csv and parquet exports): 1-%d" % (len(truth.session_ids),
                                                                       len(truth.session_ids))]
    f = pyedflib.EdfReader(str(out / ("session_%d.edf" % truth.raw_session)))
    try:
        raw = load_raw(s.raw_path(truth.raw_session))
        assert f.signals_in_file == 2 and f.getSampleFrequency(0) == 1000
        for c in range(2):
            got = f.readSignal(c, digital=True)
            assert np.array_equal(got[:raw.samples], raw.segments[0].data[:, c])
        onsets, durations, texts = f.readAnnotations()
        twitches = [(o, t) for o, t in zip(onsets, texts) if t.startswith("twitch")]
        want = s.conn.execute("SELECT onset, channel, peak FROM events WHERE session_id=? AND "
                              "kind=0 ORDER BY onset", (truth.raw_session,)).fetchall()
        assert len(twitches) == len(want)
        for (o, t), w in zip(twitches, want):
            assert o == pytest.approx(w["onset"] / 1000, abs=1e-3)
            assert t == "twitch ch%d peak %d" % (w["channel"], w["peak"])
        assert any(t.startswith("burst") for t in texts) and any("note" in t for t in texts)
        start = f.getStartdatetime()
        assert start == dt.datetime.fromtimestamp(
            s.clock(s.session(truth.raw_session)["device_id"], 0x20000)(0) / 1000)
    finally:
        f.close()
    g = pyedflib.EdfReader(str(out / ("session_%d.edf" % gap_sid)))
    try:
        assert g.getSampleFrequency(0) == 500
        on, du, tx = g.readAnnotations()
        gap = [(o, u) for o, u, t in zip(on, du, tx) if t.startswith("no data")]
        assert gap == [(pytest.approx(4.0), pytest.approx(0.1))]
        assert "mark (button)" in list(tx) and "contraction ch0 peak 400" in list(tx)
        assert np.array_equal(g.readSignal(0, digital=True)[:10], np.arange(1000, 1010) % 1000 - 500)
    finally:
        g.close()


def test_a_range_trims_everything(filled, tmp_path):
    s, truth, gap_sid, d = filled
    t0 = s.clock(s.session(gap_sid)["device_id"], 77)(1000)
    r = ex.export(s, "csv", tmp_path / "part", since_ms=t0 + 2000, until_ms=t0 + 12000)
    with open(tmp_path / "part" / "samples" / ("session_%d.csv" % gap_sid)) as f:
        samples = list(csv.DictReader(f))
    assert len(samples) == 10 * 500 and samples[0]["sample_index"] == "2000"
    assert r.events == 1  # the twitch at 2 s; the contraction at 16 s is outside
    assert not (tmp_path / "part" / "samples" / ("session_%d.csv" % truth.raw_session)).exists()
