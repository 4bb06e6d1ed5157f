"""`myotwitch verify` and `replay`: the real firmware on the virtual board records a session with
raw samples, the NumPy twin re-runs detection on them, and the two must agree exactly."""

import json
import sqlite3
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from myotwitch import detect
from myotwitch.cli import main
from myotwitch.demo import stop_when_board_ends
from myotwitch.link import Device
from myotwitch.readers import read_file
from myotwitch.record import record_session
from myotwitch.recordings import load, load_default
from myotwitch.sim import SimBoard
from myotwitch.store import open_store
from myotwitch.verify import format_verification, verify_session


def _record_until_the_recording_ends(tmp_path, **board_kw):
    db = tmp_path / "s.db"
    # Speed 2: the board's 512-sample ring then spans 250 ms of host time. At speed 5 (100 ms)
    # a stall of the virtual board's process of about 0.2 s, seen late in the full suite on two
    # cores (2 of 10 runs), lapped the ring: samples dropped (counted), and verify rightly set
    # the events after the gap aside, so too few were left to compare.
    with SimBoard(speed=2, once=True, flash=tmp_path / "f.img", **board_kw) as board, \
            Device.open(board.port) as dev, open_store(db) as store:
        stop = stop_when_board_ends(board)
        result = record_session(dev, store, duration=60, raw=True, stop=stop)
    assert result.link_stats["lost_frames"] == 0
    return db, result


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """One session of the bundled bursts recording through the virtual board, kept pristine."""
    return _record_until_the_recording_ends(tmp_path_factory.mktemp("rec"))


def _copy(db, tmp_path):
    import shutil

    dst = tmp_path / "copy"
    shutil.copytree(db.parent, dst)
    return dst / db.name


def _verify(db, *args):
    return CliRunner().invoke(main, ["verify", "--db", str(db), *map(str, args)])


def test_recorded_session_verifies_with_zero_differences(recorded):
    db, result = recorded
    with open_store(db) as store:
        v = verify_session(store, result.session_id)
        stored = store.session_boots(result.session_id)[0]["detector_config"]
    assert json.loads(stored) == {k: v for k, v in detect.DEFAULTS.items()}
    table = "\n".join(format_verification(v, all_rows=True)) + "\n%s" % result
    assert v.count("matched") >= 5 and v.problems == 0 and v.agree, table
    r = _verify(db, result.session_id)
    assert r.exit_code == 0, r.output
    assert "AGREE" in r.output and "differing 0  missing 0  extra 0" in r.output


def test_tampered_session_is_caught(recorded, tmp_path):
    db, result = recorded
    db = _copy(db, tmp_path)
    sid = result.session_id
    con = sqlite3.connect(db)
    rows = con.execute("SELECT id, onset, boot_id, device_id FROM events WHERE session_id=? "
                       "ORDER BY onset", (sid,)).fetchall()
    assert len(rows) >= 4
    con.execute("UPDATE events SET peak = peak + 1 WHERE id=?", (rows[1][0],))
    con.execute("DELETE FROM events WHERE id=?", (rows[2][0],))
    # a made-up twitch between two real events, well inside the raw samples
    con.execute("INSERT INTO events (device_id, boot_id, seq, session_id, onset, duration, kind, "
                "channel, peak, area) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (rows[0][3], rows[0][2], 999999, sid, rows[0][1] + 7, 9, 0, 0, 120, 40))
    con.commit()
    con.close()
    r = _verify(db, sid)
    assert r.exit_code == 1, r.output
    assert "differing 1  missing 1  extra 1" in r.output
    assert "DIFFER: 3 event(s) differ" in r.output
    lines = r.output.splitlines()
    assert any(" differing " in ln and ln.count("/") == 2 and "peak" in ln for ln in lines)
    rows = [ln for ln in lines if ln[:9].endswith(" ") and ln[:8].isalnum()]  # table rows
    assert rows and all(len(ln) <= 80 for ln in rows)
    r = _verify(db, sid, "--json")
    v = json.loads(r.output)
    assert r.exit_code == 1 and v["agree"] is False and v["counts"]["differing"] == 1
    assert {p["status"] for p in v["pairs"]} >= {"differing", "missing", "extra"}


def test_verify_refuses_a_session_without_raw_samples(tmp_path):
    r = CliRunner().invoke(main, ["verify", "--db", str(tmp_path / "e.db"), "3"])
    assert r.exit_code == 2 and "no sessions yet" in r.output  # nothing to compare: not a finding
    assert not (tmp_path / "e.db").exists()


def test_a_reboot_is_verified_boot_by_boot(tmp_path):
    db = tmp_path / "s.db"
    with SimBoard(speed=10, flash=tmp_path / "f.img") as board, \
            Device.open(board.port) as dev, open_store(db) as store:
        stop = threading.Event()

        def power_cut_then_more():  # timed after the reboot completes, not by the clock alone
            time.sleep(2.0)
            try:
                board.reboot()
                time.sleep(3.0)
            finally:
                stop.set()

        threading.Thread(target=power_cut_then_more, daemon=True).start()
        result = record_session(dev, store, duration=60, raw=True, stop=stop)
    assert len(result.boots) == 2
    r = _verify(db, result.session_id, "--all")
    assert r.exit_code == 0, r.output
    for boot in result.boots:
        assert "boot %08x: raw samples" % boot in r.output
    # the first boot's raw stream ends at the power cut: what the device decided on samples it
    # never streamed is set aside, not counted as a difference
    assert "AGREE" in r.output


def test_replay_prints_the_same_events_as_the_twin(tmp_path):
    rec = load_default()
    want = detect.events_to_dicts(detect.detect(rec.samples[:, 0], rec.fs), rec.fs)
    p = tmp_path / "r.npy"
    np.save(p, rec.samples[:, 0])
    r = CliRunner().invoke(main, ["replay", str(p), "--fs", "1000", "--json"])
    assert r.exit_code == 0, r.output
    got = [json.loads(ln) for ln in r.output.splitlines()]
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        for k in ("onset_s", "offset_s", "duration_ms", "kind", "peak", "channel"):
            assert g[k] == w[k]
    r = CliRunner().invoke(main, ["replay", rec.name, "--channel", "emg"])
    assert r.exit_code == 0, r.output
    assert r.output.splitlines()[-1].startswith("%d events in %.1f s of 1 channel(s)"
                                                % (len(want), rec.duration_s))


def test_replay_of_a_file_streams_it_and_finds_what_the_whole_finds(tmp_path):
    """A file is replayed as it is read (bounded memory; bench_readers measures a day): over
    several of the reader's chunks, two channels and two settings, the events are those of the
    detector on each whole channel."""
    from myotwitch import readers
    from myotwitch import replay as rp

    rec = load_default()
    x = np.tile(rec.samples[:, 0], 1 + 2 * readers.CHUNK // len(rec.samples))
    two = np.stack([x, -x], axis=1)
    p = tmp_path / "long.npy"
    np.save(p, two)
    src = rp.open_source(str(p), fs=rec.fs)
    assert src.path == p and all(run.samples is None for run in src.runs)
    strict = {"det_thresh": 80}
    res = rp.replay(src, [("defaults", None), ("strict", strict)])
    assert src.duration_s == pytest.approx(len(x) / rec.fs)
    for label, params in (("defaults", None), ("strict", strict)):
        for ch in (0, 1):
            want = detect.events_to_dicts(detect.detect(two[:, ch], rec.fs, params, channel=ch,
                                                        flush=True), rec.fs)
            got = [{k: v for k, v in e.items() if k in want[0]} for e in res.events
                   if e["settings"] == label and e["channel"] == ch]
            assert got == want and len(want) > 10


def test_replay_config_is_checked_against_the_firmware_ranges(tmp_path):
    cfg = tmp_path / "c.json"
    runner = CliRunner()
    for text, msg in (('{"det_nope": 3}', "unknown key 'det_nope'"),
                      ('{"det_thresh": 5}', "det_thresh must be 16..1023"),
                      ('{"det_thresh": "high"}', "det_thresh takes an integer"),
                      ("[1, 2]", "expected a JSON object"),
                      ("{oops", "not valid JSON")):
        cfg.write_text(text)
        r = runner.invoke(main, ["replay", "biosppy_emg_bursts", "--config", str(cfg)])
        assert r.exit_code == 2 and msg in r.output, (text, r.output)
    cfg.write_text('{"det_thresh": 1000}')
    r = runner.invoke(main, ["replay", "biosppy_emg_bursts", "--config", str(cfg)])
    assert r.exit_code == 0 and "det_thresh=1000" in r.output


def test_replay_errors_name_the_problem(tmp_path):
    runner = CliRunner()
    p = tmp_path / "x.csv"
    p.write_text("1\n2\n")
    r = runner.invoke(main, ["replay", str(p)])
    assert r.exit_code == 2 and "give --fs" in r.output
    r = runner.invoke(main, ["replay", "biosppy_emg_bursts", "--channel", "7"])
    assert r.exit_code == 2 and "no channel '7'" in r.output
    r = runner.invoke(main, ["replay", "no_such_recording"])
    assert r.exit_code == 2 and "not a bundled recording" in r.output
    assert len(read_file(p, fs=1000)[0].samples) == 2


def _made_session(tmp_path, gap=None, config=True, before=True):
    """A session as `record --raw` leaves it, built from the bundled recording: raw frames of 100
    samples from index 500 (minus the frames in `gap`), and the events the device would send."""
    from myotwitch.rawfile import RawWriter

    x = load("biosppy_emg_bursts").samples[:, 0]  # bursts: events that last, next to a gap
    first = 500
    store = open_store(tmp_path / "m.db")
    dev = store.upsert_device("virtual", key="made")
    store.upsert_boot(dev, 7, 1000)
    sid = store.new_session(dev, raw=True, channels=[0], fs=1000)
    store.add_session_boot(sid, dev, 7)
    if config:
        store.set_detector_config(sid, 7, dict(detect.DEFAULTS))
    store.raw_dir.mkdir(exist_ok=True)
    w = RawWriter(store.raw_path(sid), [0], 1000)
    w.begin_boot(7)
    for i in range(first, 40000, 100):
        if gap is None or not gap[0] <= i < gap[1]:
            w.add(0, i, x[i:i + 100], 7)
    w.close()
    ev = detect.events_to_dicts(detect.detect(x[first:], 1000, first_index=first), 1000)
    if before:  # sent before the raw stream started
        ev.insert(0, {"onset": 100, "duration": 9, "kind": "twitch", "peak": 50, "area": 20, "channel": 0})
    store.add_events(sid, dev, 7, [dict(e, seq=n, kind=detect.KIND_NAMES.index(e["kind"]))
                                   for n, e in enumerate(ev)])
    return store, sid, len(ev)


def test_events_outside_the_raw_samples_are_set_aside_not_counted(tmp_path):
    store, sid, n = _made_session(tmp_path, gap=(20000, 20300))
    with store:
        v = verify_session(store, sid)
    assert v.count("before raw data") == 1
    assert v.count("raw gap") > 0 and v.count("beyond raw data") > 0
    # The recording holds six events in these 40 s (its bursts); those ending within the
    # detector's settle window (heartbeat hold-back: ~3.7 s) of the gap count as "raw gap".
    assert v.count("matched") >= 2 and v.problems == 0 and v.agree
    assert sum(v.count(s) for s in ("matched", "before raw data", "raw gap", "beyond raw data")) == n
    # (none ends more than the settle window before the gap: the re-run up to it settles them)
    settle = detect.settle_samples(detect.DEFAULTS, 1000)
    assert all(p.onset + p.device["duration"] + settle > 20000
               for p in v.pairs if p.status == "raw gap")
    r = _verify(tmp_path / "m.db", sid)
    assert r.exit_code == 0 and "raw gap" in r.output and "AGREE" in r.output


def test_a_session_without_recorded_settings_is_not_called_verified(tmp_path):
    store, sid, _ = _made_session(tmp_path, config=False, before=False)
    store.close()
    r = _verify(tmp_path / "m.db", sid)
    assert r.exit_code == 1
    assert "NOT recorded with the session" in r.output and "UNVERIFIED" in r.output


def test_replay_of_a_session_and_of_its_raw_file(recorded, tmp_path):
    """People tune the detector on their own recordings: `replay SESSION` runs with the settings
    the device used and finds what the device sent; the raw file replays the same; --compare
    with --config shows two settings side by side; nothing in the store changes."""
    db, result = recorded
    db = _copy(db, tmp_path)
    before = db.read_bytes()
    with open_store(db) as store:
        sent = {(e["onset"], e["kind"], e["duration"]) for e in store.events(result.session_id)}
        raw = store.raw_path(result.session_id)
    runner = CliRunner()
    r = runner.invoke(main, ["replay", str(result.session_id), "--db", str(db), "--json"])
    assert r.exit_code == 0, r.output
    found = [json.loads(x) for x in r.output.splitlines()]
    assert found and all(e["settings"] == "recorded" and "boot_id" in e for e in found)
    again = {(e["onset"], detect.KIND_NAMES.index(e["kind"]), e["duration"]) for e in found}
    assert len(sent & again) >= 0.8 * len(sent)  # the device's own events, in its sample time
    r = runner.invoke(main, ["replay", str(raw), "--json"])
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["onset"] for x in r.output.splitlines()] == [e["onset"] for e in found]
    cfg = tmp_path / "low.json"
    cfg.write_text('{"det_thresh": 48}')
    r = runner.invoke(main, ["--db", str(db), "replay", str(result.session_id), "--compare",
                             "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "recorded" in r.output and "low.json" in r.output and "differ between the 2" in r.output
    assert db.read_bytes() == before
    r = runner.invoke(main, ["--db", str(db), "replay", "99"])
    assert r.exit_code == 2 and "no session 99" in r.output
