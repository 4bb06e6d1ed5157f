# Check myoproto against protocol/vectors.json. Runs under MicroPython (unix
# port) and CPython alike:
#
#   micropython tests/mp/check_vectors.py protocol/vectors.json
#
# with myoproto importable (for MicroPython: compiled to .mpy, its directory on
# the path). Prints one "FAIL <name>: <why>" line per problem and, last,
#   checked <n> vectors, <f> failures
# tests/test_protocol_vectors.py imports check_vector() for CPython and parses
# the summary line for MicroPython.

import sys
import json
from array import array

import myoproto as P


def unhex(s):
    return bytes.fromhex(s)


def from_json(v):
    """JSON vector value -> codec value ({"hex": ...} -> bytes)."""
    if isinstance(v, dict):
        if len(v) == 1 and "hex" in v:
            return unhex(v["hex"])
        out = {}
        for k in v:
            out[k] = from_json(v[k])
        return out
    if isinstance(v, list):
        return [from_json(x) for x in v]
    return v


def same(a, b):
    """Equality that also tells bool from int and bytes from str."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (bytes, bytearray)) or isinstance(b, (bytes, bytearray)):
        return (isinstance(a, (bytes, bytearray)) and isinstance(b, (bytes, bytearray))
                and bytes(a) == bytes(b))
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict)) or len(a) != len(b):
            return False
        for k in a:
            if k not in b or not same(a[k], b[k]):
                return False
        return True
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        if not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple))) or len(a) != len(b):
            return False
        for i in range(len(a)):
            if not same(a[i], b[i]):
                return False
        return True
    return type(a) is type(b) and a == b


def type_code(name):
    if name.startswith("UNKNOWN_"):
        return int(name[8:], 16)
    return P.TYPE_BY_NAME[name]


def _raises(fn, arg, match):
    """None if fn(arg) raises CodecError containing match, else a complaint."""
    try:
        fn(arg)
    except P.CodecError as e:
        if match not in str(e):
            return "CodecError %r does not contain %r" % (str(e), match)
        return None
    except Exception as e:  # noqa: BLE001 - anything else is a codec bug
        return "raised %s(%s), not CodecError" % (type(e).__name__, e)
    return "did not raise"


def check_vector(v, buf=None):
    """Return a list of failure strings for one vector (empty = pass)."""
    fails = []
    wire = unhex(v["hex"])
    if buf is None:
        buf = bytearray(P.MAX_WIRE)

    if "error" in v:
        why = _raises(P.decode, wire, v["match"])
        if why:
            fails.append("decode: " + why)
        # In a stream the same bytes yield nothing (an empty frame is just an
        # idle delimiter there, and a stray 0x00 splits a frame in two).
        sd = P.StreamDecoder()
        try:
            got = sd.feed(wire)
            if got or sd.errors != (0 if wire == b"\x00" else wire.count(b"\x00")):
                fails.append("StreamDecoder: %d messages, %d errors" % (len(got), sd.errors))
        except Exception as e:  # noqa: BLE001
            fails.append("StreamDecoder.feed raised %s(%s)" % (type(e).__name__, e))
        return fails

    code = type_code(v["type"])
    fields = from_json(v["fields"])
    seq = v["seq"]

    # decode, with and without the delimiter, and from a stream
    for w in (wire, wire[:-1], bytearray(wire), memoryview(wire)):
        try:
            m = P.decode(w)
        except Exception as e:  # noqa: BLE001
            fails.append("decode raised %s(%s)" % (type(e).__name__, e))
            return fails
        if m.type != code or m.seq != seq or m.version != P.VERSION:
            fails.append("decode header: type %r seq %r version %r" % (m.type, m.seq, m.version))
        if not same(m.fields, fields):
            fails.append("decode fields: %r != %r" % (m.fields, fields))
    sd = P.StreamDecoder()
    got = sd.feed(b"\x00garbage\x00\x00" + wire[:3])
    got += sd.feed(wire[3:] + b"\x00")
    if len(got) != 1 or got[0].type != code or got[0].seq != seq or not same(got[0].fields, fields):
        fails.append("StreamDecoder: %r" % (got,))
    elif sd.frames != 1 or sd.errors != 1:
        fails.append("StreamDecoder counters: frames %d errors %d" % (sd.frames, sd.errors))

    # encode
    if not v.get("decode_only"):
        try:
            if code in P.SCHEMA:
                enc = P.encode(code, seq, fields)
                enc2 = P.encode_message(P.Message(code, seq, fields))
                if enc2 != enc:
                    fails.append("encode_message differs from encode")
            else:
                enc = P.encode_frame(code, seq, fields["payload"])
            if enc != wire:
                fails.append("encode: %s != %s" % (enc.hex(), v["hex"]))
        except Exception as e:  # noqa: BLE001
            fails.append("encode raised %s(%s)" % (type(e).__name__, e))

    # allocation-free encoders
    if code == P.EVENT and "into" in v:
        a = v["into"]
        n = P.encode_event_into(buf, seq, a["onset"], a["duration"], a["kind"], a["channel"],
                                a["peak"], a["area"])
        if n != P.EVENT_WIRE_LEN or bytes(buf[:n]) != wire:
            fails.append("encode_event_into: %s" % bytes(buf[:n]).hex())
    if code == P.SAMPLES and not v.get("decode_only"):
        samples = fields["samples"]
        cnt = len(samples)
        # put the samples into a ring so that they wrap around its end
        size = cnt + 5
        start = size - cnt // 2 - 1
        ring = array("h", [0] * size)
        for k in range(cnt):
            ring[(start + k) % size] = samples[k]
        n = P.encode_samples_into(buf, seq, fields["first_index"], fields["channel"], ring,
                                  start, cnt)
        if n != P.samples_wire_len(cnt) or bytes(buf[:n]) != wire:
            fails.append("encode_samples_into: %s" % bytes(buf[:n]).hex())

    # log records inside LOG_CHUNK
    if "records" in v:
        blob = fields["records"]
        try:
            recs = P.decode_records(blob)
        except Exception as e:  # noqa: BLE001
            fails.append("decode_records raised %s(%s)" % (type(e).__name__, e))
            recs = None
        want = v["records"]
        if recs is not None:
            if len(recs) != len(want):
                fails.append("decode_records: %d records, want %d" % (len(recs), len(want)))
            else:
                for k in range(len(want)):
                    r, w = recs[k], want[k]
                    if (r[0] != P.TYPE_BY_NAME[w["type"]] or r[1] != w["seq"]
                            or r[2] != w["boot_id"] or not same(r[3], from_json(w["fields"]))):
                        fails.append("record %d: %r" % (k, r))
        again = b""
        for w in want:
            t = P.TYPE_BY_NAME[w["type"]]
            again += P.encode_record(t, w["seq"], w["boot_id"],
                                     P.encode_payload(t, from_json(w["fields"])))
        if again != blob:
            fails.append("encode_record: %s" % again.hex())
    if "records_error" in v:
        why = _raises(P.decode_records, fields["records"], v["records_error"])
        if why:
            fails.append("decode_records: " + why)
    return fails


def check_all(vectors, out=print):
    buf = bytearray(P.MAX_WIRE)
    checked = 0
    failures = 0
    for v in vectors:
        try:
            fails = check_vector(v, buf)
        except Exception as e:  # noqa: BLE001
            fails = ["checker raised %s(%s)" % (type(e).__name__, e)]
        checked += 1
        for f in fails:
            out("FAIL %s: %s" % (v.get("name"), f))
        if fails:
            failures += 1
    return checked, failures


def main(path):
    with open(path) as f:
        vectors = json.load(f)
    checked, failures = check_all(vectors)
    print("checked %d vectors, %d failures" % (checked, failures))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "protocol/vectors.json")
