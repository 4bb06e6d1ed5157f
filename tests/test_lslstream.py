"""The live Lab Streaming Layer stream, fed by the virtual board (the real firmware in the
MicroPython unix port on a pty) and read back by an LSL inlet in the same test. LSL is kept on
this machine (ResolveScope machine: discovery on 127.0.0.1 only)."""

import json
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from myotwitch.cli import main
from myotwitch.link import Device
from myotwitch.lslstream import LslStreamer, pylsl_module
from myotwitch.recordings import load_default
from myotwitch.sim import SimBoard

lsl = pylsl_module("machine")  # before anything else in this process touches LSL


def _inlet(name, timeout=10.0):
    infos = lsl.resolve_byprop("name", name, 1, timeout)
    assert infos, "no LSL stream %r found" % name
    inlet = lsl.StreamInlet(infos[0], max_buflen=120)
    inlet.open_stream(timeout)
    return inlet, infos[0]


def test_samples_and_events_reach_an_inlet_with_device_time_stamps(tmp_path):
    rec = load_default()
    with SimBoard(speed=5, hold=True, flash=tmp_path / "f.img") as board, \
            Device.open(board.port) as dev:
        st = LslStreamer(dev, name="mt-test")
        stop = threading.Event()
        runner = threading.Thread(target=st.run, kwargs={"stop": stop})
        emg, info = _inlet("mt-test EMG")
        events, _ = _inlet("mt-test events")
        assert info.type() == "EMG" and info.nominal_srate() == 1000 and info.channel_count() == 1
        assert info.channel_format() == lsl.cf_float32
        runner.start()  # the board holds its samples until the stream starts: nothing missed
        data, stamps, marks = [], [], []
        end = time.monotonic() + 4
        while time.monotonic() < end:
            d, t = emg.pull_chunk(timeout=0.2, max_samples=10_000)
            data += d
            stamps += t
            m, mt = events.pull_chunk(timeout=0.0)
            marks += list(zip(m, mt))
        stop.set()
        runner.join(10)
        m, mt = events.pull_chunk(timeout=1.0)
        marks += list(zip(m, mt))
    res = st.result
    assert res.end_reason == "stopped" and res.lost_rows == 0 and res.rows >= len(data) > 10_000
    x = np.array(data)[:, 0]
    t = np.array(stamps)
    # each sample's time stamp is its device time: map it back to the sample index
    idx = np.rint(st.sync_idx + ((t - st.offset) * 1000.0 - st.sync_ms)).astype(np.int64)
    assert np.all(np.diff(idx) == 1)  # no sample lost, none twice
    n = len(rec.samples)
    assert np.array_equal(x, rec.samples[idx % n, 0].astype(np.float32))  # virtual: 1 uV/count
    assert len(marks) == res.events > 0
    for (text,), stamp in marks:
        e = json.loads(text)
        assert e["kind"] in ("twitch", "burst", "contraction", "artifact")
        assert stamp == pytest.approx(float(st.lsl_time(e["onset"])), abs=1e-6)


def test_stream_command_runs_for_a_duration(tmp_path, monkeypatch):
    monkeypatch.setenv("MYOTWITCH_DATA_DIR", str(tmp_path))
    with SimBoard(speed=5, flash=tmp_path / "f.img") as board:
        r = CliRunner().invoke(main, ["stream", "--lsl", "--lsl-scope", "machine", "--name",
                                      "mt-cli", "--duration", "1.5", "--json", "--port",
                                      board.port])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["end_reason"] == "duration" and out["rows"] > 1000 and out["lost_rows"] == 0
    r = CliRunner().invoke(main, ["stream", "--port", "sim"])
    assert r.exit_code == 2 and "--lsl" in r.output
