"""The host's NumPy detector reproduces the device's events bit for bit.

The device side is firmware/detector.py itself, run in the real MicroPython unix port over a
ring in uneven blocks with the heap locked (tests/mp/detector_run.py), on the bundled
recordings and on adversarial full-scale signals. The 30-bit small-int bound is checked by
tracing the firmware code in CPython at full-scale input.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myotwitch import detect as D
from myotwitch.firmware import detector as fw
from myotwitch.firmware import detref
from myotwitch.paths import micropython_binary
from myotwitch.recordings import bundled, load

from mpvm import REPO

FULL = {"det_sat": 32767}


def run_device(tmp_path, x, fs, params, first_index=0, blocks=(128, 37, 1, 500), flush=False,
               viper=False):
    np.asarray(x, "<i2").tofile(tmp_path / "x.i16")
    (tmp_path / "p.json").write_text(json.dumps(D.check_params(params)))
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=2m", str(REPO / "tests/mp/detector_run.py"),
         str(tmp_path / "x.i16"), str(fs), str(tmp_path / "p.json"), str(first_index),
         ",".join(map(str, blocks))] + (["flush"] if flush else []) + (["viper"] if viper else []),
        capture_output=True, text=True, timeout=300, env={"MICROPYPATH": str(REPO / "firmware")})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split("\n")
    events = [tuple(map(int, ln.split())) for ln in lines if ln and not ln.startswith("NOISE")]
    noise = [int(v) for ln in lines if ln.startswith("NOISE") for v in ln.split()[1:]]
    return events, noise


def as_tuples(ev):
    return [tuple(int(v) for v in e) for e in ev]


def emg(rng, n, sigma=8.0, dc=2048):
    return dc + rng.normal(0, sigma, n)


def add_muaps(rng, x, fs, count, amp):
    for _ in range(count):
        at = int(rng.integers(fs, len(x) - fs))
        width = int(rng.integers(3, 30)) * fs // 1000 + 2
        t = np.linspace(-2.5, 2.5, width)
        x[at:at + width] += rng.choice((-1, 1)) * amp * t * np.exp(-t * t)
    return x


def clip16(x):
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def adversarial(fs=1000, seed=7):
    """name -> (samples, params): the signals most likely to break an integer filter."""
    rng = np.random.default_rng(seed)
    n = 20 * fs
    t = np.arange(n)
    sig = {}
    sig["square_fast_fullscale"] = (np.where((t // 25) % 2, 32767, -32768), FULL)
    sig["square_slow_fullscale"] = (np.where((t // 1700) % 2, 32767, -32768), FULL)
    sig["alternating_fullscale"] = (np.where(t % 2, 32767, -32768), FULL)
    steps = np.repeat(rng.choice((-32768, 32767, 0), n // 300 + 1), 300)[:n]
    sig["steps_fullscale"] = (steps + 0 * t, FULL)
    sig["random_fullscale"] = (rng.integers(-32768, 32768, n), FULL)
    x = emg(rng, n, 30, 0)
    x[rng.integers(0, n, 40)] = rng.choice((-32768, 32767), 40)
    sig["spikes_fullscale"] = (clip16(x), FULL)
    sig["hum_fullscale_50"] = (clip16(32767 * np.sin(2 * np.pi * 50 * t / fs)), FULL)
    sig["hum_60_onto_emg"] = (clip16(add_muaps(rng, emg(rng, n) + 200 * np.sin(2 * np.pi * 60 * t / fs)
                                               * (t > n // 2), fs, 30, 120)), {})
    x = add_muaps(rng, emg(rng, n), fs, 40, 300) * 40 - 80000
    sig["saturating_emg"] = (clip16(x), FULL)
    x = add_muaps(rng, emg(rng, n), fs, 60, 60)
    x[n // 3:] += 900  # a step
    x[n // 2:n // 2 + 4000] += 1500 * np.exp(-np.arange(4000) / 300)  # an electrode pop
    x += 800 * np.sin(2 * np.pi * 0.7 * t / fs)  # motion swing
    sig["emg_steps_pops_swings"] = (clip16(x), {})
    ecg = emg(rng, n)
    for b in range(1, 24):
        ecg[b * 830:b * 830 + 40] += 400 * np.hanning(40) * np.sin(np.linspace(0, 3 * np.pi, 40))
    sig["ecg_train"] = (clip16(add_muaps(rng, ecg, fs, 15, 100)), {})
    sig["emg_extreme_params"] = (clip16(add_muaps(rng, emg(rng, n, 3), fs, 50, 40)),
                                 {"det_thresh": 16, "det_off": 8, "det_win_ms": 32, "det_hold_ms": 1,
                                  "det_mains_hz": 0, "det_step": 16, "det_rr_ms": 3000,
                                  "det_sat": 32768})
    sig["flat"] = (np.full(n, 2048), {})
    if fs == 1000:  # the mains comb switching on, then to 60 Hz; a learned heartbeat
        sig["mixed_hum_switch_ecg_step"] = (mixed_signal(), {})
        sig["ecg_one_sided_now_and_then"] = (one_sided_now_and_then()[0], {})
    return sig


VARIANTS = pytest.mark.parametrize("viper", [False, True], ids=["bytecode", "viper"])


@VARIANTS
@pytest.mark.parametrize("name", bundled())
def test_bundled_recordings_bit_exact(tmp_path, name, viper):
    rec = load(name)
    x = rec.samples[:, 0]
    dev, noise = run_device(tmp_path, x, rec.fs, {}, first_index=12345, viper=viper)
    host = D.detect(x, rec.fs, channel=0, first_index=12345)
    assert len(dev) > 0 and as_tuples(host) == dev
    assert noise[0] >= 1  # a meaningful floor, in counts


@VARIANTS
def test_adversarial_signals_bit_exact(tmp_path, viper):
    sigs = adversarial()
    total = 0
    for k, (name, (x, params)) in enumerate(sigs.items()):
        flush = k % 2 == 1  # half of them also flush the held events at the end
        dev, _ = run_device(tmp_path, x, 1000, params, flush=flush, viper=viper)
        host = D.detect(x, 1000, params, flush=flush)
        assert as_tuples(host) == dev, name
        total += len(dev)
    assert total > 100  # the set does produce events to compare


@VARIANTS
@pytest.mark.parametrize("fs,params", [(500, {"det_mains_hz": 60}), (2000, {"det_win_ms": 32}),
                                       (1000, {"det_mains_hz": 0, "det_hold_ms": 100}),
                                       (D.FS_RANGE[1], {}),  # the widest band the comb ring holds
                                       (1995, {"det_mains_hz": 45})])  # 3 periods: 133 > 128
def test_other_rates_and_settings_bit_exact(tmp_path, fs, params, viper):
    rng = np.random.default_rng(fs)
    x = clip16(add_muaps(rng, emg(rng, 30 * fs), fs, 80, 300))
    dev, _ = run_device(tmp_path, x, fs, params, first_index=77, blocks=(128, 5, 64), viper=viper)
    assert len(dev) > 10 and as_tuples(D.detect(x, fs, params, first_index=77)) == dev


def mixed_signal(seed=13, n=40_000, fs=1000):
    """EMG with twitches, hum that comes (50 Hz) and changes (60 Hz), heartbeats, a step: every
    stage of the detector has state to carry across a chunk boundary."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = add_muaps(rng, emg(rng, n), fs, 60, 150)
    x += np.where(t > n // 4, 30 * np.sin(2 * np.pi * 50 * t / fs), 0)
    x += np.where(t > 3 * n // 4, 30 * np.sin(2 * np.pi * 60 * t / fs) - 30 * np.sin(
        2 * np.pi * 50 * t / fs), 0)
    q = np.linspace(-3, 3, 24)
    for at in np.cumsum(rng.uniform(650, 950, 40)).astype(int):
        if at + 24 < n:
            x[at:at + 24] += 160 * (1 - q * q) * np.exp(-q * q / 2)
    x[n // 2:] += 400
    return clip16(x)


MIXED = mixed_signal()
MIXED_ONE_SHOT = {}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(1, len(MIXED) - 1), max_size=12, unique=True),
       params=st.sampled_from([{}, {"det_mains_hz": 1}, {"det_wide": 0, "det_mains_hz": 60},
                               {"det_rr_ms": 0, "det_hold_ms": 200}]))
def test_stream_equals_one_shot_for_any_chunking(cuts, params):
    """Stream.feed over any chunking (down to single samples), then flush(): exactly detect()."""
    key = tuple(sorted(params.items()))
    if key not in MIXED_ONE_SHOT:
        MIXED_ONE_SHOT[key] = D.detect(MIXED, 1000, params, first_index=99, flush=True)
    one = MIXED_ONE_SHOT[key]
    assert len(one) > 20
    s = D.Stream(1000, params, first_index=99)
    bounds = [0] + sorted(cuts) + [len(MIXED)]
    parts = [s.feed(MIXED[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    parts.append(s.flush())
    assert np.array_equal(np.concatenate(parts), one)


def test_mains_comb_is_found_and_followed_by_itself():
    """At default settings the comb is off on EMG without hum, finds 50 Hz within a few seconds
    of its start and follows a change to 60 Hz: the twin and the firmware's reference agree on
    the choice, block by block."""
    fs = 1000
    s = D.Stream(fs)
    ref = detref.RefDetector(0, fs, D.check_params({}), lambda *ev: None)
    from array import array

    buf = array("h", bytes(2048))
    seen = []
    for i in range(0, len(MIXED), 500):
        chunk = MIXED[i:i + 500]
        s.feed(chunk)
        for j, v in enumerate(chunk):
            buf[(i + j) & 1023] = int(v)
        ref.process(buf, i & 1023, len(chunk), i, 1023)
        assert ref.mains == s.mains
        seen.append((i + len(chunk), s.mains))
    hum50, hum60 = len(MIXED) // 4, 3 * len(MIXED) // 4  # (mixed_signal)
    assert all(m == 0 for t, m in seen if t <= hum50)
    assert all(m == 50 for t, m in seen if hum50 + 5 * fs <= t <= hum60)
    assert all(m == 60 for t, m in seen if t >= hum60 + 4 * fs)


def test_stream_holds_bounded_state():
    """What a Stream keeps between chunks does not grow with the recording: fixed histories,
    at most QN held events, a handful of ints (so a 24 h recording streams in chunk-sized
    memory; bench_detector_cost prints the RSS of one)."""
    s = D.Stream(1000)
    for k in range(6):
        s.feed(MIXED)
        sizes = [len(h) for h in s.hist]
        assert sizes == [D.HIST] * 4
        assert len(s.queue) <= D.QN
        assert len(s.fl) == 25 and len(s.part) == 5 and len(s.rm) == 5
    assert s.n == 6 * len(MIXED)
    assert s.mains in (0, 50, 60)


def test_twin_matches_reference_in_cpython_for_any_block_split():
    rng = np.random.default_rng(3)
    x = clip16(add_muaps(rng, emg(rng, 60_000), 1000, 120, 150))
    host = D.detect(x, 1000)
    assert len(host) > 50
    for blocks in (128, 1, [300, 7, 128]):
        assert np.array_equal(D.reference(x, 1000, block=blocks), host)


def test_twin_matches_reference_for_random_settings():
    """Settings drawn across their CONFIG ranges (levels crossing each other, long holds, short
    bursts, either band alone) on real EMG with bursts: still bit for bit."""
    rng = np.random.default_rng(29)
    rec = load("biosppy_emg_bursts")
    x = rec.samples[12_000:42_000, 0]
    checked = 0
    for _ in range(8):
        params = {"det_thresh": int(rng.integers(16, 200)), "det_off": int(rng.integers(8, 200)),
                  "det_win_ms": int(rng.integers(1, 33)), "det_hold_ms": int(rng.integers(1, 400)),
                  "det_burst_ms": int(rng.integers(20, 600)),
                  "det_wide": int(rng.choice((0, 40, 112, 300))),
                  "det_mains_hz": int(rng.choice((0, 50, 60))),
                  "det_rr_ms": int(rng.choice((0, 1600)))}
        host = D.detect(x, rec.fs, params, flush=True)
        assert np.array_equal(D.reference(x, rec.fs, params, block=[128, 37, 500], flush=True),
                              host), params
        checked += len(host)
    assert checked > 50


def test_intermediates_stay_small_ints_at_full_scale():
    """Trace every line of the firmware detector at full-scale input with the largest
    parameters: every int local and attribute, and the one product not held in a variable
    (mu4 * thr in Detector.block, for either band), stays below 2**30."""
    limit = 1 << 30
    worst = [0]
    code = {f.__code__ for cls in (fw.Detector, detref.RefDetector) for f in vars(cls).values()
            if hasattr(f, "__code__")}
    code.add(fw.floor.__code__)

    def tracer(frame, event, arg):
        if frame.f_code not in code:
            return None
        if event == "line" or event == "return":
            loc = frame.f_locals
            vals = [v for v in loc.values() if type(v) is int]
            me = loc.get("self")
            if me is not None:
                vals += [v for v in vars(me).values() if type(v) is int]
                if "mu4" in loc:
                    vals.append(loc["mu4"] * max(me.thr, me.gthr))
            worst[0] = max([worst[0]] + [abs(v) for v in vals])
        return tracer

    params = dict(FULL, det_thresh=1023, det_off=1023, det_win_ms=32, det_mains_hz=40,
                  det_wide=1023)
    sigs = adversarial(2000)
    checked = 0
    for name in ("square_fast_fullscale", "alternating_fullscale", "random_fullscale",
                 "steps_fullscale"):
        x = sigs[name][0][:3000]
        sys.settrace(tracer)
        try:
            D.reference(x, 2000, params, first_index=0)
        finally:
            sys.settrace(None)
        checked += 1
    assert checked == 4
    assert 1 << 20 < worst[0] < limit, worst[0]


def test_events_to_dicts_and_input_checks():
    rng = np.random.default_rng(5)
    x = clip16(add_muaps(rng, emg(rng, 20_000), 1000, 20, 200))
    ev = D.detect(x, 1000)
    d = D.events_to_dicts(ev, 1000)
    assert d and d[0]["kind"] in D.KIND_NAMES
    assert d[0]["offset_s"] - d[0]["onset_s"] == pytest.approx(d[0]["duration_ms"] / 1000)
    with pytest.raises(D.DetectError, match="1-D"):
        D.detect(np.zeros((5, 2)), 1000)
    with pytest.raises(D.DetectError, match="int16"):
        D.detect(np.array([0, 40000]), 1000)
    with pytest.raises(D.DetectError, match="NaN"):
        D.detect(np.array([0.0, np.nan]), 1000)
    with pytest.raises(D.DetectError, match="det_thresh must be"):
        D.detect(x, 1000, {"det_thresh": 5})
    with pytest.raises(D.DetectError, match="unknown"):
        D.detect(x, 1000, {"nope": 5})
    assert tuple(D.DEFAULTS) == fw.KEYS  # the device's names and its on-demand table agree
    assert set(D.DESCRIPTIONS) == set(D.DEFAULTS) == set(D.UNITS)


@pytest.mark.parametrize("march", ["xtensawin", "rv32imc"])
def test_detector_compiles_for_the_chips(tmp_path, march):
    from mpvm import compile_mpy

    out = compile_mpy([REPO / "firmware/detector.py"], tmp_path, march=march)
    assert out[0].stat().st_size > 1000


def test_every_event_is_sent_within_settle_samples_of_its_offset(tmp_path):
    """The device sends an event at most settle_samples() after its reported offset (verify
    relies on this to tell events the raw data cannot reproduce from real differences)."""
    rng = np.random.default_rng(11)
    x = clip16(add_muaps(rng, emg(rng, 40_000), 1000, 60, 150))
    settle = D.settle_samples({}, 1000)
    full = D.detect(x, 1000, flush=True)
    assert len(full) > 20
    for cut in range(5_000, 40_000, 2_500):
        part = D.detect(x[:cut], 1000)
        # everything sent by `cut` is a prefix of the full run ...
        assert np.array_equal(part, full[:len(part)])
        # ... and whatever is still unsent ended less than `settle` samples before the cut
        rest = full[len(part):]
        short = rest[rest["duration"] < 4095]
        assert np.all(short["onset"] + short["duration"] + settle > cut)


def test_what_it_calls_twitches_and_what_not():
    """Kinds on plain cases (the twin is the device, bit for bit, by the tests above)."""
    fs = 1000
    rng = np.random.default_rng(21)
    n = 60 * fs
    x = emg(rng, n, 6.0)
    t = np.linspace(-3, 3, 12)
    muap = -t * np.exp(-t * t / 2) / 0.61 * 120  # biphasic, 12 ms, peak 120 counts (20x)
    twitches = [3000, 7400, 9100, 13800]
    for at in twitches:
        x[at:at + 12] += muap
    x[20000:22000] += 200 * rng.normal(0, 1, 2000) * np.hanning(2000)  # 2 s contraction
    x[26000:] += 600  # a step
    beats = np.arange(30000, 44000, 830)  # ECG at 72 bpm: 17 beats
    q = np.linspace(-3, 3, 30)
    for at in beats:
        x[at:at + 30] += 250 * (1 - q * q) * np.exp(-q * q / 2)
    x[50000:50040] = 4095  # clipped at the top of a 12-bit ADC
    ev = D.detect(clip16(x), fs, {"det_sat": 4095}, flush=True)

    def kinds(lo, hi):
        return sorted(D.KIND_NAMES[k] for k in ev["kind"][(ev["onset"] >= lo) & (ev["onset"] < hi)])

    for at in twitches:
        assert kinds(at - 10, at + 15) == ["twitch"], at
    assert kinds(19500, 24000) == ["contraction"]
    assert kinds(25900, 26200) == ["artifact"]
    # (onsets of abrupt starts may sit up to the wide band's window, 16 ms, early: its onset
    # search starts there, and a noise sample above its level in it marks the start)
    beat_kinds = [kinds(at - 16, at + 40) for at in beats]
    assert all(k == ["artifact"] for k in beat_kinds), beat_kinds
    assert kinds(49900, 50100) == ["artifact"]
    assert len(ev) == len(twitches) + 1 + 1 + len(beats) + 1  # nothing else in a quiet signal


def one_sided_now_and_then(fs=1000, seed=5):
    """(samples, beat times): a heartbeat at 72 bpm whose every other QRS is one-sided by the
    det_sided test (its S wave a twentieth of the R wave; the others half)."""
    rng = np.random.default_rng(seed)
    x = emg(rng, 40 * fs, 6.0)
    q = np.linspace(-3, 3, 24)
    beats = np.arange(4000, 38000, 830)
    for i, at in enumerate(beats):
        s = 0.5 if i % 2 else 0.05
        x[at:at + 24] += 240 * (np.exp(-q * q / 2) - s * np.exp(-(q - 1.6) ** 2 / 0.3))
    return clip16(x), beats


def test_a_heartbeat_that_looks_one_sided_now_and_then_is_still_learned():
    """Every other beat is an artifact by the one-sided test. Those beats still teach and keep
    the rhythm, so the two-sided ones in between (1.66 s apart on their own: no rhythm of their
    own) are taken for beats, not twitches (they were, before). The device does the same: the
    signal is among the adversarial ones compared bit for bit."""
    x, beats = one_sided_now_and_then()
    ev = D.detect(x, 1000, flush=True)
    kinds = [sorted(D.KIND_NAMES[k] for k in ev["kind"][(ev["onset"] >= at - 16)
                                                        & (ev["onset"] < at + 40)])
             for at in beats]
    assert all(k == ["artifact"] for k in kinds), kinds
    assert len(ev) == len(beats)
