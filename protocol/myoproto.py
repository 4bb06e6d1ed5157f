# myotwitch wire protocol v1: the one codec shared by firmware (MicroPython) and host (CPython).
#
# Byte-level definition: protocol/SPEC.md. This module must stay importable by
# MicroPython >= 1.24 and CPython >= 3.11 unchanged: no typing at run time, no
# dataclasses, no f-string debug forms, only `struct` and `array` from the library.
#
# A frame on the wire is   COBS(body) 0x00   where
#   body = version u8 | type u8 | seq u32 LE | payload | crc16 u16 LE
# and crc16 is CRC-16/CCITT-FALSE over version..payload.
#
# Hot-path encoders (`encode_event_into`, `encode_samples_into`) write straight
# into a caller-supplied bytearray and allocate nothing: the firmware calls them
# for every detection and every block of raw samples.

import struct
from array import array

VERSION = 1

HEADER_LEN = 6
CRC_LEN = 2
MAX_BODY = 253  # 253 so that COBS adds exactly one byte and can work in place
MAX_WIRE = MAX_BODY + 2  # + COBS code byte + 0x00 delimiter
MAX_PAYLOAD = MAX_BODY - HEADER_LEN - CRC_LEN
SEQ_MASK = 0xFFFFFFFF
UNSOLICITED = 0xFFFFFFFF  # ref value of a response nobody asked for (HELLO at boot)

# Message types. Requests (host -> device) are answered with a message that
# starts with `ref`, the seq of the request.
HELLO_REQ = 0x01
HELLO = 0x02
PING = 0x03
PONG = 0x04
ACK = 0x05
NACK = 0x06
CONFIG_GET = 0x10
CONFIG_VALUE = 0x11
CONFIG_SET = 0x12
STATUS = 0x20
EVENT = 0x21
MARK = 0x22
STREAM_START = 0x30
STREAM_STOP = 0x31
SAMPLES = 0x32
LOG_READ = 0x40
LOG_CHUNK = 0x41
LOG_ERASE = 0x42
TIME_SET = 0x50
TIME = 0x51
# Access control over BLE (SPEC sections 12-13): the owner's handshake, and pairing over USB.
AUTH_START = 0x60
AUTH_CHALLENGE = 0x61
AUTH_PROVE = 0x62
PAIR = 0x63
UNPAIR = 0x64

# Field codes: a struct code (little endian), or one of
#   "str"  u8 length + UTF-8 bytes
#   "val"  a typed config value: u8 tag (1 int32, 2 str, 3 bool) + value
#   "h#"   u8 count + count x int16      "H#"  u8 count + count x uint16
#   "y#"   u8 count + count raw bytes
# A "|" between fields marks where an older sender's payload ends: the fields after it were
# appended later (SPEC section 9) and are optional. A decoder stops at a "|" when no bytes
# remain; an encoder stops at a "|" when the next field is not given.
# Each entry is (name, "field:code field:code ..."): one string per message, because tuples of
# field names cost the device's heap about 5 KB more (measured). fields_of() gives the pairs.
SCHEMA = {
    HELLO_REQ: ("HELLO_REQ", ""),
    HELLO: ("HELLO",
        "ref:I proto:B fw_version:str build_hash:8s board:str channels:B fs:H "
        "config_hash:I boot_id:I | device_id:str"),
    PING: ("PING", "nonce:I"),
    PONG: ("PONG", "ref:I nonce:I"),
    ACK: ("ACK", "ref:I ref_type:B"),
    NACK: ("NACK", "ref:I ref_type:B code:B reason:str"),
    CONFIG_GET: ("CONFIG_GET", "key:str"),
    CONFIG_VALUE: ("CONFIG_VALUE", "ref:I key:str value:val"),
    CONFIG_SET: ("CONFIG_SET", "key:str value:val"),
    STATUS: ("STATUS",
        "uptime_s:I sample_index:I battery_mv:H dropped:I log_fill:H "
        "cpu_load:H noise:H# | mains_hz:H# | link_dropped:I"),
    EVENT: ("EVENT", "onset:I dkc:H peak:H area:H"),
    MARK: ("MARK", "sample_index:I source:B"),
    STREAM_START: ("STREAM_START", "channels:B"),
    STREAM_STOP: ("STREAM_STOP", ""),
    SAMPLES: ("SAMPLES", "first_index:I channel:B samples:h#"),
    LOG_READ: ("LOG_READ", "from_seq:I to_seq:I"),
    LOG_CHUNK: ("LOG_CHUNK", "ref:I flags:B oldest_seq:I next_seq:I records:y#"),
    LOG_ERASE: ("LOG_ERASE", "up_to_seq:I"),
    TIME_SET: ("TIME_SET", "unix_ms:Q"),
    TIME: ("TIME", "ref:I boot_id:I sample_index:I fs:H unix_ms:Q | dropped:I"),
    AUTH_START: ("AUTH_START", "nonce:16s"),
    AUTH_CHALLENGE: ("AUTH_CHALLENGE", "ref:I nonce:16s proof:16s"),
    AUTH_PROVE: ("AUTH_PROVE", "proof:16s"),
    PAIR: ("PAIR", "key:32s"),
    UNPAIR: ("UNPAIR", ""),
}


def layout(msg_type):
    """fields_of() with None where a payload may end (a "|" in SCHEMA: optional fields follow)."""
    return [tuple(f.split(":")) if f != "|" else None for f in SCHEMA[msg_type][1].split()]


def fields_of(msg_type):
    """[(field name, field code), ...] of a known message type, in wire order."""
    return [f for f in layout(msg_type) if f]


# EVENT kinds (2 bits) and the packing of duration/kind/channel into `dkc`.
KIND_TWITCH = 0
KIND_BURST = 1
KIND_CONTRACTION = 2
KIND_ARTIFACT = 3
DURATION_MAX = 0x0FFF  # samples; longer events report 4095

# MARK sources
MARK_BUTTON = 0
MARK_HOST = 1

# LOG_CHUNK flags
CHUNK_LAST = 0x01

# NACK error codes
E_UNKNOWN_TYPE = 1
E_BAD_PAYLOAD = 2
E_UNKNOWN_KEY = 3
E_BAD_VALUE = 4
E_BUSY = 5
E_STORAGE = 6
E_BAD_VERSION = 7
E_UNSUPPORTED = 8

VAL_INT = 1
VAL_STR = 2
VAL_BOOL = 3


class CodecError(ValueError):
    """Anything wrong with a frame: the only exception this module raises on bad input."""


class Message:
    """A decoded frame: `type`, `seq`, `fields` (dict) and `version`. (On a host: with item
    access, get, name, comparison and repr; see the subclass in the host-only part.)"""

    def __init__(self, type, seq, fields=None, version=VERSION):
        self.type = type
        self.seq = seq
        self.fields = fields if fields is not None else {}
        self.version = version


# ---- CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no xorout; check("123456789") = 0x29B1


def _make_crc_table():
    # array('H'): 512 bytes, a quarter of a tuple of ints on a 64-bit MicroPython heap
    table = array("H", bytes(512))
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table[i] = crc & 0xFFFF
    return table


_CRC_TABLE = _make_crc_table()


def crc16(buf, start=0, end=-1, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of buf[start:end] without slicing (no allocation)."""
    if end < 0:
        end = len(buf)
    table = _CRC_TABLE
    for i in range(start, end):
        crc = ((crc << 8) & 0xFF00) ^ table[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


# ---- COBS


def cobs_encode(data):
    """COBS-encode `data` (no delimiter appended)."""
    out = bytearray(len(data) + len(data) // 254 + 1)
    code_pos = 0
    code = 1
    o = 1
    for b in data:
        if b == 0:
            out[code_pos] = code
            code_pos = o
            o += 1
            code = 1
        else:
            out[o] = b
            o += 1
            code += 1
            if code == 0xFF:
                out[code_pos] = code
                code_pos = o
                o += 1
                code = 1
    out[code_pos] = code
    return bytes(out[:o])


def cobs_decode(data):
    """Inverse of cobs_encode; raises CodecError on a malformed encoding."""
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise CodecError("zero byte inside COBS data")
        end = i + code
        if end > n:
            raise CodecError("COBS block runs past the end of the frame")
        for j in range(i + 1, end):
            b = data[j]
            if b == 0:
                raise CodecError("zero byte inside COBS data")
            out.append(b)
        i = end
        if code < 0xFF and i < n:
            out.append(0)
    return bytes(out)


def _cobs_in_place(buf, n):
    # Body sits in buf[1:1+n] (n <= MAX_BODY); every data byte keeps its index,
    # each zero becomes a distance code, and buf[0] receives the first code.
    code_pos = 0
    code = 1
    for i in range(1, n + 1):
        if buf[i] == 0:
            buf[code_pos] = code
            code_pos = i
            code = 1
        else:
            code += 1
    buf[code_pos] = code
    buf[n + 1] = 0
    return n + 2


# ---- allocation-free little-endian writers


def _put_u16(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF


def _put_u32(buf, off, v):
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    buf[off + 2] = (v >> 16) & 0xFF
    buf[off + 3] = (v >> 24) & 0xFF


def _finish_in_place(buf, msg_type, seq, body_len):
    # Header at buf[1:7], payload already at buf[7:1+body_len-2]; adds CRC and COBS.
    buf[1] = VERSION
    buf[2] = msg_type
    _put_u32(buf, 3, seq)
    end = 1 + body_len - CRC_LEN
    _put_u16(buf, end, crc16(buf, 1, end))
    return _cobs_in_place(buf, body_len)


EVENT_WIRE_LEN = HEADER_LEN + 10 + CRC_LEN + 2


def pack_dkc(duration, kind, channel):
    if duration > DURATION_MAX:
        duration = DURATION_MAX
    return duration | (kind & 3) << 12 | (channel & 3) << 14


def encode_event_into(buf, seq, onset, duration, kind, channel, peak, area):
    """Write a complete EVENT frame (delimiter included) into buf; return its length.

    duration in samples (saturates at 4095), peak and area saturate at 65535.
    buf must hold at least EVENT_WIRE_LEN (20) bytes. Allocates nothing.
    """
    _put_u32(buf, 7, onset)
    _put_u16(buf, 11, pack_dkc(duration, kind, channel))
    _put_u16(buf, 13, peak if peak < 0xFFFF else 0xFFFF)
    _put_u16(buf, 15, area if area < 0xFFFF else 0xFFFF)
    return _finish_in_place(buf, EVENT, seq, HEADER_LEN + 10 + CRC_LEN)


SAMPLES_MAX = (MAX_PAYLOAD - 6) // 2  # int16 samples that fit one SAMPLES frame


def encode_samples_into(buf, seq, first_index, channel, ring, start, count):
    """Write a SAMPLES frame of `count` int16 values taken from the ring buffer
    `ring` (any int sequence, wrapping at len(ring)) from index `start`.
    Returns the frame length. buf must hold samples_wire_len(count). Allocates nothing.
    """
    if count > SAMPLES_MAX:
        raise CodecError("too many samples for one frame")
    _put_u32(buf, 7, first_index)
    buf[11] = channel
    buf[12] = count
    size = len(ring)
    j = start
    o = 13
    for _ in range(count):
        if j >= size:
            j -= size
        v = ring[j]
        buf[o] = v & 0xFF
        buf[o + 1] = (v >> 8) & 0xFF
        o += 2
        j += 1
    return _finish_in_place(buf, SAMPLES, seq, HEADER_LEN + 6 + 2 * count + CRC_LEN)


def samples_wire_len(count):
    return HEADER_LEN + 6 + 2 * count + CRC_LEN + 2


# ---- general encoder (allocates; for everything off the hot path)


def _encode_value(out, v):
    if isinstance(v, bool):
        out.append(VAL_BOOL)
        out.append(1 if v else 0)
    elif isinstance(v, int):
        if not -0x80000000 <= v <= 0x7FFFFFFF:
            raise CodecError("config int out of int32 range")
        out.append(VAL_INT)
        out.extend(struct.pack("<i", v))
    elif isinstance(v, str):
        out.append(VAL_STR)
        _encode_str(out, v)
    else:
        raise CodecError("config value must be int, bool or str")


def _encode_str(out, s):
    b = s.encode("utf-8")
    if len(b) > 255:
        raise CodecError("string longer than 255 bytes")
    out.append(len(b))
    out.extend(b)


def _encode_array(out, code, items):
    if len(items) > 255:
        raise CodecError("array longer than 255 items")
    out.append(len(items))
    if code == "y#":
        out.extend(items)
        return
    fmt = "<h" if code == "h#" else "<H"
    for v in items:
        out.extend(struct.pack(fmt, v))


def encode_payload(msg_type, fields):
    """Payload bytes for a known message type from a dict of its fields."""
    entry = SCHEMA.get(msg_type)
    if entry is None:
        raise CodecError("unknown message type 0x%02X" % msg_type)
    if msg_type == EVENT and "dkc" not in fields:
        try:
            dkc = pack_dkc(fields["duration"], fields["kind"], fields["channel"])
        except (KeyError, TypeError) as e:
            raise CodecError("EVENT needs dkc or duration, kind and channel: %r" % (e,))
        fields = dict(fields)
        fields["dkc"] = dkc
    out = bytearray()
    # "name:code" strings, each split only when its turn comes: layout()'s list of pairs for a
    # HELLO would hold about 1 KB of a device's heap at once.
    items = entry[1].split()
    for k in range(len(items)):
        if items[k] == "|":
            if items[k + 1].split(":")[0] not in fields:
                break  # an older sender's payload: the optional fields are left out
            continue
        name, code = items[k].split(":")
        try:
            v = fields[name]
        except KeyError:
            raise CodecError("%s needs field %r" % (entry[0], name))
        try:
            if code == "str":
                _encode_str(out, v)
            elif code == "val":
                _encode_value(out, v)
            elif code[-1] == "#":
                _encode_array(out, code, v)
            else:
                out.extend(struct.pack("<" + code, v))
        # (MicroPython's struct has no `error`: naming it would turn any exception here, a
        # MemoryError too, into an AttributeError; its errors are ValueError and OverflowError)
        except (getattr(struct, "error", ValueError), OverflowError, TypeError, AttributeError,
                ValueError) as e:
            raise CodecError("%s.%s: %s" % (entry[0], name, e))
    return bytes(out)


def encode_frame(msg_type, seq, payload, version=VERSION):
    """Wire frame (COBS body + 0x00) for a raw payload; any type, known or not."""
    body = bytearray()
    body.append(version)
    body.append(msg_type)
    body.extend(struct.pack("<I", seq & SEQ_MASK))
    body.extend(payload)
    if len(body) + CRC_LEN > MAX_BODY:
        raise CodecError("frame body of %d bytes exceeds %d" % (len(body) + CRC_LEN, MAX_BODY))
    body.extend(struct.pack("<H", crc16(body)))
    return cobs_encode(body) + b"\x00"


def encode(msg_type, seq, fields=None):
    """Wire frame for a known message type."""
    return encode_frame(msg_type, seq, encode_payload(msg_type, fields or {}))


# ---- decoder


def _decode_str(payload, i, ln):
    # payload[i:i+ln] as a str, strictly: MicroPython's bytes.decode() accepts
    # overlong forms, surrogates and code points above U+10FFFF that CPython
    # rejects, so re-check here to make host and device accept the same frames.
    s = bytes(payload[i:i + ln]).decode("utf-8")
    n = 0
    for ch in s:
        c = ord(ch)
        if c < 0x80:
            n += 1
        elif c < 0x800:
            n += 2
        elif c < 0x10000:
            if 0xD800 <= c <= 0xDFFF:
                raise UnicodeError
            n += 3
        elif c <= 0x10FFFF:
            n += 4
        else:
            raise UnicodeError
    if n != ln:
        raise UnicodeError  # an overlong encoding
    return s


def _decode_fields(msg_type, payload):
    entry = SCHEMA.get(msg_type)
    if entry is None:
        return {"payload": bytes(payload)}
    fields = {}
    i = 0
    n = len(payload)
    name = entry[0]
    try:
        for item in entry[1].split():  # split as encode_payload does
            if item == "|":
                if i >= n:
                    break  # an older sender's payload: the optional fields are absent
                continue
            fname, code = item.split(":")
            if code == "str":
                ln = payload[i]
                if i + 1 + ln > n:
                    raise IndexError
                fields[fname] = _decode_str(payload, i + 1, ln)
                i += 1 + ln
            elif code == "val":
                tag = payload[i]
                i += 1
                if tag == VAL_INT:
                    if i + 4 > n:
                        raise IndexError
                    fields[fname] = struct.unpack("<i", payload[i:i + 4])[0]
                    i += 4
                elif tag == VAL_BOOL:
                    b = payload[i]
                    if b > 1:
                        raise CodecError("%s.%s: bool value %d is not 0 or 1" % (name, fname, b))
                    fields[fname] = b == 1
                    i += 1
                elif tag == VAL_STR:
                    ln = payload[i]
                    if i + 1 + ln > n:
                        raise IndexError
                    fields[fname] = _decode_str(payload, i + 1, ln)
                    i += 1 + ln
                else:
                    raise CodecError("%s.%s: unknown value tag %d" % (name, fname, tag))
            elif code[-1] == "#":
                cnt = payload[i]
                i += 1
                width = 1 if code == "y#" else 2
                if i + cnt * width > n:
                    raise IndexError
                if code == "y#":
                    fields[fname] = bytes(payload[i:i + cnt])
                else:
                    fmt = "<%d%s" % (cnt, code[0])
                    fields[fname] = list(struct.unpack(fmt, payload[i:i + cnt * width]))
                i += cnt * width
            else:
                size = struct.calcsize("<" + code)
                if i + size > n:
                    raise IndexError
                fields[fname] = struct.unpack("<" + code, payload[i:i + size])[0]
                i += size
    except IndexError:
        raise CodecError("%s payload truncated" % name)
    except UnicodeError:
        raise CodecError("%s has a string that is not UTF-8" % name)
    # Bytes past the known fields are a newer sender's additions: ignored (SPEC "Evolution").
    if msg_type == EVENT:
        dkc = fields["dkc"]
        fields["duration"] = dkc & DURATION_MAX
        fields["kind"] = (dkc >> 12) & 3
        fields["channel"] = (dkc >> 14) & 3
    return fields


def decode_body(body):
    """Decode an un-COBSed body (header, payload, CRC) into a Message."""
    n = len(body)
    if n < HEADER_LEN + CRC_LEN:
        raise CodecError("frame too short (%d bytes)" % n)
    if n > MAX_BODY:
        raise CodecError("frame too long (%d bytes)" % n)
    got = body[n - 2] | (body[n - 1] << 8)
    if crc16(body, 0, n - 2) != got:
        raise CodecError("CRC mismatch")
    version = body[0]
    if version != VERSION:
        raise CodecError("unsupported protocol version %d" % version)
    msg_type = body[1]
    seq = body[2] | (body[3] << 8) | (body[4] << 16) | (body[5] << 24)
    return Message(msg_type, seq, _decode_fields(msg_type, body[HEADER_LEN:n - 2]), version)


# ---- host only
# Everything below is what only a host uses. Firmware builds leave it out (HOST_PART in
# host/myotwitch/build.py): on the device's 64 KB heap it would cost about 2 KB of code, strings
# and names that never run. Nothing above this line may use anything below it.

TYPE_BY_NAME = {}
for _t in SCHEMA:
    TYPE_BY_NAME[SCHEMA[_t][0]] = _t

KIND_NAMES = ("twitch", "burst", "contraction", "artifact")

# NACK codes of BLE access control (SPEC section 13). Host-only here: the firmware (blectl.py,
# blehs.py) has them as constants of its own, so that the device's heap holds no names for them.
E_LOCKED = 9  # over BLE, before the owner's handshake: only HELLO_REQ and AUTH_* answer
E_AUTH = 10  # handshake proof or request MAC wrong, or no owner key paired
E_REPLAY = 11  # request MAC right but its seq not newer than the last accepted one
E_RATE_LIMIT = 12  # too many failed handshakes: wait (the reason says how long)
E_FORBIDDEN = 13  # not on this link (PAIR and UNPAIR over BLE)

MAC_LEN = 16  # bytes of HMAC-SHA256 closing every request payload of a BLE session

ERROR_NAMES = {
    E_UNKNOWN_TYPE: "unknown message type", E_BAD_PAYLOAD: "malformed payload",
    E_UNKNOWN_KEY: "unknown config key", E_BAD_VALUE: "value out of range",
    E_BUSY: "busy", E_STORAGE: "storage error", E_BAD_VERSION: "unsupported protocol version",
    E_UNSUPPORTED: "not supported", E_LOCKED: "locked: the owner's handshake comes first",
    E_AUTH: "authentication failed", E_REPLAY: "replayed or reordered request",
    E_RATE_LIMIT: "too many failed attempts", E_FORBIDDEN: "not allowed on this link",
}


def encode_message(msg):
    return encode(msg.type, msg.seq, msg.fields)


def decode(frame):
    """Decode one wire frame (the trailing 0x00 is optional) into a Message."""
    if len(frame) and frame[len(frame) - 1] == 0:
        frame = frame[:len(frame) - 1]
    if len(frame) > MAX_WIRE - 1:
        raise CodecError("frame too long")
    return decode_body(cobs_decode(frame))


class Message(Message):  # noqa: F811  (deliberately replaces the name)
    # The host's Message: the one above plus what only a host uses. It takes over the name, so
    # decode_body() and every Message(...) on a host make these.

    @property
    def name(self):
        entry = SCHEMA.get(self.type)
        return entry[0] if entry else "UNKNOWN_%02X" % self.type

    def __getitem__(self, key):
        return self.fields[key]

    def get(self, key, default=None):
        return self.fields.get(key, default)

    def __eq__(self, other):
        return (isinstance(other, Message) and self.type == other.type
                and self.seq == other.seq and self.fields == other.fields
                and self.version == other.version)

    def __repr__(self):
        return "Message(%s, seq=%d, %r)" % (self.name, self.seq, self.fields)


class StreamDecoder:
    """Splits a byte stream at 0x00 delimiters and decodes each frame.

    Garbage, corrupt and oversize frames are counted and skipped; decoding
    resumes at the next delimiter. Counters: frames, crc_errors, bad_frames
    (COBS, length, version or payload errors), overruns (frames longer than
    MAX_WIRE) and garbage_bytes (bytes discarded).
    """

    def __init__(self):
        self._buf = bytearray(MAX_WIRE)
        self._n = 0
        self._overrun = False
        self.frames = 0
        self.crc_errors = 0
        self.bad_frames = 0
        self.overruns = 0
        self.garbage_bytes = 0
        self.last_error = None

    def feed(self, data):
        """Consume bytes; return the list of Messages completed by them."""
        out = []
        buf = self._buf
        for b in data:
            if b != 0:
                if self._n < MAX_WIRE - 1:
                    buf[self._n] = b
                    self._n += 1
                else:
                    if not self._overrun:
                        self._overrun = True
                        self.overruns += 1
                    self.garbage_bytes += 1
                continue
            n = self._n
            self._n = 0
            if self._overrun:
                self._overrun = False
                self.garbage_bytes += n
                continue
            if n == 0:
                continue  # idle delimiters are allowed
            try:
                out.append(decode_body(cobs_decode(buf[:n])))
                self.frames += 1
            except CodecError as e:
                self.last_error = str(e)
                if str(e) == "CRC mismatch":
                    self.crc_errors += 1
                else:
                    self.bad_frames += 1
                self.garbage_bytes += n
        return out

    @property
    def errors(self):
        return self.crc_errors + self.bad_frames + self.overruns


# ---- log records (stored on flash and carried in LOG_CHUNK.records)
# record = len u8 | type u8 | seq u32 | boot_id u32 | payload | crc16 u16
# where len counts the bytes after itself and the payload is the message
# payload of that type (EVENT, MARK, STATUS, TIME).

RECORD_OVERHEAD = 1 + 1 + 4 + 4 + 2


def encode_record(rec_type, seq, boot_id, payload):
    body = bytearray()
    body.append(rec_type)
    body.extend(struct.pack("<II", seq & SEQ_MASK, boot_id & SEQ_MASK))
    body.extend(payload)
    body.extend(struct.pack("<H", crc16(body)))
    if len(body) > 255:
        raise CodecError("record too long")
    return bytes([len(body)]) + bytes(body)


def decode_records(blob):
    """Split a records blob into (type, seq, boot_id, fields) tuples.

    A record whose CRC fails raises CodecError: a corrupt record is never
    returned as data.
    """
    out = []
    i = 0
    n = len(blob)
    while i < n:
        ln = blob[i]
        if ln < RECORD_OVERHEAD - 1 or i + 1 + ln > n:
            raise CodecError("truncated log record")
        rec = blob[i + 1:i + 1 + ln]
        if crc16(rec, 0, ln - 2) != (rec[ln - 2] | rec[ln - 1] << 8):
            raise CodecError("log record CRC mismatch")
        rec_type = rec[0]
        seq, boot_id = struct.unpack("<II", rec[1:9])
        out.append((rec_type, seq, boot_id, _decode_fields(rec_type, rec[9:ln - 2])))
        i += 1 + ln
    return out
