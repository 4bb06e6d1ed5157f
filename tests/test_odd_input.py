"""Odd but possible input (issue 16): every case gives one line of error and exit 2, never a
traceback; sample rates outside what the detector runs at are refused with the range and why
(and the range is the firmware's: bit-exact at both ends, not one Hz beyond); and a fuzz test
over the readers, the board-file checker and --config loading that fails on any exception
other than the tool's own errors."""

import json
import string

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myotwitch import detect
from myotwitch.boards import BoardError, boards_dir, validate
from myotwitch.cli import main
from myotwitch.detparams import ParamError, check_params, load_config
from myotwitch.readers import ReaderError, open_file

from test_readers import COUNTS, write_edf, write_wav


def invoke(args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def one_line(r, *words):
    assert r.exit_code == 2, (r.exit_code, r.output, r.exception)
    assert "Traceback" not in r.output and r.exception is None or isinstance(r.exception,
                                                                             SystemExit)
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("Error:")]
    assert len(errs) == 1, r.stderr
    for w in words:
        assert w in errs[0], errs[0]
    return errs[0]


def deep(n=100_000):
    return "[" * n + "]" * n


def board_file(tmp_path, name, change):
    d = json.loads((boards_dir() / "devkitc-myoware2.json").read_text())
    d["name"] = name
    change(d)
    p = tmp_path / (name + ".json")
    p.write_text(json.dumps(d))
    return p


def test_every_odd_input_is_one_line_and_exit_2(tmp_path):
    edf = {}
    for tag, dur in (("nan", "nan"), ("inf", "inf"), ("tiny", "1e-300")):
        edf[tag] = write_edf(tmp_path / ("%s.edf" % tag), [("EMG", 100, COUNTS[:, 0])],
                             record_s=dur)
    csv_nan = tmp_path / "nan.csv"
    csv_nan.write_text("time,emg\n0,1\n0.001,2\nnan,3\n0.003,4\n")
    csv_fast = tmp_path / "fast.csv"
    csv_fast.write_text("time,emg\n" + "".join("%.7f,%d\n" % (i * 1e-6, v)
                                               for i, v in enumerate(COUNTS[:50, 0])))
    wav_fast = write_wav(tmp_path / "fast.wav", COUNTS, 64500, 2)
    plain = tmp_path / "plain.csv"
    plain.write_text("".join("%d\n" % v for v in COUNTS[:, 0]))
    cfg = tmp_path / "deep.json"
    cfg.write_text(deep())
    bdeep = tmp_path / "deepboard.json"
    bdeep.write_text(deep())
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"name": "latin", "title": "Gerät"}'.encode("latin-1"))
    folder = tmp_path / "rec"
    folder.mkdir()
    (folder / "meta.json").write_text('{"channels": []}')
    (folder / "samples.csv").write_text("1\n2\n")
    cases = [
        (["replay", edf["nan"]], ["duration nan s"]),
        (["replay", edf["inf"]], ["duration inf s"]),
        (["replay", edf["tiny"]], ["500..3199 Hz"]),
        (["replay", csv_nan], ["NaN in sample row 3"]),
        (["replay", csv_fast], ["1e+06 Hz", "500..3199 Hz"]),
        (["replay", wav_fast], ["64500 Hz", "500..3199 Hz", "--channel"]),
        (["replay", plain, "--fs", "64500"], ["64500 Hz", "resample"]),
        (["replay", plain, "--fs", "nan"], ["positive number of Hz"]),
        (["replay", "biosppy_emg_rest", "--config", cfg], ["nested too deep"]),
        (["flash", "--board", bdeep, "--dry-run"], ["nested too deep"]),
        (["flash", "--board", latin, "--dry-run"], ["not UTF-8"]),
        (["replay", folder], ["fs_hz"]),
        (["replay", ""], ["give a recording"]),
        (["sessions", "-n", "99999999999999999999999"], ["--limit"]),
        (["--db", "/proc/nope/x.db", "record", "--port", "sim"], ["cannot create the store"]),
        (["--db", "/proc/nope/x.db", "pull", "--port", "sim"], ["cannot create the store"]),
        (["--db", tmp_path, "record", "--port", "sim"], ["is a directory"]),
        (["--port", "sim", "--sim-speed", "nan", "info"], ["--speed must be 0..1000"]),
    ]
    for change, words in (
            (lambda d: d["adc"].__setitem__("atten_db", False), ["adc.atten_db", "false"]),
            (lambda d: d["adc"].__setitem__("width_bits", 12.0), ["adc.width_bits", "12.0"]),
            (lambda d: d.__setitem__("uv_per_count", float("inf")), ["uv_per_count", "inf"]),
            (lambda d: d.__setitem__("front_end", {"a": 1}), ["front_end", "a string"])):
        name = "odd%d" % len(cases)
        p = board_file(tmp_path, name, change)
        if "inf" in words:  # as a user writes it: 1e999 is inf to a JSON reader
            p.write_text(p.read_text().replace("Infinity", "1e999"))
        cases.append((["flash", "--board", p, "--dry-run"], words))
        r = invoke(["boards", "--check", p])  # --check reports a finding: exit 1, one line
        assert r.exit_code == 1 and r.stderr.count("\n") == 1 and words[0] in r.stderr
    for args, words in cases:
        one_line(invoke(args), *words)
    one_line(invoke(["info"], env={"MYOTWITCH_SIM_SPEED": "abc", "MYOTWITCH_PORT": "sim"}),
             "--sim-speed", "abc")


def _burst_signal(seed, n=6000):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 30, n)
    for k in range(5):
        x[800 + 1000 * k:840 + 1000 * k] += rng.normal(0, 600, 40)
    return np.clip(x, -32768, 32767).astype(np.int16)


def test_the_rate_range_is_the_firmwares():
    x = _burst_signal(3)
    p = {"det_mains_hz": 40, "det_rr_ms": 0}  # the comb at its longest delay
    lo, hi = detect.FS_RANGE
    for fs in (lo, hi):  # the twin is the firmware's detector, bit for bit, at both ends
        ev = detect.detect(x, fs, p, flush=True)
        assert len(ev) >= 3 and np.array_equal(ev, detect.reference(x, fs, p, flush=True))
    # One Hz beyond: the firmware's delay line wraps; the twin is no longer the device's.
    assert not np.array_equal(detect.detect(x, hi + 1, p, flush=True),
                              detect.reference(x, hi + 1, p, flush=True))
    for bad in (lo - 1, hi + 1, 64500, 1e302, float("nan"), float("inf"), 1000.5, "abc", None):
        with pytest.raises(detect.DetectError, match="%d..%d Hz" % (lo, hi)):
            detect.check_fs(bad)
    assert detect.check_fs(1000.0) == 1000


# ---- fuzz: only the tool's own errors, whatever the input

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=5),
    max_leaves=25)
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _read_all(path, fs):
    """The samples read, or the ReaderError's text; any other exception fails the test."""
    try:
        with open_file(path, fs) as rd:
            return [np.concatenate(c) if c else None for c in zip(*rd.chunks())]
    except ReaderError as e:
        return str(e)


CSV_TEXT = st.text(alphabet=string.digits + ",;\t .-+eE\n\r\"naifNAIF\x00ü", max_size=300)


@FUZZ
@given(text=CSV_TEXT, fs=st.none() | st.floats() | st.integers(-5, 5000),
       block=st.integers(1, 64))
def test_fuzz_csv(tmp_path_factory, text, fs, block):
    from myotwitch import readers

    p = tmp_path_factory.mktemp("f") / "x.csv"
    p.write_bytes(text.encode("utf-8", "surrogatepass"))
    whole = _read_all(p, fs)
    saved = readers.BLOCK
    readers.BLOCK = block  # parsed in small blocks: the same samples, or an error all the same
    try:
        parts = _read_all(p, fs)
    finally:
        readers.BLOCK = saved
    if isinstance(whole, str) or isinstance(parts, str):
        assert isinstance(whole, str) and isinstance(parts, str), (whole, parts)
    else:
        assert len(whole) == len(parts) and all(
            (a is None and b is None) or np.array_equal(a, b) for a, b in zip(whole, parts))


def _mutations(base: bytes):
    return st.lists(st.tuples(st.integers(0, len(base) - 1), st.integers(0, 255)),
                    max_size=8).map(lambda ms: _apply(base, ms)) | \
        st.integers(0, len(base)).map(lambda n: base[:n])


def _apply(base, ms):
    b = bytearray(base)
    for i, v in ms:
        b[i] = v
    return bytes(b)


def _valid_files(tmp):
    edf = write_edf(tmp / "v.edf", [("EMG", 100, COUNTS[:200, 0]), ("B", 50, COUNTS[:100, 1])],
                    record_s=0.1).read_bytes()
    wav = write_wav(tmp / "v.wav", COUNTS[:100], 1000, 2).read_bytes()
    np.save(tmp / "v.npy", COUNTS[:100])
    return {".edf": edf, ".wav": wav, ".npy": (tmp / "v.npy").read_bytes()}


@pytest.fixture(scope="module")
def valid(tmp_path_factory):
    return _valid_files(tmp_path_factory.mktemp("valid"))


@pytest.mark.parametrize("ext", [".edf", ".wav", ".npy"])
def test_fuzz_binary_formats(tmp_path_factory, valid, ext):
    @FUZZ
    @given(data=_mutations(valid[ext]) | st.binary(max_size=600),
           fs=st.none() | st.sampled_from([1000, 0, -1, float("nan"), 1e300]))
    def one(data, fs):
        p = tmp_path_factory.mktemp("f") / ("x" + ext)
        p.write_bytes(data)
        _read_all(p, fs)
    one()


BOARD = json.loads((boards_dir() / "devkitc-myoware2.json").read_text())


def _paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _paths(v, prefix + (i,))


PATHS = [p for p in _paths(BOARD) if p]


@FUZZ
@given(where=st.sampled_from(PATHS), value=JSON, other=JSON)
def test_fuzz_board_checker(where, value, other):
    d = json.loads(json.dumps(BOARD))
    node = d
    for k in where[:-1]:
        node = node[k]
    node[where[-1]] = value
    for data in (d, other):
        try:
            validate(data, "fuzz.json")
        except BoardError:
            pass


@FUZZ
@given(values=JSON | st.dictionaries(st.sampled_from(sorted(detect.DEFAULTS)), JSON, max_size=4),
       raw=st.binary(max_size=200))
def test_fuzz_config(tmp_path_factory, values, raw):
    try:
        check_params(values, "fuzz")
    except ParamError:
        pass
    p = tmp_path_factory.mktemp("c") / "c.json"
    p.write_bytes(raw)
    try:
        load_config(p)
    except ParamError:
        pass
