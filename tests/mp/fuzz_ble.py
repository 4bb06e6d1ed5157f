# Fuzz the BLE write path under MicroPython (unix port), as fuzz_codec.py fuzzes the codec: the
# real BleLink (blelink.py) on the stand-in `bluetooth` with no air, fed random writes through
# the same frame decoder the radio's writes go through (DeviceLink.feed), then the gate
# (blectl.py) and the handshake (blehs.py).
#
#   micropython -X heapsize=256k tests/mp/fuzz_ble.py [n_inputs] [seed] [dir]
#
# Inputs: random bytes, bit-flipped and truncated frames, frames with valid CRCs and random
# types, seqs and payloads, and frames sealed with the session MAC (right key or wrong, new seq or
# old). Checked:
#   - feeding never raises;
#   - before a session, no request reaches the app and nothing but a minimal HELLO, an
#     AUTH_CHALLENGE or a NACK is answered;
#   - in a session, a request reaches the app if and only if its MAC is right and its seq is
#     newer than the last one accepted (and it is no PAIR/UNPAIR), decoded as sent.
# Last line printed:
#   fuzz inputs <n> delivered <d> answered <a> failures <f>

import os
import random
import sys

import sim_bluetooth

sim_bluetooth.attach(None)

import blelink  # noqa: E402
import blemac  # noqa: E402
import myoproto as P  # noqa: E402

DIR = sys.argv[3] if len(sys.argv) > 3 else "fuzzble"  # the owner key lives here
KEY = bytes(range(32))


class Cfg:
    values = {"device_id": "240ac4010203", "name": "fuzz", "ble_adv_ms": 500}

    def __getitem__(self, k):
        return self.values[k]


class Hal:
    flash_dir = DIR


class App:
    cfg = Cfg()
    hal = Hal()
    usb_ms = None
    stream_link = None
    samples_frame = memoryview(bytearray(216))
    link = None


try:
    os.mkdir(DIR)
except OSError:
    pass
with open(DIR + "/owner.key", "wb") as f:
    f.write(KEY)

app = App()
link = blelink.BleLink(app)
out = []
link.serial_write = lambda data: out.append(P.decode(bytes(data)))  # answers, captured
delivered = []
fails = []


def handle(msg):
    delivered.append(msg)


def rnd(n):
    return random.getrandbits(16) % n if n < 65536 else random.getrandbits(30) % n


def rbytes(n):
    return bytes(random.getrandbits(8) for _ in range(n))


def frame(t, seq, payload, key=None):
    if key is not None:
        head = bytes((1, t, seq & 0xFF, seq >> 8 & 0xFF, seq >> 16 & 0xFF, seq >> 24 & 0xFF))
        payload = payload + blemac.hmac(key, head + payload)[:16]
    return P.encode_frame(t, seq, payload)


GOOD = [(P.PING, b"\x01\x02\x03\x04"), (P.CONFIG_GET, b"\x02fs"), (P.LOG_READ, bytes(8)),
        (P.STREAM_STOP, b""), (P.TIME_SET, bytes(8))]


def feed(data):
    del out[:]
    del delivered[:]
    try:
        link.feed(data, len(data), handle)
        link.feed(b"\x00", 1, handle)
    except Exception as e:
        fails.append("feed raised %r on %s" % (e, bytes(data).hex()))


def locked_round(n):
    link.end()
    for _ in range(n):
        k = rnd(4)
        if k == 0:
            data = rbytes(rnd(80) + 1)
        elif k == 1:
            t, p = GOOD[rnd(len(GOOD))]
            data = bytearray(frame(t, rnd(1000), p))
            data[rnd(len(data))] ^= 1 << rnd(8)
        elif k == 2:
            t, p = GOOD[rnd(len(GOOD))]
            data = frame(t, rnd(1000), p)[:rnd(14) + 1]
        else:
            data = frame(rnd(256), rnd(1 << 30), rbytes(rnd(60)))
        link.fails = 0  # (the rate limit is tested elsewhere; here every frame gets its answer)
        feed(data)
        if delivered:
            fails.append("delivered before a session: %r" % delivered)
        for m in out:
            ok = m.type in (P.NACK, P.AUTH_CHALLENGE) or (m.type == P.HELLO and m["channels"] == 0)
            if not ok:
                fails.append("answered %r before a session" % m)


def session_round(n):
    sk = rbytes(32)
    link.end()
    link.session = sk
    last = -1
    for _ in range(n):
        t, p = GOOD[rnd(len(GOOD))]
        if rnd(8) == 0:
            t, p = (P.PAIR, KEY) if rnd(2) else (P.UNPAIR, b"")
        key = sk if rnd(4) else rbytes(32)
        seq = rnd(1 << 20) if rnd(3) == 0 else (max(last, 0) + rnd(3) + 1)
        data = frame(t, seq, p, key)
        if rnd(6) == 0:
            b = bytearray(data)
            b[rnd(len(b) - 1)] ^= 1 << rnd(8)  # corrupt: the CRC catches most, never the app
            data = bytes(b)
            key = None
        link.bad = 0  # (three bad MACs end a session: tested elsewhere)
        feed(data)
        newer = last < 0 or 0 < (seq - last) & 0xFFFFFFFF < 0x80000000
        expect = key is sk and newer and t not in (P.PAIR, P.UNPAIR)
        if expect:
            last = seq
            if len(delivered) != 1 or delivered[0].type != t or delivered[0].seq != seq:
                fails.append("not delivered: type %d seq %d (%r)" % (t, seq, out))
            elif P.encode_payload(t, delivered[0].fields) != p:
                fails.append("decoded differently: %r" % delivered[0])
        elif delivered:
            fails.append("delivered %r (MAC ok %s, newer %s)" % (delivered, key is sk, newer))
        if link.session is not sk:
            link.session = sk  # (a bad MAC run may have ended it)
        if key is sk and newer and t in (P.PAIR, P.UNPAIR):
            last = seq
            if not out or out[0].type != P.NACK or out[0]["code"] != P.E_FORBIDDEN:
                fails.append("PAIR/UNPAIR over BLE not refused: %r" % out)


n = int(sys.argv[1]) if len(sys.argv) > 1 else 400
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
locked_round(n)
session_round(n)
for f in fails[:10]:
    print("FAIL", f)
print("fuzz inputs %d delivered %d answered %d failures %d"
      % (2 * n, link.frames_in, link.tx_seq, len(fails)))
