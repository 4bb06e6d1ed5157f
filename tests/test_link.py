"""Link layer: real pyserial over a real pty, against tests/fake_device.py (a fake,
for link-layer unit tests only; end-to-end tests use the virtual board)."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fake_device import FakeDevice
from myotwitch import ports
from myotwitch.link import (Device, DeviceError, Link, LinkLost, LinkTimeout, SeqTracker,
                            open_serial)
from myotwitch.protocol import myoproto as mp


@pytest.fixture
def fake():
    with FakeDevice() as f:
        yield f


@pytest.fixture
def dev(fake):
    d = Device.open(fake.port)
    yield d
    d.close()


def wait_for(cond, timeout=2.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def test_hello_is_readable(dev):
    info = dev.hello()
    assert info.board == "fake"
    assert info.build_hash == "0123456789abcdef"
    assert info.boot_id == 0x1000
    rows = dict(info.rows())
    assert rows["build hash"] == "0123456789abcdef"
    assert rows["sample rate"] == "1000 Hz"
    assert rows["boot id"] == "00001000"


def test_ping_and_time(dev, fake):
    assert 0 <= dev.ping() < 1.0
    t = dev.time_set(1_700_000_000_000)
    assert t["unix_ms"] == 1_700_000_000_000
    assert t["boot_id"] == fake.boot_id and t["sample_index"] == fake.sample_index
    assert fake.received[-1].type == mp.TIME_SET


def test_config_get_collects_values_until_ack(dev):
    assert dev.config_get() == {"fs": 1000, "led": True, "name": "fake", "threshold": 40}
    assert dev.config_get("threshold") == {"threshold": 40}


def test_nack_raises_device_error_with_code_and_reason(dev):
    with pytest.raises(DeviceError) as ei:
        dev.config_get("nope")
    assert ei.value.code == mp.E_UNKNOWN_KEY
    assert "unknown config key" in str(ei.value) and "nope" in str(ei.value)
    with pytest.raises(DeviceError) as ei:
        dev.config_set("threshold", 5000)
    assert ei.value.code_name == "value out of range"
    assert "threshold must be 1..1000" in str(ei.value)
    dev.config_set("threshold", 55)
    assert dev.config_get("threshold") == {"threshold": 55}


def test_silence_times_out_with_a_cable_hint(dev, fake):
    fake.silent = True
    t0 = time.monotonic()
    with pytest.raises(LinkTimeout) as ei:
        dev.link.request(mp.PING, {"nonce": 1}, timeout=0.3)
    assert time.monotonic() - t0 < 2.0
    assert "cable" in str(ei.value)
    fake.silent = False
    assert dev.ping() >= 0  # still usable; a late answer would be counted as stray


def test_unsolicited_messages_arrive_in_order_and_responses_do_not(dev, fake):
    fake.send_event(onset=10)
    dev.ping()
    fake.send_status()
    fake.send_samples(7, [1, -2, 3])
    msgs = [dev.recv(1.0) for _ in range(3)]
    assert [m.type for m in msgs] == [mp.EVENT, mp.STATUS, mp.SAMPLES]
    assert msgs[0]["onset"] == 10 and msgs[2]["samples"] == [1, -2, 3]
    assert dev.recv(0.1) is None


def test_on_message_callback(fake):
    got = []
    link = Link.open(fake.port, on_message=got.append)
    try:
        fake.send_event()
        assert wait_for(lambda: got)
        assert got[0].type == mp.EVENT
    finally:
        link.close()


def test_loss_is_counted_from_sequence_gaps(dev, fake):
    dev.hello()
    fake.send_status()
    fake.skip_frames(3)
    fake.send_status()
    fake.send_event()
    fake.record_seq += 2  # two records never sent
    fake.send_event()
    assert wait_for(lambda: dev.link.pending_messages() >= 4)
    s = dev.stats
    assert s.lost_frames == 3
    assert s.lost_records == 2
    assert s.crc_errors == 0 and s.bad_frames == 0 and s.reboots == 0


def test_reboot_resets_frame_counter_without_counting_loss(dev, fake):
    dev.hello()
    for _ in range(5):
        fake.send_status()
    fake.reboot()
    fake.send_status()
    fake.send_event()
    assert wait_for(lambda: dev.link.pending_messages() >= 7)
    s = dev.stats
    assert s.lost_frames == 0 and s.seq_resets == 0
    assert s.reboots == 1
    assert s.boot_ids == [0x1000, 0x1001]
    hello = [m for m in dev.messages(0.2) if m.type == mp.HELLO]
    assert hello and hello[0]["ref"] == mp.UNSOLICITED


def test_reboot_with_lost_hello_is_a_seq_reset(dev, fake):
    dev.hello()
    for _ in range(5):
        fake.send_status()
    fake.reboot(hello=False)
    fake.send_status()
    assert wait_for(lambda: dev.link.pending_messages() >= 6)
    assert dev.stats.seq_resets == 1 and dev.stats.lost_frames == 0


def test_corrupt_frames_are_counted_and_skipped(dev, fake):
    dev.hello()
    good = mp.encode(mp.STATUS, 99, {"uptime_s": 1, "sample_index": 2, "battery_mv": 3, "dropped": 0,
                                     "log_fill": 0, "cpu_load": 0, "noise": [1]})
    body = bytearray(mp.cobs_decode(good[:-1]))
    body[8] ^= 0x55  # a payload byte: CRC mismatch
    fake.write(mp.cobs_encode(bytes(body)) + b"\x00")
    fake.write(b"\x05\x01\x02\x00")  # COBS says 5 bytes, only 2 follow: bad frame
    fake.send_event()
    assert wait_for(lambda: dev.link.pending_messages() >= 1)
    assert dev.recv(1.0).type == mp.EVENT
    s = dev.stats
    assert s.crc_errors == 1 and s.bad_frames == 1


def test_partial_frame_before_opening_is_not_an_error(fake):
    # The tail of a frame already on the wire when we start listening is not a link error.
    frame = mp.encode(mp.PONG, 1, {"ref": 1, "nonce": 2})
    link = Link(open_serial(fake.port), name=fake.port)
    try:
        fake.write(frame[4:])
        fake.send_event()
        assert link.recv(1.0).type == mp.EVENT
        assert link.stats.crc_errors == 0 and link.stats.bad_frames == 0
        fake.write(frame[4:])  # after sync, the same bytes are an error
        fake.send_event()
        assert link.recv(1.0).type == mp.EVENT
        assert link.stats.errors == 1
    finally:
        link.close()


def test_unplugged_cable_is_a_clear_error_and_nothing_received_is_lost(fake):
    dev = Device.open(fake.port)
    try:
        dev.hello()
        fake.send_event(onset=1)
        fake.send_event(onset=2)
        time.sleep(0.2)
        fake.close()  # the far end disappears: like pulling the USB cable
        got = []
        with pytest.raises(LinkLost) as ei:
            while True:
                m = dev.recv(2.0)
                assert m is not None, "recv must raise, not time out"
                got.append(m)
        assert [m["onset"] for m in got] == [1, 2]
        assert "cable" in str(ei.value)
        with pytest.raises(LinkLost):
            dev.ping()
        assert not dev.link.alive
    finally:
        dev.close()


def test_open_missing_port_says_what_to_do(tmp_path):
    with pytest.raises(LinkLost) as ei:
        open_serial(str(tmp_path / "ttyUSB9"))
    assert "does not exist" in str(ei.value)


def test_closed_link_refuses_requests(fake):
    dev = Device.open(fake.port)
    dev.close()
    with pytest.raises(LinkLost):
        dev.ping()


# ---- SeqTracker, pure


def _m(t, seq, **fields):
    return mp.Message(t, seq, fields)


def test_tracker_wraps_around_u32():
    tr = SeqTracker()
    for seq in (0xFFFFFFFE, 0xFFFFFFFF, 0, 1):
        tr.observe(_m(mp.STATUS, seq))
    assert tr.lost_frames == 0 and tr.seq_resets == 0
    tr.observe(_m(mp.STATUS, 4))
    assert tr.lost_frames == 2


def test_tracker_status_and_time_records_explain_record_gaps():
    # STATUS and TIME records share the record counter (SPEC section 7) but do not carry it.
    tr = SeqTracker()
    tr.observe(_m(mp.EVENT, 10))
    tr.observe(_m(mp.STATUS, 0))
    tr.observe(_m(mp.TIME, 1))
    tr.observe(_m(mp.EVENT, 13))  # 11, 12 were the STATUS and TIME records
    assert tr.record_gaps == 2 and tr.lost_records == 0
    tr.observe(_m(mp.STATUS, 2))
    tr.observe(_m(mp.MARK, 17))  # 14 STATUS, 15 and 16 unexplained
    assert tr.record_gaps == 5 and tr.lost_records == 2
    tr.observe(_m(mp.STATUS, 6))  # frames 3..5 lost: any of them may have been a STATUS
    tr.observe(_m(mp.EVENT, 22))
    assert tr.lost_frames == 3 and tr.lost_records == 2


def test_tracker_ignores_record_replays():
    tr = SeqTracker()
    for seq in (10, 11, 5, 12, 14):
        tr.observe(_m(mp.EVENT, seq))
    assert tr.lost_records == 1


@given(st.integers(0, mp.SEQ_MASK), st.lists(st.integers(0, 50), max_size=30))
def test_tracker_counts_exactly_the_skipped_frames(start, skips):
    tr = SeqTracker()
    seq = start
    tr.observe(_m(mp.STATUS, seq))
    for k in skips:
        seq = (seq + 1 + k) & mp.SEQ_MASK
        tr.observe(_m(mp.STATUS, seq))
    assert tr.lost_frames == sum(skips)
    assert tr.seq_resets == 0


# ---- port auto-detection


class P:
    def __init__(self, device, vid, pid, sn=None):
        self.device, self.vid, self.pid, self.serial_number, self.description = device, vid, pid, sn, "x"


def test_resolve_port_passthrough():
    assert ports.resolve_port("/dev/ttyUSB3", ports=[]) == "/dev/ttyUSB3"
    assert ports.resolve_port("sim", ports=[]) == "sim"


def test_resolve_port_finds_the_one_esp32():
    found = [P("/dev/ttyS0", None, None), P("/dev/ttyACM0", 0x2341, 0x0043), P("/dev/ttyUSB0", 0x1A86, 0x55D4)]
    assert ports.resolve_port(None, ports=found) == "/dev/ttyUSB0"
    assert ports.resolve_port(None, ports=[P("/dev/ttyACM1", 0x303A, 0x1001)]) == "/dev/ttyACM1"


def test_resolve_port_none_found():
    with pytest.raises(ports.PortError) as ei:
        ports.resolve_port(None, ports=[P("/dev/ttyS0", None, None)])
    msg = str(ei.value)
    assert "no ESP32 board found" in msg and "--port" in msg and "CP210x" in msg


def test_resolve_port_several_found_lists_them():
    found = [P("/dev/ttyUSB1", 0x10C4, 0xEA60, "A1"), P("/dev/ttyUSB0", 0x1A86, 0x7523)]
    with pytest.raises(ports.PortError) as ei:
        ports.resolve_port(None, ports=found)
    msg = str(ei.value)
    assert "/dev/ttyUSB0" in msg and "/dev/ttyUSB1" in msg and "--port" in msg
    assert "CP210x" in msg and "CH340" in msg and "A1" in msg
