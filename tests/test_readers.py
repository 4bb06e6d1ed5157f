"""Recording readers on real files written here: CSV, NPY, WAV, EDF/EDF+, and every malformed case."""

import wave

import numpy as np
import pytest

from myotwitch import recordings
from myotwitch.readers import ReaderError, read_file

RNG = np.random.default_rng(4)
COUNTS = RNG.integers(-2000, 2000, size=(500, 2)).astype(np.int16)


def write_edf(path, signals, record_s=1.0, n_records=None, plus=None, version=b"0"):
    """A minimal EDF writer per the spec (header fields are space-padded ASCII).
    signals: list of (label, samples_per_record, int16 array)."""
    ns = len(signals)
    records = min(len(s) // spr for _, spr, s in signals)

    def f(text, width):
        return str(text).encode("ascii").ljust(width)[:width]

    head = (f(version.decode(), 8) + f("X X X X", 80) + f("Startdate X X X X", 80) + f("01.01.26", 8)
            + f("00.00.00", 8) + f(256 * (ns + 1), 8) + f(plus or "", 44)
            + f(records if n_records is None else n_records, 8) + f(record_s, 8) + f(ns, 4))
    for width, value in ((16, lambda s: s[0]), (80, lambda s: "AgAgCl"), (8, lambda s: "uV"),
                         (8, lambda s: -3200), (8, lambda s: 3200), (8, lambda s: -32768),
                         (8, lambda s: 32767), (80, lambda s: "HP:10Hz"), (8, lambda s: s[1]),
                         (32, lambda s: "")):
        head += b"".join(f(value(s), width) for s in signals)
    body = b"".join(np.asarray(s[2][r * s[1]:(r + 1) * s[1]], dtype="<i2").tobytes()
                    for r in range(records) for s in signals)
    path.write_bytes(head + body)
    return path


def write_wav(path, data, rate, width):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(data.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        dtype = {1: np.uint8, 2: "<i2", 4: "<i4"}[width]
        w.writeframes(np.ascontiguousarray(data.astype(dtype)).tobytes())
    return path


def test_csv_with_header_names_the_channels(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text("left,right\n" + "".join("%d,%d\n" % tuple(r) for r in COUNTS))
    sigs = read_file(p, fs=1000)
    assert [s.name for s in sigs] == ["left", "right"]
    assert all(s.fs == 1000 and s.samples.dtype == np.int16 for s in sigs)
    assert (sigs[1].samples == COUNTS[:, 1]).all()


@pytest.mark.parametrize("sep", [",", ";", "\t", "   "])
def test_csv_without_header_any_separator(tmp_path, sep):
    p = tmp_path / "b.csv"
    p.write_text("".join(sep.join(str(v) for v in r) + "\n" for r in COUNTS))
    sigs = read_file(p, fs=500)
    assert [s.name for s in sigs] == ["ch0", "ch1"]
    assert (sigs[0].samples == COUNTS[:, 0]).all() and sigs[0].fs == 500


@pytest.mark.parametrize("name,scale", [("time_s", 1e-3), ("Time (ms)", 1.0), ("t", 0.0005)])
def test_csv_time_column_gives_the_rate(tmp_path, name, scale):
    p = tmp_path / "t.csv"
    p.write_text("%s;emg\n" % name + "".join("%.4f;%d\n" % (i * scale, v)
                                                 for i, v in enumerate(COUNTS[:, 0])))
    (s,) = read_file(p)
    want = 2000 if scale == 0.0005 else 1000
    assert s.fs == want and s.name == "emg" and (s.samples == COUNTS[:, 0]).all()
    with pytest.raises(ReaderError, match="time column says %d Hz but --fs says 700" % want):
        read_file(p, fs=700)


def test_csv_uneven_time_column_is_refused(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("time,emg\n0,1\n0.001,2\n0.003,3\n0.004,4\n")
    with pytest.raises(ReaderError, match="not evenly spaced"):
        read_file(p)


def test_float_counts_are_rounded_only_when_they_fit(tmp_path):
    p = tmp_path / "f.csv"
    p.write_text("100.4\n-200.6\n300\n")
    (s,) = read_file(p, fs=1000)
    assert s.samples.tolist() == [100, -201, 300]
    p.write_text("100.5\n40000.2\n")
    with pytest.raises(ReaderError, match="do not fit int16"):
        read_file(p, fs=1000)
    p.write_text("0.0012\n-0.0031\n0.0005\n")  # volts: rounding would flatten them
    with pytest.raises(ReaderError, match="physical units"):
        read_file(p, fs=1000)


@pytest.mark.parametrize("text,msg", [
    ("", "empty file"),
    ("\n\n  \n", "empty file"),
    ("a,b\n", "header row but no samples"),
    ("1,2\n3\n", "line 2 has 1 columns, expected 2"),
    ("emg\n1\nxyz\n", "line 3: 'xyz' is not a number"),
    ("1\nnan\n3\n", "NaN or infinite"),
    ("1\ninf\n", "NaN or infinite"),
    ("1\n", "no sample rate; give --fs"),
])
def test_malformed_csv(tmp_path, text, msg):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ReaderError, match=msg) as e:
        read_file(p, fs=None if "give --fs" in msg else 1000)
    assert str(p) in str(e.value)


def test_npy_one_and_two_dimensional(tmp_path):
    p1, p2 = tmp_path / "one.npy", tmp_path / "two.npy"
    np.save(p1, COUNTS[:, 0].astype(np.int32))
    np.save(p2, COUNTS.astype(np.float32))
    (s,) = read_file(p1, fs=1000)
    assert (s.samples == COUNTS[:, 0]).all()
    a, b = read_file(p2, fs=1000)
    assert (b.samples == COUNTS[:, 1]).all()


@pytest.mark.parametrize("array,msg", [
    (np.zeros((4, 3, 2)), r"shape \(4, 3, 2\)"),
    (np.zeros((2, 5000)), "5000 columns"),
    (np.array([1.0, np.nan]), "NaN"),
    (np.array([1, 70000]), "do not fit int16"),
    (np.array([], dtype=np.int16), "no samples"),
    (np.array([True, False]), "not numbers"),
    (np.array(["a", "b"]), "not numbers"),
])
def test_malformed_npy(tmp_path, array, msg):
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(ReaderError, match=msg):
        read_file(p, fs=1000)


def test_npy_garbage_and_pickles_are_refused(tmp_path):
    p = tmp_path / "bad.npy"
    p.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ReaderError, match="not a readable .npy"):
        read_file(p, fs=1000)
    np.save(p, np.array([{"a": 1}], dtype=object))
    with pytest.raises(ReaderError, match="not a readable .npy"):
        read_file(p, fs=1000)


@pytest.mark.parametrize("width", [1, 2, 4])
def test_wav_rate_from_the_file(tmp_path, width):
    data = COUNTS // 20 if width == 1 else COUNTS
    stored = data + 128 if width == 1 else data
    p = write_wav(tmp_path / "w.wav", stored, 1500, width)
    a, b = read_file(p)
    assert a.fs == 1500 and (b.samples == data[:, 1]).all()
    with pytest.raises(ReaderError, match="file says 1500 Hz but --fs says 1000"):
        read_file(p, fs=1000)


def test_wav_malformed(tmp_path):
    p = write_wav(tmp_path / "big.wav", np.array([[0], [100000]]), 1000, 4)
    with pytest.raises(ReaderError, match="do not fit int16"):
        read_file(p)
    p = tmp_path / "junk.wav"
    p.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk")
    with pytest.raises(ReaderError, match="not a PCM WAV"):
        read_file(p)
    p = write_wav(tmp_path / "cut.wav", COUNTS, 1000, 2)
    p.write_bytes(p.read_bytes()[:-7])
    with pytest.raises(ReaderError):
        read_file(p)


def test_edf_signals_at_their_own_rates(tmp_path):
    emg = COUNTS[:, 0]
    slow = COUNTS[:250, 1]
    p = write_edf(tmp_path / "r.edf", [("EMG deltoid", 100, emg), ("Resp", 50, slow)], record_s=0.1)
    a, b = read_file(p)
    assert (a.name, a.fs, len(a.samples)) == ("EMG deltoid", 1000.0, 500)
    assert (b.name, b.fs) == ("Resp", 500.0)
    assert (a.samples == emg).all() and (b.samples == slow).all()


def test_edf_plus_written_by_pyedflib_skips_annotations(tmp_path):
    import pyedflib

    p = tmp_path / "p.edf"
    w = pyedflib.EdfWriter(str(p), 2, file_type=pyedflib.FILETYPE_EDFPLUS)
    w.setSignalHeaders([{"label": name, "dimension": "uV", "sample_frequency": 1000,
                         "physical_max": 3200.0, "physical_min": -3200.0, "digital_max": 32767,
                         "digital_min": -32768, "transducer": "", "prefilter": ""}
                        for name in ("EMG", "EMG2")])
    data = np.tile(COUNTS, (2, 1)).astype(np.int32)  # two whole data records of 1 s
    w.writeSamples([np.ascontiguousarray(data[:, 0]), np.ascontiguousarray(data[:, 1])],
                   digital=True)
    w.writeAnnotation(0.2, -1, "twitch")
    w.close()
    a, b = read_file(p)
    assert (a.name, a.fs, b.name) == ("EMG", 1000.0, "EMG2")
    assert (a.samples == data[:, 0]).all() and (b.samples == data[:, 1]).all()


@pytest.mark.parametrize("kw,cut,msg", [
    ({"plus": "EDF+D"}, 0, "discontinuous"),
    ({"version": b"\xffBIOSEMI"}, 0, "BDF"),
    ({"version": b"9"}, 0, "not an EDF file"),
    ({}, 3, "truncated"),
    ({"record_s": 0}, 0, "record duration 0 s"),
    ({"record_s": "nan"}, 0, "record duration nan s"),
    ({"record_s": "inf"}, 0, "record duration inf s"),
    ({"record_s": "-1"}, 0, "record duration -1 s"),
    ({"record_s": "x"}, 0, "duration is 'x", ),
    ({"n_records": "x"}, 0, "number of data records"),
    ({"n_records": -1}, 0, "still being written"),
])
def test_malformed_edf(tmp_path, kw, cut, msg):
    p = tmp_path / "bad.edf"
    version = kw.pop("version", b"0")
    write_edf(p, [("EMG", 100, COUNTS[:, 0])], version=b"0", **kw)
    data = bytearray(p.read_bytes())
    if version != b"0":
        data[:8] = version.ljust(8)[:8]
    p.write_bytes(bytes(data[:len(data) - cut]))
    with pytest.raises(ReaderError, match=msg) as e:
        read_file(p)
    assert str(e.value).startswith(str(p) + ": ") and str(e.value).count(str(p)) == 1
    (tmp_path / "tiny.edf").write_bytes(b"0       short")
    with pytest.raises(ReaderError, match="shorter than an EDF header"):
        read_file(tmp_path / "tiny.edf")


def test_unknown_format_and_missing_file(tmp_path):
    p = tmp_path / "x.mat"
    p.write_bytes(b"MATLAB")
    with pytest.raises(ReaderError, match="unknown format"):
        read_file(p)
    with pytest.raises(ReaderError, match="no such file"):
        read_file(tmp_path / "none.csv")


def test_bundled_recordings_by_name_and_files_through_the_same_door(tmp_path):
    (s,) = recordings.signals("biosppy_emg_rest")
    assert s.fs == 1000 and len(s.samples) == 100000
    p = write_wav(tmp_path / "w.wav", COUNTS, 1000, 2)
    rec = recordings.load(p)  # the virtual board plays WAV too, rate from the file
    assert rec.fs == 1000 and rec.samples.shape == (500, 2)
    p = write_wav(tmp_path / "fast.wav", COUNTS, 8000, 2)
    with pytest.raises(recordings.RecordingError, match="500..2000 Hz"):
        recordings.load(p)


# ---- streaming: bounded memory, chunks equal to the whole, errors that quote little


def test_csv_parsed_in_blocks_equals_the_whole(tmp_path, monkeypatch):
    from myotwitch import readers

    p = tmp_path / "t.csv"
    rows = ["time (ms);left;right"] + ["%d;%d;%d" % (i, a, b) for i, (a, b) in enumerate(COUNTS)]
    rows.insert(200, "")  # a blank line inside
    p.write_bytes(("\ufeff" + "\r\n".join(rows) + "\r\n").encode())  # BOM, CRLF
    whole = read_file(p)
    monkeypatch.setattr(readers, "BLOCK", 97)  # blocks end mid-line, mid-CRLF, anywhere
    monkeypatch.setattr(readers, "CHUNK", 64)
    with readers.open_file(p) as rd:
        assert [(c.name, c.fs) for c in rd.channels] == [("left", 1000.0), ("right", 1000.0)]
        chunks = list(rd.chunks())
    assert len(chunks) > 10
    for i, s in enumerate(whole):
        assert (np.concatenate([c[i] for c in chunks]) == COUNTS[:, i]).all()
        assert (s.samples == COUNTS[:, i]).all()


@pytest.mark.parametrize("bad,msg", [
    ("nan", "holds NaN in sample row 301"),
    ("inf", "holds an infinite value in sample row 301"),
    ("0.7", "not evenly spaced"),
    ("0.299", "does not increase"),
])
def test_time_column_checked_in_every_block(tmp_path, monkeypatch, bad, msg):
    from myotwitch import readers

    monkeypatch.setattr(readers, "BLOCK", 256)
    p = tmp_path / "t.csv"
    t = ["%.3f" % (i / 1000) for i in range(500)]
    t[300] = bad
    p.write_text("time,emg\n" + "".join("%s,%d\n" % (a, v) for a, v in zip(t, COUNTS[:, 0])))
    with pytest.raises(ReaderError, match=msg):
        read_file(p)


def test_errors_quote_at_most_80_characters_of_the_input(tmp_path):
    p = tmp_path / "big.csv"
    p.write_text("emg\n1\n" + "4" * 1_000_000 + "x\n3\n")  # a 1 MB cell
    with pytest.raises(ReaderError) as e:
        read_file(p, fs=1000)
    assert "line 3" in str(e.value) and "cut" in str(e.value) and len(str(e.value)) < 300
    p.write_text("emg\n1\n" + "9" * 300 + "z\n")  # a long bad cell within the line limit
    with pytest.raises(ReaderError, match="line 3: '9{80}'... \\(301 characters, cut\\) is not"):
        read_file(p, fs=1000)
    p.write_text("1\n2\n" + "5" * 100 + "\n")  # a number that is too big is a value error
    with pytest.raises(ReaderError, match="do not fit int16"):
        read_file(p, fs=1000)


def test_a_sparse_1_gb_csv_fails_at_its_first_block(tmp_path, monkeypatch):
    from myotwitch import readers

    p = tmp_path / "sparse.csv"
    with open(p, "wb") as f:
        f.write(b"time,emg\n0,1\n0.001,2\n")
        f.truncate(1 << 30)  # a hole of zeros: no disk used, nothing in memory
    reads = []
    real = open

    def counting_open(*a, **k):
        f = real(*a, **k)
        orig = f.read
        f.read = lambda n=-1: reads.append(n) or orig(n)
        return f

    monkeypatch.setattr(readers, "open", counting_open, raising=False)
    with pytest.raises(ReaderError, match="binary data \\(a NUL byte at byte 21\\)"):
        read_file(p)
    assert reads == [readers.BLOCK]  # one block read, not the gigabyte


def test_npy_wav_edf_stream_in_chunks(tmp_path, monkeypatch):
    from myotwitch import readers

    monkeypatch.setattr(readers, "CHUNK", 100)
    np.save(tmp_path / "a.npy", COUNTS)
    write_wav(tmp_path / "a.wav", COUNTS, 1000, 2)
    write_edf(tmp_path / "a.edf", [("EMG", 100, COUNTS[:, 0]), ("Slow", 50, COUNTS[:250, 1])],
              record_s=0.1)
    for name in ("a.npy", "a.wav"):
        with readers.open_file(tmp_path / name, fs=1000) as rd:
            chunks = list(rd.chunks())
        assert len(chunks) == 5 and all(len(c[0]) == 100 for c in chunks)
        assert (np.concatenate([c[1] for c in chunks]) == COUNTS[:, 1]).all()
    with readers.open_file(tmp_path / "a.edf") as rd:
        assert [c.fs for c in rd.channels] == [1000.0, 500.0]
        chunks = list(rd.chunks())
    assert len(chunks) == 5 and [len(c[0]) for c in chunks] == [100] * 5
    assert [len(c[1]) for c in chunks] == [50] * 5  # each signal at its own rate
    assert (np.concatenate([c[1] for c in chunks]) == COUNTS[:250, 1]).all()
    # physical units are only known at the end of the stream: said then
    np.save(tmp_path / "v.npy", COUNTS[:, 0] / 1e4)
    with readers.open_file(tmp_path / "v.npy", fs=1000) as rd:
        with pytest.raises(ReaderError, match="physical units"):
            list(rd.chunks())
