"""Properties of the protocol codec (protocol/myoproto.py).

CPython: hypothesis round trips of every message type, robustness of decode()
and StreamDecoder against random, truncated, bit-flipped and spliced input
(checked against an independent reference model in tests/mp/fuzz_codec.py),
in-place encoders vs the general encoder, CRC and COBS edge cases.
MicroPython (unix port): the same fuzzer, and zero allocation of the hot-path
encoders under -X heapsize=64k.
"""

import importlib.util
import re
import sys
from array import array
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mpvm import compile_mpy, run_micropython

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protocol"
MP_DIR = Path(__file__).resolve().parent / "mp"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


P = _load("myoproto_under_test_codec", PROTO / "myoproto.py")
_saved = sys.modules.get("myoproto")
sys.modules["myoproto"] = P
try:
    ref = _load("fuzz_codec", MP_DIR / "fuzz_codec.py")  # reference model + MP fuzzer
finally:
    if _saved is None:
        del sys.modules["myoproto"]
    else:
        sys.modules["myoproto"] = _saved

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---- strategies per field code

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
u64 = st.integers(0, 2**64 - 1)
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
utf8_str = text.filter(lambda s: len(s.encode("utf-8")) <= 255) | st.text(
    st.sampled_from("aé✓🦵"), min_size=60, max_size=255).map(lambda s: s.encode()[:255].decode("utf-8", "ignore"))
config_value = st.one_of(st.integers(-2**31, 2**31 - 1), st.booleans(), utf8_str)

FIELD = {
    "B": u8, "H": u16, "I": u32, "Q": u64, "8s": st.binary(min_size=8, max_size=8),
    "16s": st.binary(min_size=16, max_size=16), "32s": st.binary(min_size=32, max_size=32),
    "str": utf8_str, "val": config_value,
    "h#": st.lists(st.integers(-32768, 32767), max_size=P.SAMPLES_MAX),
    "H#": st.lists(u16, max_size=16),
    "y#": st.binary(max_size=231),
}


def fields_for(t):
    return st.fixed_dictionaries({name: FIELD[code] for name, code in P.fields_of(t)})


message = st.sampled_from(sorted(P.SCHEMA)).flatmap(
    lambda t: st.tuples(st.just(t), u32, fields_for(t)))


def valid_frame():
    def build(m):
        t, seq, fields = m
        try:
            return P.encode(t, seq, fields)
        except P.CodecError:
            return P.encode(P.PING, seq, {"nonce": seq})
    return message.map(build)


def payload_len(t, fields):
    """Payload length computed independently of the codec."""
    n = 0
    for name, code in P.fields_of(t):
        v = fields[name]
        if code in ("B", "H", "I", "Q"):
            n += {"B": 1, "H": 2, "I": 4, "Q": 8}[code]
        elif code.endswith("s"):  # fixed-size bytes: 8s, 16s, 32s
            n += int(code[:-1])
        elif code == "str":
            n += 1 + len(v.encode())
        elif code == "val":
            n += 2 if isinstance(v, bool) else 5 if isinstance(v, int) else 2 + len(v.encode())
        elif code == "y#":
            n += 1 + len(v)
        else:
            n += 1 + 2 * len(v)
    return n


# ---- round trips


@SETTINGS
@given(message)
def test_round_trip_every_type(m):
    t, seq, fields = m
    n = payload_len(t, fields)
    if n > P.MAX_PAYLOAD:
        with pytest.raises(P.CodecError):
            P.encode(t, seq, fields)
        return
    wire = P.encode(t, seq, fields)
    assert len(wire) == n + 10  # header 6 + CRC 2 + COBS 1 + delimiter 1
    assert 0 not in wire[:-1] and wire[-1] == 0
    msg = P.decode(wire)
    assert (msg.type, msg.seq, msg.version) == (t, seq, 1)
    for k, v in fields.items():
        assert msg.fields[k] == v and type(msg.fields[k]) is type(v), k
    assert P.encode_message(msg) == wire
    assert ref.ref_body(wire) is not None


@pytest.mark.parametrize("t", sorted(P.SCHEMA), ids=lambda t: P.SCHEMA[t][0])
def test_every_type_round_trips(t):
    @settings(max_examples=25, deadline=None)
    @given(u32, fields_for(t))
    def check(seq, fields):
        # Too long for a frame is an answer too (an assume() here threw away most of HELLO's
        # examples, several strings of up to 255 bytes, and failed Hypothesis's health check).
        if payload_len(t, fields) > P.MAX_PAYLOAD:
            with pytest.raises(P.CodecError):
                P.encode(t, seq, fields)
            return
        msg = P.decode(P.encode(t, seq, fields))
        assert msg.type == t and all(msg.fields[k] == v for k, v in fields.items())
    check()


@SETTINGS
@given(u32, u32, st.integers(0, 10000), st.integers(0, 3), st.integers(0, 3),
       st.integers(0, 200000), st.integers(0, 10**7), st.binary(min_size=P.MAX_WIRE, max_size=P.MAX_WIRE))
@example(0xFFFFFFFF, 0xFFFFFFFF, 4095, 3, 3, 65535, 65535, bytes(P.MAX_WIRE))
@example(0, 0, 0, 0, 0, 0, 0, b"\xff" * P.MAX_WIRE)
def test_encode_event_into_equals_encode(seq, onset, duration, kind, channel, peak, area, junk):
    buf = bytearray(junk)  # whatever was in the buffer must not matter
    n = P.encode_event_into(buf, seq, onset, duration, kind, channel, peak, area)
    want = P.encode(P.EVENT, seq, {"onset": onset, "duration": min(duration, 4095), "kind": kind,
                                   "channel": channel, "peak": min(peak, 65535),
                                   "area": min(area, 65535)})
    assert n == P.EVENT_WIRE_LEN == len(want) == 20
    assert bytes(buf[:n]) == want
    f = P.decode(want).fields
    assert (f["duration"], f["kind"], f["channel"]) == (min(duration, 4095), kind, channel)
    assert f["dkc"] == min(duration, 4095) | kind << 12 | channel << 14


@SETTINGS
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400), st.data(), u32, u32, u8,
       st.booleans())
def test_encode_samples_into_with_ring_wrap(ring_vals, data, seq, first, channel, as_array):
    size = len(ring_vals)
    start = data.draw(st.integers(0, size - 1), "start")
    count = data.draw(st.integers(0, min(P.SAMPLES_MAX, size)), "count")
    ring = array("h", ring_vals) if as_array else list(ring_vals)
    buf = bytearray(b"\xa5" * P.MAX_WIRE)
    n = P.encode_samples_into(buf, seq, first, channel, ring, start, count)
    samples = [ring_vals[(start + k) % size] for k in range(count)]
    want = P.encode(P.SAMPLES, seq, {"first_index": first, "channel": channel, "samples": samples})
    assert n == P.samples_wire_len(count) == len(want)
    assert bytes(buf[:n]) == want


def test_encode_samples_into_limits():
    buf = bytearray(P.MAX_WIRE)
    ring = array("h", range(200))
    assert P.encode_samples_into(buf, 0, 0, 0, ring, 150, P.SAMPLES_MAX) == P.MAX_WIRE - 1
    with pytest.raises(P.CodecError):
        P.encode_samples_into(buf, 0, 0, 0, ring, 0, P.SAMPLES_MAX + 1)
    assert P.samples_wire_len(100) == 216


def test_encode_rejects_bad_fields():
    for t, fields in [(P.PING, {}), (P.PING, {"nonce": -1}), (P.PING, {"nonce": 2**32}),
                      (P.ACK, {"ref": 1, "ref_type": 256}), (P.CONFIG_GET, {"key": "x" * 256}),
                      (P.CONFIG_SET, {"key": "k", "value": 2**31}), (P.CONFIG_SET, {"key": "k", "value": 1.5}),
                      (P.CONFIG_GET, {"key": b"bytes"}), (P.CONFIG_GET, {"key": "\ud800"}),
                      (P.SAMPLES, {"first_index": 0, "channel": 0, "samples": [40000]}),
                      (P.SAMPLES, {"first_index": 0, "channel": 0, "samples": [0] * 120}),
                      (P.LOG_CHUNK, {"ref": 0, "flags": 0, "oldest_seq": 0, "next_seq": 0,
                                     "records": [256]}),
                      (P.EVENT, {"onset": 0}), (P.EVENT, {"onset": 0, "duration": None, "kind": 0,
                                                         "channel": 0, "peak": 0, "area": 0})]:
        with pytest.raises(P.CodecError):
            P.encode(t, 1, fields)
    with pytest.raises(P.CodecError):
        P.encode(0x7F, 1, {})
    with pytest.raises(P.CodecError):
        P.encode_frame(0x7F, 1, bytes(P.MAX_PAYLOAD + 1))
    assert len(P.encode_frame(0x7F, 1, b"\x01" * P.MAX_PAYLOAD)) == P.MAX_WIRE


# ---- robustness of decode()


def _decode_checked(frame):
    """decode() may only raise CodecError; what it accepts must be genuine."""
    try:
        m = P.decode(frame)
    except P.CodecError:
        return None
    fails = []
    ref.check_accepted(frame, m, fails)
    assert not fails, fails
    return m


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_decode_random_bytes(data):
    _decode_checked(data)
    _decode_checked(data + b"\x00")


@SETTINGS
@given(valid_frame(), st.data())
def test_decode_truncations(frame, data):
    for k in range(len(frame)):
        _decode_checked(frame[:k])
        _decode_checked(frame[:k] + b"\x00")


@SETTINGS
@given(valid_frame(), st.lists(st.integers(0, 10**6), min_size=1, max_size=4))
def test_decode_bit_flips(frame, flips):
    f = bytearray(frame)
    for x in flips:
        f[x % len(f)] ^= 1 << (x // len(f) % 8)
    _decode_checked(bytes(f))


@SETTINGS
@given(valid_frame(), st.integers(0, 10**6))
def test_single_bit_error_in_body_is_always_a_crc_error(frame, x):
    body = bytearray(P.cobs_decode(frame[:-1]))
    body[x % len(body)] ^= 1 << (x // len(body) % 8)
    with pytest.raises(P.CodecError, match="CRC mismatch"):
        P.decode(P.cobs_encode(bytes(body)) + b"\x00")


@SETTINGS
@given(valid_frame(), valid_frame(), st.integers(0, 300), st.integers(0, 300))
def test_decode_spliced(a, b, i, j):
    _decode_checked(a[:i % (len(a) + 1)] + b[j % (len(b) + 1):])


@SETTINGS
@given(st.sampled_from(sorted(P.SCHEMA)), u32, st.binary(max_size=P.MAX_PAYLOAD))
def test_decode_random_payload_with_valid_crc(t, seq, payload):
    """Exercises the field decoders: malformed payloads are CodecError, and
    anything accepted re-encodes to the payload (trailing bytes ignored)."""
    _decode_checked(P.encode_frame(t, seq, payload))


def test_decode_rejects_noncanonical_values():
    for payload in (b"\x01k\x03\x02", b"\x01k\x03\xff", b"\x01k\x02\x02\xc0\x80", b"\x01k\x07"):
        with pytest.raises(P.CodecError):
            P.decode(P.encode_frame(P.CONFIG_SET, 1, payload))
    assert P.decode(P.encode_frame(P.CONFIG_SET, 1, b"\x01k\x03\x01")).fields["value"] is True


def test_unknown_type_and_trailing_bytes_are_not_errors():
    m = P.decode(P.encode_frame(0x99, 5, b"\x00\x01"))
    assert (m.type, m.seq, m.fields, m.name) == (0x99, 5, {"payload": b"\x00\x01"}, "UNKNOWN_99")
    m = P.decode(P.encode_frame(P.PING, 6, b"\x01\x02\x03\x04\x05\x06"))
    assert m.fields == {"nonce": 0x04030201}


# ---- StreamDecoder

piece = st.one_of(
    valid_frame(),
    st.binary(max_size=40),
    st.binary(min_size=250, max_size=400).map(lambda b: b.replace(b"\x00", b"\x01")),  # overrun
    st.just(b"\x00"),
    st.tuples(valid_frame(), st.integers(0, 10**5)).map(
        lambda p: p[0][:p[1] % len(p[0])] + bytes([p[0][p[1] % len(p[0])] ^ (1 << (p[1] % 8))])
        + p[0][p[1] % len(p[0]) + 1:]),
    st.tuples(valid_frame(), st.integers(0, 300)).map(lambda p: p[0][:p[1] % len(p[0])]),
)


def _feed_all(sd, data, chunks):
    out = []
    i = 0
    k = 0
    while i < len(data):
        step = chunks[k % len(chunks)]
        out.extend(sd.feed(data[i:i + step]))
        i += step
        k += 1
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(piece, max_size=12), st.lists(st.integers(1, 70), min_size=1, max_size=8))
def test_stream_decoder_matches_reference(pieces, chunks):
    data = b"".join(pieces)
    sd = P.StreamDecoder()
    got = _feed_all(sd, data, chunks)  # must not raise
    want_segs = [s for s in ref.ref_stream(data) if ref.ref_body(s) is not None]
    want = []
    for s in want_segs:
        try:
            want.append((s, P.decode(s)))
        except P.CodecError:
            pass
    assert [m for _, m in want] == got
    for (seg, m) in want:  # every yielded message: CRC verified independently, re-encodes
        fails = []
        ref.check_accepted(seg, m, fails)
        assert not fails
    assert sd.frames == len(got)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), valid_frame(), st.lists(st.integers(1, 70), min_size=1, max_size=5))
def test_stream_decoder_recovers_after_garbage(garbage, frame, chunks):
    sd = P.StreamDecoder()
    got = _feed_all(sd, garbage + b"\x00" + frame, chunks)
    assert got and got[-1] == P.decode(frame)
    # and a decoder that has seen garbage keeps working for the next frame too
    assert sd.feed(frame) == [P.decode(frame)]


def test_stream_decoder_counters():
    sd = P.StreamDecoder()
    ping = P.encode(P.PING, 1, {"nonce": 2})
    bad_crc = bytearray(ping)
    bad_crc[-3] ^= 0x40
    out = sd.feed(b"\x00\x00" + ping + bytes(bad_crc) + b"\x05\x01\x00" + b"\x11" * 300 + b"\x00" + ping)
    assert len(out) == 2 and (sd.frames, sd.crc_errors, sd.bad_frames, sd.overruns) == (2, 1, 1, 1)
    assert sd.errors == 3 and sd.garbage_bytes >= 300


# ---- CRC and COBS


def test_crc_check_value():
    assert P.crc16(b"123456789") == 0x29B1
    assert P.crc16(b"xx123456789yy", 2, 11) == 0x29B1
    assert P.crc16(b"56789", crc=P.crc16(b"1234")) == 0x29B1
    assert P.crc16(b"") == 0xFFFF
    assert ref.ref_crc(b"123456789") == 0x29B1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_crc_matches_bitwise_reference(data):
    assert P.crc16(data) == ref.ref_crc(data)
    assert P.crc16(bytearray(data)) == ref.ref_crc(data)


@pytest.mark.parametrize("data, enc", [
    (b"", b"\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (bytes(range(1, 254)), b"\xfe" + bytes(range(1, 254))),
    (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01"),
    (bytes(range(1, 256)), b"\xff" + bytes(range(1, 255)) + b"\x02\xff"),
    (b"\x01" * 508, b"\xff" + b"\x01" * 254 + b"\xff" + b"\x01" * 254 + b"\x01"),
    (bytes(10), b"\x01" * 11),
], ids=["empty", "zero", "two_zeros", "wikipedia", "trailing_zeros", "253", "254", "255", "508",
        "all_zeros"])
def test_cobs_edge_cases(data, enc):
    assert P.cobs_encode(data) == enc
    assert P.cobs_decode(enc) == data
    assert ref.ref_unstuff(enc) == data


def test_cobs_accepts_other_encoders_254_run():
    # encoders that omit the final empty group after a 254-byte run are fine too
    data = bytes(range(1, 255))
    assert P.cobs_decode(b"\xff" + data) == data


@pytest.mark.parametrize("enc", [b"\x00", b"\x02", b"\x03\x01", b"\x02\x00", b"\x01\x00\x01"])
def test_cobs_malformed(enc):
    with pytest.raises(P.CodecError):
        P.cobs_decode(enc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1000))
def test_cobs_round_trip(data):
    enc = P.cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + len(data) // 254 + 1
    assert P.cobs_decode(enc) == data == ref.ref_unstuff(enc)
    if len(data) <= P.MAX_BODY:
        assert len(enc) == len(data) + 1
        buf = bytearray(b"\xee") + bytearray(data) + bytearray(b"\xee" * 3)
        assert P._cobs_in_place(buf, len(data)) == len(data) + 2
        assert bytes(buf[:len(data) + 2]) == enc + b"\x00"


# ---- log records


record = st.sampled_from([P.EVENT, P.MARK, P.STATUS, P.TIME]).flatmap(
    lambda t: st.tuples(st.just(t), u32, u32, fields_for(t)))


@SETTINGS
@given(st.lists(record, max_size=6))
def test_records_round_trip(recs):
    blob = b"".join(P.encode_record(t, s, b, P.encode_payload(t, f)) for t, s, b, f in recs)
    out = P.decode_records(blob)
    assert [(t, s, b) for t, s, b, _ in out] == [(t, s, b) for t, s, b, _ in recs]
    for (_, _, _, got), (_, _, _, f) in zip(out, recs):
        assert all(got[k] == v for k, v in f.items())


@SETTINGS
@given(st.lists(record, min_size=1, max_size=4), st.integers(0, 10**6))
def test_records_bit_flip_is_never_data(recs, x):
    blob_orig = b"".join(P.encode_record(t, s, b, P.encode_payload(t, f)) for t, s, b, f in recs)
    blob = bytearray(blob_orig)
    blob[x % len(blob)] ^= 1 << (x // len(blob) % 8)
    try:
        out = P.decode_records(bytes(blob))
    except P.CodecError:
        return
    # A flip in a length byte moves the CRC window, so parsing can succeed by
    # chance (p ~ 2^-16); it can never give back the original records.
    assert out != P.decode_records(bytes(blob_orig))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_records_random_blob_only_codec_error(blob):
    try:
        P.decode_records(blob)
    except P.CodecError:
        pass


# ---- MicroPython unix port


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpy_codec")
    compile_mpy([PROTO / "myoproto.py"], d)
    return d


def test_fuzz_micropython(mpy_dir):
    r = run_micropython(MP_DIR / "fuzz_codec.py", heapsize="256k", args=("30000", "20251125"),
                        path=(str(mpy_dir),), timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^fuzz inputs (\d+) streams (\d+) accepted (\d+) rejected (\d+) failures (\d+)$",
                  r.stdout, re.M)
    assert m, r.stdout + r.stderr
    inputs, streams, accepted, rejected, failures = map(int, m.groups())
    assert failures == 0, r.stdout
    assert inputs >= 10000 and streams > 0 and accepted > 0 and rejected > 0


def test_fuzz_cpython_same_script():
    lines = []
    inputs, failures = ref.run(3000, 7, out=lines.append)
    assert inputs == 3000 and failures == 0, lines


def test_hot_path_encoders_allocate_nothing_micropython(mpy_dir):
    r = run_micropython(MP_DIR / "alloc_codec.py", heapsize="64k", path=(str(mpy_dir),))
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"^alloc event (-?\d+) samples (-?\d+) calls (\d+)$", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    print(r.stdout.strip())
    assert (int(m.group(1)), int(m.group(2)), int(m.group(3))) == (0, 0, 1000)


def test_optional_trailing_field_absent_present_and_truncated():
    """HELLO.device_id was appended (SPEC section 9): an older sender's HELLO decodes without it
    and re-encodes to the same bytes; a newer one carries it; a payload cut inside it is
    malformed, not silently shortened."""
    base = {"ref": 1, "proto": 1, "fw_version": "0.1.0", "build_hash": bytes(8), "board": "b",
            "channels": 1, "fs": 1000, "config_hash": 2, "boot_id": 3}
    old = P.encode(P.HELLO, 5, base)
    msg = P.decode(old)
    assert "device_id" not in msg.fields and P.encode(P.HELLO, 5, msg.fields) == old
    new = P.encode(P.HELLO, 5, dict(base, device_id="a2d75b0a55b9"))
    assert len(new) == len(old) + 13
    assert P.decode(new)["device_id"] == "a2d75b0a55b9"
    payload = P.encode_payload(P.HELLO, dict(base, device_id="a2d75b0a55b9"))
    with pytest.raises(P.CodecError, match="truncated"):
        P.decode(P.encode_frame(P.HELLO, 5, payload[:-4]))
