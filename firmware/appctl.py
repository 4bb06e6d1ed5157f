# The app's boot-time code (app.py): allocation at boot, the start of each time base with its
# HELLO, the end of a --once run. None of it runs per sample, so it is not resident: app.ctl()
# imports it and app.unload() drops it from sys.modules again. Kept apart from the answers to
# host requests (appreq.py) so that the module loaded last at boot, into the fullest heap, is
# small. Functions take the App as their first argument.

import gc
import sys

import myoproto as mp
from buildinfo import BUILD_HASH, FW_VERSION
from app import STREAM_BLOCK
from detviper import ViperDetector as Detector  # machine code, ~10x the bytecode (DETECTOR.md)
from link import DeviceLink
from ring import Ring

RING_SIZE = 512  # per channel: 0.5 s at 1 kHz of slack for a slow pass (flash, GC, a request)


def boot(app):
    alloc_channels(app)  # first: the ring is the biggest block, while the heap is whole
    app.link = DeviceLink(app.hal)
    # Attributes made at boot, while the heap is whole: a dict that grows later needs a bigger
    # block in a fragmented heap.
    app.ble = None  # the BLE link (blelink.py) while the radio is on
    app.stream_link = None  # the link that started the raw stream
    app.usb_ms = None  # ticks_ms of the last bytes from the USB host (it has control, SPEC 13)
    app.event_frame = bytearray(mp.EVENT_WIRE_LEN)
    app.samples_frame = memoryview(bytearray(mp.samples_wire_len(STREAM_BLOCK)))


def radio(app):
    """The BLE link on or off as CONFIG `ble` says (and the board has a radio); a new name or
    advertising interval is advertised at once."""
    on = app.cfg["ble"] and getattr(app.hal, "radio", False)
    if on and app.ble is None:
        gc.collect()
        import blelink

        app.ble = blelink.BleLink(app)
    elif app.ble is not None:
        import blesetup

        if on:
            blesetup.advertise(app.ble)
        else:
            blesetup.stop(app.ble)
            app.ble = None
            sys.modules.pop("blelink", None)


def alloc_channels(app):
    # Ring and detectors exist only for the channels in use: the heap is small.
    cfg = app.cfg
    channels = cfg["channels"]
    if app.ring is None or app.ring.channels != channels:
        app.ring = None
        app.detectors = []
        gc.collect()
        app.ring = Ring(channels, RING_SIZE)
        params = cfg.detector_params()
        app.detectors = [Detector(ch, cfg["fs"], params, app.on_event_cb)
                         for ch in range(channels)]


def begin(app):
    """The rest of App.start (the event log is open): a new time base and its HELLO."""
    cfg = app.cfg
    app.fs = cfg["fs"]
    if app.log.flush_samples != 2 * app.fs:  # durability bound: 2 s (see eventlog.py)
        # (only if not the class default: one more instance attribute grows the log's dict)
        app.log.flush_samples = 2 * app.fs
    app.channels = cfg["channels"]
    params = cfg.detector_params()
    alloc_channels(app)
    for d in app.detectors:
        d.configure(app.fs, params)
    app.ring.reset(0)
    app.pos = 0  # detector position in the ring (sample index)
    app.dropped = 0
    app.stream_mask = 0
    app.stream_pos = 0
    app.link_dropped = 0  # raw samples not sent: the link could not take them
    app.next_status = cfg["status_s"] * app.fs
    app.led_off_at = -1
    app.busy_us = 0
    app.wall_us = 0
    app.restart_pending = False
    send_hello(app, mp.UNSOLICITED)
    app.hal.start_sampling(app.ring, app.fs, app.channels)


def finish(app):
    for d in app.detectors:
        d.flush()  # events held back for the heartbeat check go out now
    app.send_status()
    app.log.flush()
    app.hal.stop_sampling()


def send_hello(app, ref):
    ble = app.ble
    if ref == mp.UNSOLICITED and ble is not None and ble.session is not None:
        ble.send(mp.HELLO, hello(app, ref))
    app.link.send(mp.HELLO, hello(app, ref))


def hello(app, ref):
    return {
        "ref": ref, "proto": mp.VERSION, "fw_version": FW_VERSION, "build_hash": BUILD_HASH,
        "board": app.hal.board, "channels": app.channels, "fs": app.fs,
        "config_hash": app.cfg.hash(), "boot_id": app.boot_id, "device_id": app.cfg["device_id"]}
