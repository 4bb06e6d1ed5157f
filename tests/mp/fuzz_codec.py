# Fuzz myoproto's decoders under MicroPython (unix port); also runs on CPython.
#
#   micropython -X heapsize=256k tests/mp/fuzz_codec.py [n_inputs] [seed]
#
# Feeds random bytes, bit-flipped / truncated / spliced valid frames and
# random payloads with a valid CRC through decode(), and streams of all of
# these through StreamDecoder, checking that:
#   - decode() raises nothing but CodecError;
#   - every frame decode() accepts has a body whose CRC checks (verified with
#     an independent bitwise CRC) and re-encodes to the same bytes (the
#     payload may carry trailing bytes of a newer sender: then the re-encoded
#     payload must be a prefix of it);
#   - StreamDecoder.feed never raises and yields exactly the frames that an
#     independent reference model of the stream rules (SPEC section 2) says
#     are valid, in order: nothing corrupt, and the next valid frame after any
#     garbage that is followed by a delimiter.
# Last line printed:
#   fuzz inputs <n> streams <s> accepted <a> rejected <r> failures <f>

import sys
import random

import myoproto as P

# ---- independent reference implementation (not using myoproto's framing)


def ref_crc(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def ref_unstuff(enc):
    """COBS-decode enc (no delimiter); None if malformed."""
    out = bytearray()
    i = 0
    n = len(enc)
    while i < n:
        c = enc[i]
        if c == 0 or i + c > n:
            return None
        blk = enc[i + 1:i + c]
        if 0 in blk:
            return None
        out.extend(blk)
        i += c
        if c != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def ref_body(frame):
    """The body of one frame (delimiter optional) if framing, length, CRC and
    version are right, else None."""
    if len(frame) and frame[-1] == 0:
        frame = frame[:-1]
    if len(frame) > P.MAX_WIRE - 1:
        return None
    body = ref_unstuff(frame)
    if body is None or not 8 <= len(body) <= 253:
        return None
    if ref_crc(body[:-2]) != body[-2] | body[-1] << 8 or body[0] != 1:
        return None
    return body


def ref_stream(data):
    """Segments of a byte stream that a conforming receiver must look at:
    split at 0x00, idle (empty) segments and overruns (> 254 bytes) dropped.
    A trailing segment without delimiter is incomplete and not returned."""
    segs = []
    start = 0
    n = len(data)
    for i in range(n):
        if data[i] == 0:
            ln = i - start
            if 0 < ln <= P.MAX_WIRE - 1:
                segs.append(bytes(data[start:i]))
            start = i + 1
    return segs


def check_accepted(frame, m, fails):
    """m = decode(frame) succeeded: verify it independently."""
    body = ref_body(frame)
    if body is None:
        fails.append("accepted a frame the reference rejects: %s" % bytes(frame).hex())
        return
    payload = body[6:-2]
    if m.type != body[1] or m.seq != (body[2] | body[3] << 8 | body[4] << 16 | body[5] << 24):
        fails.append("header mismatch: %s" % bytes(frame).hex())
        return
    try:
        if m.type in P.SCHEMA:
            pl = P.encode_payload(m.type, m.fields)
            if payload[:len(pl)] != pl:
                fails.append("re-encoded payload differs: %s vs %s" % (pl.hex(), payload.hex()))
            elif len(pl) == len(payload):
                f = frame if frame[-1] == 0 else bytes(frame) + b"\x00"
                if P.encode(m.type, m.seq, m.fields) != f:
                    fails.append("re-encoded frame differs: %s" % bytes(frame).hex())
        else:
            if m.fields.get("payload") != payload:
                fails.append("unknown type payload differs")
    except Exception as e:  # noqa: BLE001
        fails.append("re-encoding raised %s(%s) for %s" % (type(e).__name__, e, bytes(frame).hex()))


# ---- random inputs (only random.seed / getrandbits: present on MicroPython)


def rnd(n):
    """Uniform int in [0, n)."""
    if n <= 1:
        return 0
    bits = 1
    while (1 << bits) < n:
        bits += 1
    while True:
        if bits <= 30:
            v = random.getrandbits(bits)
        else:
            v = random.getrandbits(30) | random.getrandbits(bits - 30) << 30
        if v < n:
            return v


def rbytes(n, zeros=True):
    out = bytearray(n)
    for i in range(n):
        b = random.getrandbits(8)
        if not zeros and b == 0:
            b = 1 + rnd(255)
        out[i] = b
    return bytes(out)


ALPHABET = ("a", "Z", "0", " ", "-", "_", ".", "\x00", "\x7f", "é", "ø", "µ", "✓", "—", "🦵", "€")


def rstr(maxlen):
    s = ""
    for _ in range(rnd(maxlen + 1)):
        s += ALPHABET[rnd(len(ALPHABET))]
    return s


def rfield(code):
    if code == "B":
        return random.getrandbits(8)
    if code == "H":
        return random.getrandbits(16)
    if code == "I":
        return random.getrandbits(16) << 16 | random.getrandbits(16)
    if code == "Q":
        return (random.getrandbits(32) << 32) | random.getrandbits(32)
    if code[-1] == "s":  # fixed-size bytes: 8s, 16s, 32s
        return rbytes(int(code[:-1]))
    if code == "str":
        return rstr(12)
    if code == "val":
        k = rnd(3)
        if k == 0:
            return (random.getrandbits(16) << 16 | random.getrandbits(16)) - 0x80000000
        if k == 1:
            return rstr(10)
        return rnd(2) == 1
    if code == "h#":
        return [random.getrandbits(16) - 32768 for _ in range(rnd(P.SAMPLES_MAX + 1))]
    if code == "H#":
        return [random.getrandbits(16) for _ in range(rnd(9))]
    if code == "y#":
        return rbytes(rnd(80))
    raise ValueError(code)


TYPES = sorted(P.SCHEMA)


def rmessage():
    """(type, seq, fields, frame) of a random valid message."""
    while True:
        t = TYPES[rnd(len(TYPES))]
        fields = {}
        for name, code in P.fields_of(t):
            fields[name] = rfield(code)
        seq = random.getrandbits(16) << 16 | random.getrandbits(16)
        try:
            return t, seq, fields, P.encode(t, seq, fields)
        except P.CodecError:
            pass  # too long for one frame: draw again


def mutate_payload(pl):
    pl = bytearray(pl)
    k = rnd(5)
    if k == 0 and pl:
        pl[rnd(len(pl))] = random.getrandbits(8)
    elif k == 1 and pl:
        pl = pl[:rnd(len(pl))]
    elif k == 2:
        pl.extend(rbytes(1 + rnd(4)))
    elif k == 3 and pl:
        pl[rnd(len(pl))] ^= 1 << rnd(8)
    else:
        pl = bytearray(rbytes(rnd(60)))
    return bytes(pl)


def rinput(pool):
    """One random decoder input (a frame-ish byte string)."""
    k = rnd(7)
    a = pool[rnd(len(pool))]
    if k == 0:
        return rbytes(rnd(300), zeros=rnd(2) == 0)
    if k == 1:
        f = bytearray(a)
        for _ in range(1 + rnd(3)):
            f[rnd(len(f))] ^= 1 << rnd(8)
        return bytes(f)
    if k == 2:
        f = a[:rnd(len(a) + 1)]
        return f + b"\x00" if rnd(2) else f
    if k == 3:
        b = pool[rnd(len(pool))]
        return a[:rnd(len(a) + 1)] + b[rnd(len(b) + 1):]
    if k == 4:
        t = TYPES[rnd(len(TYPES))] if rnd(8) else random.getrandbits(8)
        body_pl = P.encode_payload(t, rmessage_fields(t)) if t in P.SCHEMA else rbytes(rnd(20))
        pl = mutate_payload(body_pl)
        if len(pl) > P.MAX_PAYLOAD:
            pl = pl[:P.MAX_PAYLOAD]
        return P.encode_frame(t, random.getrandbits(32), pl, 1 if rnd(16) else random.getrandbits(8))
    return a  # a valid frame


def rmessage_fields(t):
    while True:
        fields = {}
        for name, code in P.fields_of(t):
            fields[name] = rfield(code)
        try:
            P.encode(t, 0, fields)
            return fields
        except P.CodecError:
            pass


def decode_one(frame, stats, fails):
    try:
        m = P.decode(frame)
    except P.CodecError:
        stats[1] += 1
        return
    except Exception as e:  # noqa: BLE001
        fails.append("decode raised %s(%s) on %s" % (type(e).__name__, e, bytes(frame).hex()))
        return
    stats[0] += 1
    check_accepted(frame, m, fails)


def stream_one(pieces, fails):
    data = b"".join(pieces)
    want = []
    for seg in ref_stream(data):
        if ref_body(seg) is not None:
            try:
                want.append(P.decode(seg))
            except P.CodecError:
                pass  # framing and CRC fine, payload malformed: dropped too
    sd = P.StreamDecoder()
    got = []
    i = 0
    try:
        while i < len(data):
            step = 1 + rnd(64)
            got.extend(sd.feed(data[i:i + step]))
            i += step
    except Exception as e:  # noqa: BLE001
        fails.append("StreamDecoder.feed raised %s(%s)" % (type(e).__name__, e))
        return
    if len(got) != len(want):
        fails.append("StreamDecoder yielded %d frames, reference %d: %s" % (len(got), len(want), data.hex()))
        return
    for k in range(len(want)):
        if got[k] != want[k]:
            fails.append("StreamDecoder frame %d: %r != %r" % (k, got[k], want[k]))


def run(n_inputs=10000, seed=20251125, out=print):
    random.seed(seed)
    fails = []
    stats = [0, 0]  # accepted, rejected
    pool = [rmessage()[3] for _ in range(32)]
    streams = 0
    inputs = 0
    pieces = []
    while inputs < n_inputs:
        if rnd(4) == 0:
            # a fresh valid message: must round-trip exactly
            t, seq, fields, frame = rmessage()
            pool[rnd(len(pool))] = frame
            m = P.decode(frame)
            if m.type != t or m.seq != seq or P.encode(t, seq, m.fields) != frame:
                fails.append("round trip of %s failed" % frame.hex())
        f = rinput(pool)
        decode_one(f, stats, fails)
        inputs += 1
        # the same input as a stream piece, sometimes followed by a delimiter
        pieces.append(f)
        if rnd(3) == 0:
            pieces.append(b"\x00" * (1 + rnd(2)))
        if len(pieces) >= 12:
            stream_one(pieces, fails)
            streams += 1
            pieces = []
        if len(fails) > 20:
            break
    for f in fails[:20]:
        out("FAIL " + f)
    out("fuzz inputs %d streams %d accepted %d rejected %d failures %d"
        % (inputs, streams, stats[0], stats[1], len(fails)))
    return inputs, len(fails)


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    s = int(sys.argv[2]) if len(sys.argv) > 2 else 20251125
    run(n, s)
