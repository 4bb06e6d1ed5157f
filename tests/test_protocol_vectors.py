"""The codec against the golden vectors (protocol/vectors.json) and SPEC.md.

The same checks run under CPython (one test per vector) and under the
MicroPython unix port (tests/mp/check_vectors.py, one run over all vectors).
vectors.json is never regenerated here: it is the reference.
"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from mpvm import compile_mpy, run_micropython

ROOT = Path(__file__).resolve().parent.parent
PROTO = ROOT / "protocol"
VECTORS_PATH = PROTO / "vectors.json"
SPEC_PATH = PROTO / "SPEC.md"
CHECKER = Path(__file__).resolve().parent / "mp" / "check_vectors.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _load_with_codec(name, path):
    """Load a script that does `import myoproto`, handing it our P (and not
    whatever other copy some other test may have imported under that name)."""
    saved = sys.modules.get("myoproto")
    sys.modules["myoproto"] = P
    try:
        return _load(name, path)
    finally:
        if saved is None:
            del sys.modules["myoproto"]
        else:
            sys.modules["myoproto"] = saved


P = _load("myoproto_under_test", PROTO / "myoproto.py")
checker = _load_with_codec("check_vectors", CHECKER)

VECTORS = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
VALID = [v for v in VECTORS if "error" not in v]
INVALID = [v for v in VECTORS if "error" in v]


def _ids(vs):
    return [v["name"] for v in vs]


def test_vector_file_shape():
    names = [v["name"] for v in VECTORS]
    assert len(names) == len(set(names)), "vector names must be unique"
    for v in VALID:
        assert set(v) >= {"name", "type", "seq", "fields", "hex"}, v["name"]
        assert v["hex"].endswith("00") and "00" not in [v["hex"][i:i + 2] for i in range(0, len(v["hex"]) - 2, 2)]
        assert len(v["hex"]) // 2 <= P.MAX_WIRE
    for v in INVALID:
        assert set(v) == {"name", "hex", "error", "match"}, v["name"]
        assert v["error"] == "CodecError"
    assert len(INVALID) >= 5


@pytest.mark.parametrize("vec", VALID, ids=_ids(VALID))
def test_valid_vector_cpython(vec):
    assert checker.check_vector(vec) == []


@pytest.mark.parametrize("vec", VALID, ids=_ids(VALID))
def test_valid_vector_plain(vec):
    """The same property spelled out without the shared checker."""
    wire = bytes.fromhex(vec["hex"])
    fields = checker.from_json(vec["fields"])
    msg = P.decode(wire)
    assert (msg.name if not vec["type"].startswith("UNKNOWN_") else vec["type"]) == vec["type"]
    assert msg.seq == vec["seq"]
    assert msg.fields == fields
    for k, v in fields.items():
        assert type(msg.fields[k]) is type(v), k  # bool stays bool, bytes stay bytes
    if not vec.get("decode_only") and msg.type in P.SCHEMA:
        assert P.encode(msg.type, vec["seq"], fields) == wire
    # wire length is always body + 2 (COBS adds exactly one byte)
    assert len(wire) == len(P.cobs_decode(wire[:-1])) + 2


@pytest.mark.parametrize("vec", INVALID, ids=_ids(INVALID))
def test_invalid_vector_cpython(vec):
    with pytest.raises(P.CodecError, match=re.escape(vec["match"])):
        P.decode(bytes.fromhex(vec["hex"]))
    assert checker.check_vector(vec) == []


def test_checker_detects_wrong_vectors():
    """The checker used on MicroPython must be able to fail."""
    v = dict(next(x for x in VALID if x["type"] == "EVENT"))
    bad_hex = dict(v, hex=v["hex"][:-6] + ("00" if v["hex"][-6:-4] != "00" else "01") + v["hex"][-4:])
    assert checker.check_vector(bad_hex)
    bad_field = dict(v, fields=dict(v["fields"], peak=v["fields"]["peak"] ^ 1))
    assert checker.check_vector(bad_field)
    cfg = next(x for x in VALID if x["type"] == "CONFIG_VALUE" and x["fields"]["value"] is True)
    as_int = dict(cfg, fields=dict(cfg["fields"], value=1))
    assert checker.check_vector(as_int), "bool must not compare equal to int"
    inv = dict(INVALID[0], match="no such text")
    assert checker.check_vector(inv)
    checked, failures = checker.check_all([bad_hex, inv, VALID[0]], out=lambda s: None)
    assert (checked, failures) == (3, 2)


# ---- coverage of the spec by the vectors

HEADING = re.compile(r"^### ([A-Z][A-Z0-9_]*) \(0x([0-9A-Fa-f]{2})\)\s*$", re.M)


def _spec_types():
    text = SPEC_PATH.read_text(encoding="utf-8")
    found = HEADING.findall(text)
    assert found, "no '### NAME (0xNN)' headings in SPEC.md"
    names = [n for n, _ in found]
    assert len(names) == len(set(names)), "duplicate message headings in SPEC.md"
    return {n: int(c, 16) for n, c in found}


def test_spec_types_match_codec():
    spec = _spec_types()
    codec = {name: code for code, (name, _) in P.SCHEMA.items()}
    for name, code in spec.items():
        assert name in codec, "SPEC.md documents %s, the codec does not know it" % name
        assert codec[name] == code, "%s is 0x%02X in SPEC.md, 0x%02X in the codec" % (
            name, code, codec[name])
    for name in codec:
        assert name in spec, "codec type %s has no '### %s (0x..)' section in SPEC.md" % (name, name)


def test_every_spec_type_has_a_vector():
    covered = {v["type"] for v in VALID}
    missing = [n for n in _spec_types() if n not in covered]
    assert not missing, "message types without a golden vector: %s" % missing


def test_event_vectors_cover_kinds_channels_saturation():
    events = [checker.from_json(v["fields"]) for v in VALID if v["type"] == "EVENT"]
    assert {(e["kind"], e["channel"]) for e in events} >= {(k, c) for k in range(4) for c in range(4)}
    assert any(e["duration"] == P.DURATION_MAX and e["peak"] == 0xFFFF and e["area"] == 0xFFFF
               for e in events)
    sat = [v for v in VALID if v["type"] == "EVENT" and v.get("into", {}).get("duration", 0) > 4095]
    assert sat and sat[0]["into"]["peak"] > 0xFFFF and sat[0]["into"]["area"] > 0xFFFF
    tags = {type(checker.from_json(v["fields"])["value"]).__name__
            for v in VALID if v["type"] in ("CONFIG_VALUE", "CONFIG_SET")}
    assert tags == {"int", "str", "bool"}
    samples = [s for v in VALID if v["type"] == "SAMPLES" for s in v["fields"]["samples"]]
    assert min(samples) == -32768 and max(samples) == 32767 and 0 in samples
    assert any(any(ord(ch) > 0xFFFF for ch in json.dumps(v["fields"], ensure_ascii=False))
               for v in VALID), "want a non-BMP (4-byte UTF-8) string"
    assert any(v["type"] == "NACK" and v["fields"]["reason"] for v in VALID)


def test_spec_error_codes_match_codec():
    text = SPEC_PATH.read_text(encoding="utf-8")
    rows = dict((int(c), n) for c, n in re.findall(r"^\| (\d+) \| (E_[A-Z_]+) \|", text, re.M))
    codec = {getattr(P, n): n for n in dir(P) if n.startswith("E_")}
    assert rows == codec


def test_spec_states_key_constants():
    text = SPEC_PATH.read_text(encoding="utf-8")
    for needle in ("0x29B1", "0x1021", "0xFFFF", "253", "255", "6E400001", "6E400002",
                   "6E400003", "B5A3-F393-E0A9-E50E24DCCA9E", "2,160", "49.7 days"):
        assert needle in text, needle
    assert P.crc16(b"123456789") == 0x29B1
    assert (P.MAX_BODY, P.MAX_WIRE, P.MAX_PAYLOAD, P.SAMPLES_MAX, P.EVENT_WIRE_LEN) == (253, 255, 245, 119, 20)


# ---- MicroPython


@pytest.fixture(scope="module")
def mpy_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpy_vectors")
    compile_mpy([PROTO / "myoproto.py"], d)
    return d


def test_vectors_micropython(mpy_dir):
    r = run_micropython(CHECKER, heapsize="1m", args=(str(VECTORS_PATH),), path=(str(mpy_dir),))
    assert r.returncode == 0, r.stderr
    m = re.search(r"^checked (\d+) vectors, (\d+) failures$", r.stdout, re.M)
    assert m, r.stdout + r.stderr
    assert int(m.group(1)) == len(VECTORS), r.stdout
    assert int(m.group(2)) == 0, r.stdout
