"""Monitor: the numbers it shows (pure), and its rich rendering."""

from rich.console import Console

from myotwitch.link import HelloInfo, LinkStats
from myotwitch.monitor import MonitorState, render, text_line
from myotwitch.protocol import myoproto as mp

HELLO = HelloInfo(fw_version="1.0", build_hash="00" * 8, proto=1, board="virtual", channels=1, fs=1000,
                  config_hash=1, boot_id=0xABCD)


def event(seq, onset, kind=mp.KIND_TWITCH):
    return mp.Message(mp.EVENT, seq, {"onset": onset, "duration": 13, "kind": kind, "channel": 0,
                                      "peak": 400, "area": 1000, "dkc": 0})


def status(idx, dropped=0, noise=(17,)):
    return mp.Message(mp.STATUS, 1, {"uptime_s": idx // 1000, "sample_index": idx, "battery_mv": 0,
                                     "dropped": dropped, "log_fill": 0, "cpu_load": 0, "noise": list(noise)})


def test_rate_over_the_last_minute_of_device_time():
    st = MonitorState(HELLO)
    st.update(status(0))
    for k in range(10):  # 10 twitches in the first 30 s
        st.update(event(k, 3000 * k))
    st.update(event(99, 29_000, kind=mp.KIND_ARTIFACT))
    st.update(status(30_000, dropped=4, noise=(21,)))
    assert st.twitches_per_min() == 20.0  # 10 in 30 s
    assert st.counts == {"twitch": 10, "burst": 0, "contraction": 0, "artifact": 1}
    assert st.noise == [21] and st.dropped == 4
    st.update(status(120_000))  # two minutes later: nothing in the last minute
    assert st.twitches_per_min() == 0.0
    assert len(st.recent) == 10 and st.recent[0][0] == 99


def test_reboot_resets_the_time_base():
    st = MonitorState(HELLO)
    st.update(status(50_000))
    hello = mp.Message(mp.HELLO, 0, dict(ref=mp.UNSOLICITED, proto=1, fw_version="1.0", build_hash=b"\0" * 8,
                                         board="virtual", channels=1, fs=500, config_hash=1, boot_id=7))
    st.update(hello)
    assert st.reboots == 1 and st.fs == 500 and st.last_index is None
    assert "restarted" in text_line(st, hello)


def test_text_lines_and_render():
    st = MonitorState(HELLO)
    line = text_line(st, event(5, 2500))
    assert line.startswith("event") and "twitch" in line and "2.500 s" in line and "13.0 ms" in line
    st.update(event(5, 2500))
    assert "noise 17" in text_line(st, status(3000))
    assert text_line(st, mp.Message(mp.SAMPLES, 1, {"first_index": 0, "channel": 0, "samples": []})) is None
    console = Console(record=True, width=120)
    console.print(render(st, LinkStats(frames=12, lost_frames=1, crc_errors=2)))
    out = console.export_text()
    for word in ("twitches/min", "noise floor", "dropped samples", "lost (seq gaps)", "CRC errors",
                 "recent events", "virtual"):
        assert word in out


def test_live_view_fits_80_columns_and_says_device_time_like_the_events():
    st = MonitorState(HELLO)
    st.update(status(54_000))
    st.update(event(7, 79_387))
    console = Console(record=True, width=80)
    console.print(render(st, LinkStats(frames=12)))
    out = console.export_text()
    assert all(len(line.rstrip()) <= 80 for line in out.splitlines())
    for word in ("twitches/min", "contraction", "artifact", "dropped samples", "noise floor"):
        assert word in out  # whole labels, none cut to "twitc…"
    assert "…" not in out
    # the clock is the device's, as in the events' "at" column: 79 s, not the 25 s watched
    assert "device clock 79 s (watched 25 s)" in out and "79.387" in out


def test_escape_sequences_from_the_device_do_not_reach_the_terminal():
    from myotwitch.monitor import message_json

    hostile = HelloInfo(fw_version="1.0\x1b[2J", build_hash="00" * 8, proto=1,
                        board="\x1b]0;owned\x07calf", channels=1, fs=1000, config_hash=1, boot_id=1)
    st = MonitorState(hostile)
    console = Console(record=True, width=80)
    console.print(render(st, LinkStats()))
    out = console.export_text()
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;owned\\x07calf" in out
    assert message_json(event(3, 2000), st)["kind"] == "twitch"


def test_monitor_on_the_virtual_board_shows_events_within_five_seconds(tmp_path):
    """`--port sim` plays fast enough (10x) that a five-second look shows the product working."""
    import json

    from click.testing import CliRunner

    from myotwitch.cli import main

    r = CliRunner().invoke(main, ["--port", "sim", "monitor", "--duration", "5", "--json"],
                           env={"MYOTWITCH_DATA_DIR": str(tmp_path)})
    assert r.exit_code == 0, r.output
    msgs = [json.loads(line) for line in r.stdout.splitlines()]
    kinds = [m["kind"] for m in msgs if m["type"] == "EVENT"]
    assert len(kinds) >= 3 and "twitch" in kinds
    assert {m["type"] for m in msgs} >= {"EVENT", "STATUS"}
    # STATUS says which mains comb each detector chose (the demo recording has no hum)
    assert all(m["mains_hz"] == [0] for m in msgs if m["type"] == "STATUS")
