"""BLE end to end on the virtual board: the real firmware (blelink.py and friends) in the
MicroPython unix port, its `bluetooth` being the stand-in (firmware/sim_bluetooth.py) in front of
the simulated radio (myotwitch.blesim, the only fake: no radio here), and the host through
bleak's own BleakClient/BleakScanner with the simulated radio's backend (myotwitch.bleak_sim).
Pairing goes over the board's serial pty, as over USB."""

import time

import pytest

from myotwitch.ble import BleError, BleSerial, choose, open_ble, scan
from myotwitch.blesim import AirModel
from myotwitch.link import Device, DeviceError, LinkError
from myotwitch.ownerkeys import KeyStore
from myotwitch.pairing import PairError, pair, unpair
from myotwitch.protocol import myoproto as mp
from myotwitch.pull import pull_log
from myotwitch.sim import SimBoard
from myotwitch.simlog import prefill_log
from myotwitch.store import open_store


def start_board(tmp_path, model=None, **kw):
    b = SimBoard(speed=kw.pop("speed", 1), ble=model or AirModel(), flash=tmp_path / "f.img", **kw)
    b.start()
    return b


@pytest.fixture(scope="module")
def paired(tmp_path_factory):
    """One virtual board with a radio, paired over its serial port with a host key store."""
    tmp = tmp_path_factory.mktemp("ble")
    keys = KeyStore(tmp / "keys")
    board = start_board(tmp)
    with Device.open(board.port) as usb:
        info = pair(usb, keys)
    board.paired_at = time.monotonic()
    yield board, keys, info
    board.close()


def opts(board, **kw):
    return dict({"sim": True, "radio": board.radio.port}, **kw)


def test_pairing_stores_the_key_privately_under_the_device_id(paired):
    board, keys, info = paired
    path = keys.path(info["device_id"])
    assert path.exists() and path.stat().st_mode & 0o777 == 0o600
    assert keys.root.stat().st_mode & 0o777 == 0o700
    assert len(keys.get(info["device_id"])) == 32
    assert info["replaced"] is False


def test_scan_lists_the_board_with_its_id_and_paired_state(paired):
    board, keys, info = paired
    found = scan(1.5, keys=keys, opts=opts(board))
    assert len(found) == 1
    f = found[0]
    assert f.device_id == info["device_id"] and f.paired and f.name == "myotwitch"
    assert -80 < f.rssi < 0
    assert choose("auto", found, keys) is f
    assert choose(info["device_id"], found, keys) is f
    with pytest.raises(BleError, match="no board named"):
        choose("left-calf", found, keys)


def test_every_request_works_over_ble_at_the_default_mtu(paired):
    board, keys, info = paired
    before = board.radio.stats()
    with open_ble("ble:auto", keys=keys, opts=opts(board), scan_timeout=1.0) as dev:
        assert dev.link.serial.mtu == 247  # the board asked, the host agreed
        hello = dev.hello()
        assert hello.device_id == info["device_id"] and hello.channels == 1 and hello.fw_version
        assert dev.ping() < 2
        assert dev.config_get("ble_adv_ms") == {"ble_adv_ms": 500}
        t = dev.time_set()
        assert t["boot_id"] == hello.boot_id
        got = []
        end = time.monotonic() + 8
        while not got and time.monotonic() < end:
            m = dev.recv(0.5)
            if m is not None and m.type in (mp.EVENT, mp.STATUS):
                got.append(m)
        assert got, "no live frames over BLE"
    s = board.radio.stats()
    assert s["oversize"] == 0 and s["max_notification"] <= 244
    assert s["connections"] == before["connections"] + 1


def test_mtu_23_and_the_raw_stream(paired):
    """A host that keeps the default MTU: every notification is at most 20 bytes, SAMPLES
    frames (216 bytes) arrive whole from 11 notifications, EVENT in one."""
    board, keys, info = paired
    with open_ble("ble:auto", keys=keys, opts=opts(board, mtu=23), scan_timeout=1.0) as dev:
        assert dev.link.serial.mtu == 23
        dev.stream_start(1)
        samples = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            m = dev.recv(0.5)
            if m is not None and m.type == mp.SAMPLES:
                samples.append(m)
        dev.stream_stop()
        assert len(samples) >= 10
        assert all(len(m["samples"]) == 100 for m in samples)
        assert dev.stats.crc_errors == 0 and dev.stats.bad_frames == 0
    s = board.radio.stats()
    assert s["oversize"] == 0 and s["max_notification"] <= 244


def test_config_over_ble_waits_for_the_usb_host_to_be_quiet(paired):
    board, keys, info = paired
    with open_ble("ble:auto", keys=keys, opts=opts(board), scan_timeout=1.0) as dev:
        # The USB host last spoke when it paired (the tests above took that long, or we wait)
        time.sleep(max(0.0, 10.5 - (time.monotonic() - board.paired_at)))
        dev.config_set("ble_adv_ms", 250)
        assert dev.config_get("ble_adv_ms") == {"ble_adv_ms": 250}
        with Device.open(board.port) as usb:
            usb.ping()  # the USB host speaks: it has control for 10 s
            with pytest.raises(DeviceError) as ei:
                dev.config_set("ble_adv_ms", 500)
            assert ei.value.code == mp.E_BUSY and "USB" in ei.value.reason
            usb.config_set("ble_adv_ms", 500)


def test_pull_over_ble_resumes_after_a_drop(tmp_path):
    img = tmp_path / "f.img"
    prefill_log(img, 3000)
    keys = KeyStore(tmp_path / "keys")
    board = SimBoard(speed=1, ble=AirModel(), flash=img)
    board.start()
    try:
        with Device.open(board.port) as usb:
            pair(usb, keys)
        dev = open_ble("ble:auto", keys=keys, opts=opts(board), scan_timeout=1.0)
        radio = board.radio
        n0 = radio.stats()["notifications"]

        def dropper():
            while radio.stats()["notifications"] < n0 + 60:
                time.sleep(0.01)
            radio.drop()

        import threading

        threading.Thread(target=dropper, daemon=True).start()
        with open_store(tmp_path / "s.db") as store:
            res = pull_log(dev, store)
            stored = store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        assert dev.link.serial.reconnects >= 1
        assert res.retries >= 1
        assert stored == 3000
        assert radio.stats()["drops"] >= 1
        dev.close()
    finally:
        board.close()


def test_not_paired_host_and_pairing_only_over_usb(paired, tmp_path):
    board, keys, info = paired
    stranger = KeyStore(tmp_path / "other")
    with pytest.raises(BleError, match="not paired with board"):
        BleSerial("ble:auto", keys=stranger, opts=opts(board), scan_timeout=1.0)
    with open_ble("ble:auto", keys=keys, opts=opts(board), scan_timeout=1.0) as dev:
        with pytest.raises(PairError, match="USB only"):
            pair(dev, keys)
        # and the board refuses it too, whatever a host claims
        with pytest.raises(DeviceError) as ei:
            dev.link.request(mp.PAIR, {"key": bytes(32)})
        assert ei.value.code == mp.E_FORBIDDEN


def test_repairing_rotates_the_key_and_locks_out_the_old_host(tmp_path):
    board = start_board(tmp_path)
    try:
        old, new = KeyStore(tmp_path / "old"), KeyStore(tmp_path / "new")
        with Device.open(board.port) as usb:
            pair(usb, old)
            did = pair(usb, new)["device_id"]
        with pytest.raises(BleError, match="did not prove"):
            BleSerial("ble:auto", keys=old, opts=opts(board), scan_timeout=1.0, reconnect=False)
        with open_ble("ble:auto", keys=new, opts=opts(board), scan_timeout=1.0) as dev:
            assert dev.hello().device_id == did
        with Device.open(board.port) as usb:
            assert unpair(usb, new)["removed_here"]
        assert new.get(did) is None
        with pytest.raises(BleError, match="no owner"):
            BleSerial("ble:auto", keys=old, opts=opts(board), scan_timeout=1.0, reconnect=False)
    finally:
        board.close()


def test_radio_off_stops_advertising(tmp_path):
    board = start_board(tmp_path)
    try:
        with Device.open(board.port) as usb:
            usb.config_set("ble", False)
            time.sleep(0.3)
            assert not any(d["advertising"] for d in board.radio.devices())
            usb.config_set("ble", True)
            time.sleep(0.3)
            assert any(d["advertising"] for d in board.radio.devices())
    finally:
        board.close()


def test_unknown_board_name_is_a_clear_error(paired):
    board, keys, info = paired
    with pytest.raises(LinkError, match="no board named 'nope'"):
        open_ble("ble:nope", keys=keys, opts=opts(board), scan_timeout=1.0)
