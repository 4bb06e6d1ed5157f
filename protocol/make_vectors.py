r"""Generate protocol/vectors.json, the golden test vectors of protocol v1.

Run by hand, from the repository root, only when the protocol changes on purpose:

    .venv/bin/python protocol/make_vectors.py          # rewrites protocol/vectors.json
    .venv/bin/python protocol/make_vectors.py --check  # exit 1 if the file would change

The committed vectors.json is the golden truth: tests never regenerate it, they
compare the codec (on CPython and on MicroPython) against it. Review the diff of
vectors.json like a change to the wire format, because that is what it is.

File format (a JSON list; see also SPEC.md, appendix "Test vectors"):

  valid vector     {"name", "type": "EVENT", "seq", "fields", "hex"}
                   `hex` is the whole wire frame including the 0x00 delimiter;
                   `fields` is exactly what decode() returns.
                   Optional keys:
                     "decode_only": true  hex decodes to fields, but encode(fields)
                                          is not expected to reproduce hex
                                          (e.g. trailing bytes from a newer sender)
                     "into": {...}        EVENT only: arguments of
                                          encode_event_into(buf, seq, **into) that
                                          must produce hex (raw, pre-saturation)
                     "records": [...]     LOG_CHUNK only: decode_records(records)
                                          as [{"type", "seq", "boot_id", "fields"}]
                     "records_error": s   LOG_CHUNK only: decode_records() must
                                          raise CodecError whose text contains s
                   Unknown types are named "UNKNOWN_XX" (hex code); their fields
                   are {"payload": <bytes>}.
  invalid vector   {"name", "hex", "error": "CodecError", "match": s}
                   decode(hex) must raise CodecError whose text contains s.

Bytes inside "fields" are written as {"hex": "<lowercase hex>"}; no other field
value is a JSON object, so the wrapper is unambiguous. Booleans are JSON
true/false and must decode to bool (not int). The file is UTF-8 with non-ASCII
text written literally (not as \u escapes): MicroPython's json does not join
surrogate-pair escapes into one code point.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import myoproto as P  # noqa: E402

OUT = os.path.join(HERE, "vectors.json")


def to_json(v):
    if isinstance(v, (bytes, bytearray)):
        return {"hex": bytes(v).hex()}
    if isinstance(v, dict):
        return {k: to_json(v[k]) for k in sorted(v)}
    if isinstance(v, (list, tuple)):
        return [to_json(x) for x in v]
    return v


vectors = []


def add(name, msg_type, seq, fields, **extra):
    frame = P.encode(msg_type, seq, fields)
    msg = P.decode(frame)
    assert msg.type == msg_type and msg.seq == seq & P.SEQ_MASK
    vec = {"name": name, "type": P.SCHEMA[msg_type][0], "seq": msg.seq,
           "fields": to_json(msg.fields), "hex": frame.hex()}
    vec.update(extra)
    vectors.append(vec)
    return frame


def add_raw(name, frame, fields_type=None, **extra):
    """A valid frame built by hand (unknown type, trailing bytes)."""
    msg = P.decode(frame)
    name_t = P.SCHEMA[msg.type][0] if msg.type in P.SCHEMA else "UNKNOWN_%02X" % msg.type
    vec = {"name": name, "type": name_t, "seq": msg.seq, "fields": to_json(msg.fields),
           "hex": bytes(frame).hex()}
    vec.update(extra)
    vectors.append(vec)


def add_invalid(name, frame, match):
    try:
        P.decode(frame)
    except P.CodecError as e:
        assert match in str(e), (name, str(e))
    else:
        raise AssertionError("invalid vector %s decodes" % name)
    vectors.append({"name": name, "hex": bytes(frame).hex(), "error": "CodecError", "match": match})


def body_frame(body):
    """Wire frame for a raw body (no CRC added)."""
    return P.cobs_encode(bytes(body)) + b"\x00"


def crc_body(version, msg_type, seq, payload):
    body = bytearray([version, msg_type]) + seq.to_bytes(4, "little") + bytes(payload)
    return bytes(body) + P.crc16(body).to_bytes(2, "little")


BOOT = 0x5EED1234
FW = "0.1.0"
BUILD = bytes.fromhex("3f9a1c07be42d015")

# ---- session / control
add("hello_req", P.HELLO_REQ, 0, {})
add("hello_unsolicited_boot", P.HELLO, 0, {
    "ref": P.UNSOLICITED, "proto": 1, "fw_version": FW, "build_hash": BUILD,
    "board": "esp32-devkitc-myoware2", "channels": 1, "fs": 1000,
    "config_hash": 0x1A2B3C4D, "boot_id": BOOT})
add("hello_reply_4ch_unicode_board", P.HELLO, 7, {
    "ref": 3, "proto": 1, "fw_version": "1.2.3-dev+g3f9a1c0", "build_hash": bytes(8),
    "board": "Bøard ÉMG ✓ 🦵", "channels": 4, "fs": 2000,
    "config_hash": 0, "boot_id": 0xFFFFFFFF})
add("hello_with_device_id", P.HELLO, 8, {
    "ref": 4, "proto": 1, "fw_version": FW, "build_hash": BUILD,
    "board": "esp32-devkitc-myoware2", "channels": 1, "fs": 1000,
    "config_hash": 0x1A2B3C4D, "boot_id": BOOT, "device_id": "a2d75b0a55b9"})
add("ping", P.PING, 1, {"nonce": 0xDEADBEEF})
add("pong", P.PONG, 12, {"ref": 1, "nonce": 0xDEADBEEF})
add("ack_config_set", P.ACK, 13, {"ref": 42, "ref_type": P.CONFIG_SET})
add("ack_seq_wrapped", P.ACK, 0xFFFFFFFF, {"ref": 0xFFFFFFFE, "ref_type": P.STREAM_STOP})
add("nack_unknown_type_no_reason", P.NACK, 14, {
    "ref": 9, "ref_type": 0x7F, "code": P.E_UNKNOWN_TYPE, "reason": ""})
add("nack_unknown_key_reason", P.NACK, 15, {
    "ref": 10, "ref_type": P.CONFIG_GET, "code": P.E_UNKNOWN_KEY,
    "reason": "unknown config key 'thresh'"})
add("nack_bad_value_unicode_reason", P.NACK, 16, {
    "ref": 11, "ref_type": P.CONFIG_SET, "code": P.E_BAD_VALUE,
    "reason": "seuil hors limites: 1…100 µV ⚠"})
add("nack_bad_version", P.NACK, 17, {
    "ref": 5, "ref_type": P.PING, "code": P.E_BAD_VERSION, "reason": "protocol 2"})
add("nack_storage", P.NACK, 18, {
    "ref": 6, "ref_type": P.LOG_ERASE, "code": P.E_STORAGE, "reason": "flash write failed"})

# ---- configuration
add("config_get_all", P.CONFIG_GET, 2, {"key": ""})
add("config_get_key", P.CONFIG_GET, 3, {"key": "detect.threshold"})
add("config_value_int_negative", P.CONFIG_VALUE, 20, {
    "ref": 2, "key": "detect.offset", "value": -123456})
add("config_value_int_max", P.CONFIG_VALUE, 21, {"ref": 2, "key": "i.max", "value": 0x7FFFFFFF})
add("config_value_int_min", P.CONFIG_VALUE, 22, {"ref": 2, "key": "i.min", "value": -0x80000000})
add("config_value_int_zero", P.CONFIG_VALUE, 23, {"ref": 2, "key": "i.zero", "value": 0})
add("config_value_str_unicode", P.CONFIG_VALUE, 24, {
    "ref": 2, "key": "name", "value": "mollet gauche — Wade ✓"})
add("config_value_str_empty", P.CONFIG_VALUE, 25, {"ref": 2, "key": "ble.name", "value": ""})
add("config_value_bool_true", P.CONFIG_VALUE, 26, {"ref": 2, "key": "ble.enable", "value": True})
add("config_value_bool_false", P.CONFIG_VALUE, 27, {"ref": 2, "key": "log.raw", "value": False})
add("config_set_int", P.CONFIG_SET, 4, {"key": "detect.threshold", "value": 45})
add("config_set_str", P.CONFIG_SET, 5, {"key": "name", "value": "left calf"})
add("config_set_bool", P.CONFIG_SET, 6, {"key": "ble.enable", "value": False})
add("config_set_str_255_bytes", P.CONFIG_SET, 7, {"key": "k" * 200, "value": "é" * 20})

# ---- device status, events, marks
add("status_1ch", P.STATUS, 30, {
    "uptime_s": 3600, "sample_index": 3600000, "battery_mv": 3870, "dropped": 0,
    "log_fill": 12, "cpu_load": 38, "noise": [21]})
add("status_4ch_no_battery", P.STATUS, 31, {
    "uptime_s": 0xFFFFFFFF, "sample_index": 0xFFFFFFFF, "battery_mv": 0, "dropped": 1234,
    "log_fill": 1000, "cpu_load": 1000, "noise": [0, 1, 65535, 300]})
add("status_0ch", P.STATUS, 32, {
    "uptime_s": 1, "sample_index": 1000, "battery_mv": 0, "dropped": 0,
    "log_fill": 0, "cpu_load": 0, "noise": []})
add("status_with_mains_hz", P.STATUS, 33, {
    "uptime_s": 3600, "sample_index": 3600000, "battery_mv": 3870, "dropped": 0,
    "log_fill": 12, "cpu_load": 38, "noise": [21, 7], "mains_hz": [50, 0]})


def event(name, seq, onset, duration, kind, channel, peak, area):
    into = {"onset": onset, "duration": duration, "kind": kind, "channel": channel,
            "peak": peak, "area": area}
    add(name, P.EVENT, seq, {"onset": onset, "duration": duration, "kind": kind,
                             "channel": channel, "peak": min(peak, 0xFFFF),
                             "area": min(area, 0xFFFF)}, into=into)


for kind in range(4):
    for channel in range(4):
        event("event_%s_ch%d" % (P.KIND_NAMES[kind], channel), 100 + 4 * kind + channel,
              123456 + 1000 * kind + 37 * channel, 8 + 50 * kind + channel, kind, channel,
              400 + 100 * kind, 900 + 37 * channel)
event("event_twitch_typical", 1, 61234, 13, P.KIND_TWITCH, 0, 812, 2671)
event("event_zero", 0, 0, 0, P.KIND_TWITCH, 0, 0, 0)
event("event_saturated", 0xFFFFFFFF, 0xFFFFFFFF, 5000, P.KIND_CONTRACTION, 3, 70000, 1000000)
event("event_duration_max_exact", 2, 2**31, P.DURATION_MAX, P.KIND_BURST, 1, 0xFFFF, 0xFFFF)
event("event_all_bytes_0xff", 0xFFFFFFFF, 0xFFFFFFFF, 4095, 3, 3, 65535, 65535)
event("event_zero_heavy", 0x100, 0x10000, 0, 0, 0, 0x100, 0)
add("mark_button", P.MARK, 57, {"sample_index": 987654, "source": P.MARK_BUTTON})
add("mark_host", P.MARK, 58, {"sample_index": 0, "source": P.MARK_HOST})

# ---- streaming
add("stream_start_ch0", P.STREAM_START, 8, {"channels": 1})
add("stream_start_all4", P.STREAM_START, 9, {"channels": 0x0F})
add("stream_stop", P.STREAM_STOP, 10, {})
wave = []
for i in range(100):
    # zeros, negatives, extremes and a sawtooth
    if i % 10 == 0:
        wave.append(0)
    elif i == 1:
        wave.append(-32768)
    elif i == 2:
        wave.append(32767)
    elif i == 3:
        wave.append(-1)
    elif i == 4:
        wave.append(256)
    else:
        wave.append((i * 337) % 4001 - 2000)
add("samples_100_mixed", P.SAMPLES, 40, {"first_index": 5000, "channel": 0, "samples": wave})
add("samples_119_max", P.SAMPLES, 41, {
    "first_index": 0xFFFFFF9C, "channel": 3,
    "samples": [(-1) ** i * (i * 271 % 32768) for i in range(P.SAMPLES_MAX)]})
add("samples_all_zero", P.SAMPLES, 42, {"first_index": 0, "channel": 0, "samples": [0] * 20})
add("samples_empty", P.SAMPLES, 43, {"first_index": 7, "channel": 1, "samples": []})

# ---- log download
add("log_read_all", P.LOG_READ, 11, {"from_seq": 0, "to_seq": 0xFFFFFFFF})
add("log_read_range", P.LOG_READ, 12, {"from_seq": 100, "to_seq": 199})
recs = [
    (P.EVENT, 100, BOOT, {"onset": 61234, "dkc": P.pack_dkc(13, 0, 0), "peak": 812, "area": 2671}),
    (P.MARK, 101, BOOT, {"sample_index": 987654, "source": P.MARK_BUTTON}),
    (P.STATUS, 102, BOOT, {"uptime_s": 3600, "sample_index": 3600000, "battery_mv": 3870,
                           "dropped": 0, "log_fill": 12, "cpu_load": 38, "noise": [21]}),
    (P.TIME, 103, BOOT, {"ref": 12, "boot_id": BOOT, "sample_index": 3600123, "fs": 1000,
                         "unix_ms": 1764028800123}),
    (P.EVENT, 104, 0x0BADF00D, {"onset": 15, "dkc": P.pack_dkc(4095, 2, 1), "peak": 65535,
                                "area": 65535}),
]
blob = b"".join(P.encode_record(t, s, b, P.encode_payload(t, f)) for t, s, b, f in recs)
rec_json = [{"type": P.SCHEMA[t][0], "seq": s, "boot_id": b,
             "fields": to_json(P.decode_records(P.encode_record(t, s, b, P.encode_payload(t, f)))[0][3])}
            for t, s, b, f in recs]
add("log_chunk_records_last", P.LOG_CHUNK, 50, {
    "ref": 11, "flags": P.CHUNK_LAST, "oldest_seq": 100, "next_seq": 105, "records": blob},
    records=rec_json)
add("log_chunk_more", P.LOG_CHUNK, 51, {
    "ref": 11, "flags": 0, "oldest_seq": 0, "next_seq": 1000, "records": blob[:blob[0] + 1]},
    records=rec_json[:1])
add("log_chunk_empty_last", P.LOG_CHUNK, 52, {
    "ref": 12, "flags": P.CHUNK_LAST, "oldest_seq": 200, "next_seq": 200, "records": b""},
    records=[])
bad = bytearray(blob[:blob[0] + 1])
bad[8] ^= 0x01  # a bit flip inside the first record's seq: CRC no longer matches
add("log_chunk_corrupt_record", P.LOG_CHUNK, 53, {
    "ref": 11, "flags": P.CHUNK_LAST, "oldest_seq": 100, "next_seq": 101, "records": bytes(bad)},
    records_error="log record CRC mismatch")
add("log_erase", P.LOG_ERASE, 13, {"up_to_seq": 104})

# ---- time
add("time_set", P.TIME_SET, 14, {"unix_ms": 1764028800000})
add("time_set_max", P.TIME_SET, 15, {"unix_ms": 2**64 - 1})
add("time", P.TIME, 60, {"ref": 14, "boot_id": BOOT, "sample_index": 3600123, "fs": 1000,
                         "unix_ms": 1764028800000})
add("time_with_dropped", P.TIME, 61, {"ref": 15, "boot_id": BOOT, "sample_index": 3600123,
                                      "fs": 1000, "unix_ms": 1764028800000, "dropped": 1669})

# ---- evolution: unknown type, trailing bytes of a newer sender
add_raw("unknown_type_0x7f", P.encode_frame(0x7F, 70, b"\x01\x02\x00\x03"))
add_raw("unknown_type_empty", P.encode_frame(0xEE, 71, b""))
add_raw("ping_with_trailing_bytes", P.encode_frame(P.PING, 72, bytes.fromhex("efbeadde") + b"\x00\x2a\x00"),
        decode_only=True)
add_raw("event_with_trailing_bytes", P.encode_frame(
    P.EVENT, 73, P.encode_payload(P.EVENT, {"onset": 1, "dkc": 2, "peak": 3, "area": 4}) + b"\x07"),
    decode_only=True)

# ---- invalid frames
good = bytes.fromhex(vectors[[v["name"] for v in vectors].index("event_twitch_typical")]["hex"])
body = P.cobs_decode(good[:-1])
flipped = bytearray(body)
flipped[8] ^= 0x10
add_invalid("bad_crc_payload_bit_flip", body_frame(flipped), "CRC mismatch")
flipped = bytearray(body)
flipped[-1] ^= 0x01
add_invalid("bad_crc_crc_byte", body_frame(flipped), "CRC mismatch")
add_invalid("bad_crc_byte_swapped", body_frame(body[:-2] + body[-1:] + body[-2:-1]), "CRC mismatch")
add_invalid("truncated_wire", good[:15] + b"\x00", "COBS block runs past")
add_invalid("truncated_wire_no_crc", body_frame(body[:-2]), "CRC mismatch")
add_invalid("truncated_payload_valid_crc", body_frame(crc_body(1, P.EVENT, 5, body[6:12])), "truncated")
add_invalid("truncated_str_valid_crc", body_frame(crc_body(1, P.CONFIG_GET, 5, b"\x05abc")), "truncated")
add_invalid("truncated_array_valid_crc", body_frame(
    crc_body(1, P.SAMPLES, 5, bytes(5) + b"\x03" + bytes(4))), "truncated")
hello_id = P.cobs_decode(bytes.fromhex(vectors[[v["name"] for v in vectors].index(
    "hello_with_device_id")]["hex"])[:-1])
add_invalid("truncated_optional_field_valid_crc",
            body_frame(crc_body(1, P.HELLO, 8, hello_id[6:-2 - 9])), "truncated")
add_invalid("too_short_body", body_frame(b"\x01\x21\x00\x00\x00"), "too short")
add_invalid("empty_frame", b"\x00", "too short")
add_invalid("bad_cobs_zero_inside", good[:5] + b"\x00" + good[6:], "zero byte inside COBS")
add_invalid("bad_cobs_code_past_end", b"\x05\x01\x02\x00", "COBS block runs past")
add_invalid("wrong_version_0", body_frame(crc_body(0, P.PING, 1, b"\x01\x02\x03\x04")),
            "unsupported protocol version")
add_invalid("wrong_version_2", body_frame(crc_body(2, P.PING, 1, b"\x01\x02\x03\x04")),
            "unsupported protocol version")
add_invalid("too_long_wire", b"\xff" + b"\x11" * 254 + b"\x01\x00", "frame too long")
add_invalid("bad_utf8_str", body_frame(crc_body(1, P.CONFIG_GET, 5, b"\x02\xc3\x28")), "not UTF-8")
add_invalid("overlong_utf8_str", body_frame(crc_body(1, P.CONFIG_GET, 5, b"\x02\xc0\x80")), "not UTF-8")
add_invalid("surrogate_utf8_str", body_frame(crc_body(1, P.CONFIG_GET, 5, b"\x03\xed\xa0\x80")),
            "not UTF-8")
add_invalid("bad_value_tag", body_frame(crc_body(1, P.CONFIG_SET, 5, b"\x01k\x09\x00")), "unknown value tag")
add_invalid("bad_bool_value", body_frame(crc_body(1, P.CONFIG_SET, 5, b"\x01k\x03\x02")), "bool value")

# ---- BLE access control (SPEC section 13); appended, the vectors above are frozen
K = bytes(range(32))
add("auth_start", P.AUTH_START, 80, {"nonce": bytes.fromhex("00112233445566778899aabbccddeeff")})
add("auth_challenge", P.AUTH_CHALLENGE, 81, {
    "ref": 80, "nonce": bytes.fromhex("f0e0d0c0b0a090807060504030201000"),
    "proof": bytes.fromhex("5a" * 16)})
add("auth_prove", P.AUTH_PROVE, 82, {"proof": bytes.fromhex("a5" * 16)})
add("pair", P.PAIR, 83, {"key": K})
add("unpair", P.UNPAIR, 84, {})
add("hello_locked", P.HELLO, 85, {
    "ref": 80, "proto": 1, "fw_version": "", "build_hash": bytes(8), "board": "", "channels": 0,
    "fs": 0, "config_hash": 0, "boot_id": 0, "device_id": "240ac4010203"})
add("status_with_link_dropped", P.STATUS, 86, {
    "uptime_s": 60, "sample_index": 60000, "battery_mv": 0, "dropped": 0, "log_fill": 3,
    "cpu_load": 40, "noise": [9], "mains_hz": [50], "link_dropped": 300})
add("nack_replay", P.NACK, 87, {"ref": 9, "ref_type": P.PING, "code": P.E_REPLAY,
                                "reason": "seq 9 is not newer than 12"})
# A request of a BLE session: its payload closed by 16 MAC bytes, which a decoder that does not
# strip them (a serial host) reads as a newer sender's trailing bytes.
add_raw("ping_with_session_mac", P.encode_frame(
    P.PING, 88, bytes.fromhex("efbeadde") + bytes.fromhex("c3" * 16)), decode_only=True)
add_invalid("auth_start_nonce_truncated", body_frame(crc_body(1, P.AUTH_START, 5, bytes(7))),
            "truncated")


def render():
    return "[\n" + ",\n".join(json.dumps(v, sort_keys=True, ensure_ascii=False) for v in vectors) + "\n]\n"


def main(argv):
    text = render()
    if "--check" in argv:
        with open(OUT, encoding="utf-8") as f:
            same = f.read() == text
        print("vectors.json is %s" % ("up to date" if same else "OUT OF DATE"))
        return 0 if same else 1
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote %d vectors to %s" % (len(vectors), OUT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
