"""`make demo`'s job end to end: virtual board, raw recording over the pty, summary, verify, and
the twitches found against the ones known to be in the bundled recording."""

from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.demo import run_demo, twitch_check


def test_demo_records_raw_and_the_host_reproduces_every_device_event(tmp_path):
    lines = []
    sm = run_demo(speed=10, db=tmp_path / "demo.db", echo=lines.append)
    text = "\n".join(lines)
    assert sm["raw_check"]["equal"] == sm["raw_check"]["compared"] > 50_000
    assert sm["verify"]["agree"] and sm["verify"]["problems"] == 0
    assert sm["verify"]["matched"] > 0
    assert "Link:" in text and "Dropped samples" in text and "see a doctor" in text
    # The board holds its samples until the raw stream starts: the device's detectors start at
    # sample 0, so the demo finds exactly what the twin finds on the whole recording, every run.
    from myotwitch import detect
    from myotwitch.demo import DEMO_RECORDING
    from myotwitch.recordings import load

    rec = load(DEMO_RECORDING)
    ev = detect.events_to_dicts(detect.detect(rec.samples[:, 0], rec.fs, flush=True), rec.fs)
    lost = sm["dropped_samples"] + sm["raw"]["gap_samples"]
    if lost:  # a stall of this machine lapped the board's ring or its pty: said, not hidden
        assert sm["warnings"] or sm["link"]["lost_frames"]
    else:
        assert sm["events"] == {k: sum(e["kind"] == k for e in ev) for k in detect.KIND_NAMES}
        assert sm["raw_check"]["compared"] == len(rec.samples) // 100 * 100  # whole frames
    tc = sm["twitch_check"]
    assert tc["known"] == 24 and tc["found"] >= 20 and tc["other"] <= 3, tc
    assert "Twitches: found %d of the 24 known" % tc["found"] in text


def test_demo_keeps_its_session_where_it_says(tmp_path):
    env = {"MYOTWITCH_DATA_DIR": str(tmp_path)}
    r = CliRunner().invoke(main, ["demo", "--speed", "20"], env=env)
    assert r.exit_code == 0, r.output
    db = tmp_path / "demo" / "myotwitch.db"
    assert "Kept in %s" % db in r.output and db.exists()
    r = CliRunner().invoke(main, ["--db", str(db), "sessions", "--json"], env=env)
    assert r.exit_code == 0 and '"notes": "myotwitch demo"' in r.output


def test_twitch_check_matches_one_claim_per_twitch():
    ev = [{"onset": o, "kind": k} for o, k in ((100, 0), (110, 0), (500, 1), (900, 2), (2000, 0))]
    assert twitch_check([105, 505, 905], ev, 1000) == {
        "known": 3, "found": 2, "other": 2, "tolerance_ms": 25}
