"""Access control over BLE (SPEC section 13), attacked frame by frame: a raw central (bleak's
BleakClient on the simulated radio) writes whatever it likes into the board's RX characteristic
on the virtual board and reads the answers. Also: the firmware's HMAC against CPython's."""

import asyncio
import hashlib
import hmac
import os
import random
import threading
import time
from pathlib import Path

import pytest

from myotwitch.ble import NUS_RX, NUS_TX, scan
from myotwitch.blesim import AirModel
from myotwitch.link import Device
from myotwitch.ownerauth import Handshake
from myotwitch.ownerkeys import KeyStore
from myotwitch.pairing import pair
from myotwitch.paths import firmware_dir, protocol_dir
from myotwitch.protocol import myoproto as mp
from myotwitch.sim import SimBoard

from mpvm import run_micropython


class RawCentral:
    """A BLE host that sends raw frames (bleak API, simulated radio backend)."""

    def __init__(self, radio_port, address):
        from bleak import BleakClient

        from myotwitch.bleak_sim import SimClient

        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.dec = mp.StreamDecoder()
        self.msgs = []
        self.client = BleakClient(address, backend=SimClient, radio=radio_port, timeout=5)
        self.run(self.client.connect())
        self.run(self.client.start_notify(NUS_TX, lambda _c, d: self.msgs.extend(self.dec.feed(d))))
        time.sleep(0.1)

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def write(self, frame):
        room = self.client.services.get_characteristic(NUS_RX).max_write_without_response_size
        for i in range(0, len(frame), room):
            self.run(self.client.write_gatt_char(NUS_RX, frame[i:i + room], response=False))

    def ask(self, frame, ref, timeout=3.0):
        """Send a frame (after a 0x00 that ends whatever garbage came before), return the first
        answer carrying ref."""
        self.write(b"\x00" + frame)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in list(self.msgs):
                if m.get("ref") == ref:
                    self.msgs.remove(m)
                    return m
            time.sleep(0.01)
        return None

    def close(self):
        try:
            self.run(self.client.disconnect())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("auth")
    keys = KeyStore(tmp / "keys")
    b = SimBoard(speed=1, ble=AirModel(), flash=tmp / "f.img")
    b.start()
    with Device.open(b.port) as usb:
        info = pair(usb, keys)
    b.did = info["device_id"]
    b.key = keys.get(b.did)
    b.address = scan(1.0, keys=keys, opts={"sim": True, "radio": b.radio.port})[0].address
    yield b
    b.close()


@pytest.fixture
def central(board):
    c = RawCentral(board.radio.port, board.address)
    yield c
    c.close()
    time.sleep(0.2)  # the board advertises again


SEQ = iter(range(100, 10**6))


def frame(t, fields, seq=None, mac_key=None):
    seq = next(SEQ) if seq is None else seq
    payload = mp.encode_payload(t, fields)
    if mac_key is not None:
        from myotwitch.ownerauth import Session

        payload += Session(mac_key).mac(t, seq, payload)
    return seq, mp.encode_frame(t, seq, payload)


def handshake(c, key, did):
    hs = Handshake(key, did)
    seq, f = frame(mp.AUTH_START, {"nonce": hs.nonce})
    ch = c.ask(f, seq)
    assert ch.type == mp.AUTH_CHALLENGE, ch
    seq, f = frame(mp.AUTH_PROVE, {"proof": hs.answer(ch.fields)})
    ack = c.ask(f, seq)
    assert ack.type == mp.ACK, ack
    return hs.session().key


def code(m):
    assert m is not None and m.type == mp.NACK, m
    return m["code"]


def test_without_the_key_only_a_minimal_hello_answers(central, board):
    seq, f = frame(mp.HELLO_REQ, {})
    h = central.ask(f, seq)
    assert h.type == mp.HELLO
    assert h["device_id"] == board.did and h["proto"] == mp.VERSION
    assert (h["channels"], h["fs"], h["fw_version"], h["board"], h["boot_id"]) == (0, 0, "", "", 0)
    for t, fields in ((mp.CONFIG_GET, {"key": ""}), (mp.LOG_READ, {"from_seq": 0, "to_seq": 9}),
                      (mp.STREAM_START, {"channels": 1}), (mp.PING, {"nonce": 1}),
                      (mp.CONFIG_SET, {"key": "name", "value": "x"})):
        seq, f = frame(t, fields)
        assert code(central.ask(f, seq)) == mp.E_LOCKED
    time.sleep(0.5)
    assert not [m for m in central.msgs if m.type in (mp.EVENT, mp.STATUS, mp.SAMPLES)]


def test_wrong_key_is_refused_and_the_board_proves_itself(central, board):
    hs = Handshake(os.urandom(32), board.did)
    seq, f = frame(mp.AUTH_START, {"nonce": hs.nonce})
    ch = central.ask(f, seq)
    with pytest.raises(Exception, match="did not prove"):
        hs.answer(ch.fields)  # the host sees a board that does not hold its key
    seq, f = frame(mp.AUTH_PROVE, {"proof": os.urandom(16)})
    assert code(central.ask(f, seq)) == mp.E_AUTH


def test_replayed_handshake_fails(board):
    c = RawCentral(board.radio.port, board.address)
    hs = Handshake(board.key, board.did)
    s1, start = frame(mp.AUTH_START, {"nonce": hs.nonce})
    ch = c.ask(start, s1)
    s2, prove = frame(mp.AUTH_PROVE, {"proof": hs.answer(ch.fields)})
    assert c.ask(prove, s2).type == mp.ACK
    c.close()
    time.sleep(0.3)
    eve = RawCentral(board.radio.port, board.address)  # records both frames, plays them back
    try:
        assert eve.ask(start, s1).type == mp.AUTH_CHALLENGE  # a fresh board nonce
        assert code(eve.ask(prove, s2)) == mp.E_AUTH
        seq, f = frame(mp.PING, {"nonce": 5})
        assert code(eve.ask(f, seq)) == mp.E_LOCKED
    finally:
        eve.close()
        time.sleep(0.3)


def test_replayed_reordered_and_injected_requests_are_refused(central, board):
    sk = handshake(central, board.key, board.did)
    seq, ping = frame(mp.PING, {"nonce": 7}, mac_key=sk)
    assert central.ask(ping, seq).type == mp.PONG
    assert code(central.ask(ping, seq)) == mp.E_REPLAY  # the same frame again
    s_a, fa = frame(mp.PING, {"nonce": 8}, mac_key=sk)
    s_b, fb = frame(mp.PING, {"nonce": 9}, mac_key=sk)
    assert central.ask(fb, s_b).type == mp.PONG
    assert code(central.ask(fa, s_a)) == mp.E_REPLAY  # reordered: older than the last
    seq, bad = frame(mp.PING, {"nonce": 10}, mac_key=os.urandom(32))
    assert code(central.ask(bad, seq)) == mp.E_AUTH  # injected: wrong key
    seq, bare = frame(mp.CONFIG_GET, {"key": "name"})
    assert code(central.ask(bare, seq)) == mp.E_AUTH  # no MAC at all
    seq, ok = frame(mp.CONFIG_GET, {"key": "name"}, mac_key=sk)
    assert central.ask(ok, seq).type == mp.CONFIG_VALUE  # the session survives two bad frames
    seq, f = frame(mp.PAIR, {"key": bytes(32)}, mac_key=sk)
    assert code(central.ask(f, seq)) == mp.E_FORBIDDEN


def test_truncated_handshakes(central, board):
    seq, f = frame(mp.AUTH_PROVE, {"proof": os.urandom(16)})
    assert code(central.ask(f, seq)) == mp.E_AUTH  # no challenge to answer
    seq = next(SEQ)
    short = mp.encode_frame(mp.AUTH_START, seq, os.urandom(7))  # nonce cut short
    assert code(central.ask(short, seq)) == mp.E_BAD_PAYLOAD
    hs = Handshake(board.key, board.did)
    seq, f = frame(mp.AUTH_START, {"nonce": hs.nonce})
    ch = central.ask(f, seq)
    proof = hs.answer(ch.fields)
    seq = next(SEQ)
    assert code(central.ask(mp.encode_frame(mp.AUTH_PROVE, seq, proof[:9]), seq)) == mp.E_BAD_PAYLOAD
    seq, f = frame(mp.AUTH_PROVE, {"proof": proof})
    assert code(central.ask(f, seq)) == mp.E_AUTH  # one proof per challenge: that one is gone


def test_a_flood_of_attempts_is_rate_limited(tmp_path):
    # A board of its own: failures count across connections, so the others' would show here.
    keys = KeyStore(tmp_path / "keys")
    board = SimBoard(speed=1, ble=AirModel(), flash=tmp_path / "f.img")
    board.start()
    try:
        with Device.open(board.port) as usb:
            board.did = pair(usb, keys)["device_id"]
        board.key = keys.get(board.did)
        address = scan(1.0, keys=keys, opts={"sim": True, "radio": board.radio.port})[0].address
        central = RawCentral(board.radio.port, address)
        try:
            flood(central, board)
        finally:
            central.close()
    finally:
        board.close()


def flood(central, board):
    codes = []
    for _ in range(6):
        hs = Handshake(os.urandom(32), board.did)
        seq, f = frame(mp.AUTH_START, {"nonce": hs.nonce})
        m = central.ask(f, seq)
        if m.type == mp.NACK:
            codes.append(m["code"])
            assert "retry in" in m["reason"]
            continue
        seq, f = frame(mp.AUTH_PROVE, {"proof": os.urandom(16)})
        codes.append(code(central.ask(f, seq)))
    assert codes[:3] == [mp.E_AUTH] * 3
    assert mp.E_RATE_LIMIT in codes[3:]
    # even the owner waits now, then gets in
    hs = Handshake(board.key, board.did)
    seq, f = frame(mp.AUTH_START, {"nonce": hs.nonce})
    assert code(central.ask(f, seq)) == mp.E_RATE_LIMIT
    time.sleep(4.2)
    handshake(central, board.key, board.did)


def test_fuzzed_writes_leave_the_board_answering(central, board):
    """Random bytes, bit-flipped and truncated frames, and frames with valid CRCs but random
    types and payloads, written into RX before and inside a session: nothing gets through
    without the MAC, and the board still answers the owner afterwards."""
    rng = random.Random(13)
    good = [frame(mp.PING, {"nonce": 1})[1], frame(mp.CONFIG_GET, {"key": "fs"})[1],
            frame(mp.LOG_READ, {"from_seq": 0, "to_seq": 5})[1]]
    for round_ in range(2):
        if round_:
            handshake(central, board.key, board.did)
        for _ in range(150):
            k = rng.randrange(4)
            if k == 0:
                data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 60)))
            elif k == 1:
                g = bytearray(rng.choice(good))
                g[rng.randrange(len(g))] ^= 1 << rng.randrange(8)
                data = bytes(g)
            elif k == 2:
                g = rng.choice(good)
                data = g[:rng.randrange(1, len(g))]
            else:  # (not the handshake's types: failed handshakes would lock the owner out)
                data = mp.encode_frame(rng.choice([t for t in range(256) if not 0x60 <= t <= 0x62]),
                                       rng.getrandbits(32),
                                       bytes(rng.getrandbits(8) for _ in range(rng.randrange(40))))
            central.write(data)
        central.write(b"\x00")
        time.sleep(0.5)
        bad = [m for m in central.msgs if m.type not in (mp.NACK, mp.HELLO, mp.AUTH_CHALLENGE,
                                                          mp.ACK, mp.STATUS, mp.EVENT)]
        assert not bad, bad[:3]
        central.msgs.clear()
    # Three wrong MACs in a session end it and count as failed handshakes: a short wait
    time.sleep(1.5)
    sk = handshake(central, board.key, board.did)
    seq, f = frame(mp.PING, {"nonce": 99}, mac_key=sk)
    assert central.ask(f, seq).type == mp.PONG


def test_firmware_hmac_matches_cpython():
    rng = random.Random(5)
    cases = [(bytes(rng.getrandbits(8) for _ in range(32)),
              bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))) for _ in range(30)]
    script = "import blemac\n" + "".join(
        "print(blemac.hmac(bytes.fromhex(%r), bytes.fromhex(%r)).hex())\n" % (k.hex(), m.hex())
        for k, m in cases)
    out = run_micropython(script, heapsize="256k",
                          path=[firmware_dir(), protocol_dir()]).check().stdout.split()
    assert out == [hmac.new(k, m, hashlib.sha256).hexdigest() for k, m in cases]


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzz_the_ble_write_path_in_micropython(seed, tmp_path):
    """tests/mp/fuzz_ble.py: the real BleLink, gate and handshake in the unix port, fed random
    writes; nothing reaches the app without the session's MAC and a newer seq."""
    res = run_micropython(Path(__file__).parent / "mp" / "fuzz_ble.py", heapsize="512k",
                          args=(400, seed, tmp_path), path=[firmware_dir(), protocol_dir()],
                          timeout=120).check()
    last = res.stdout.strip().splitlines()[-1]
    assert last.endswith("failures 0"), res.stdout[-2000:]
    delivered = int(last.split()[4])
    assert delivered > 50  # the session round got real requests through
