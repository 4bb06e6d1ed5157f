"""BLE over the SIMULATED radio (myotwitch.blesim; no adapter here): the real firmware on the
virtual board behind the stand-in `bluetooth`, the host through bleak's API on the simulated
radio's backend.

    .venv/bin/python -m bench.run ble

Prints: the owner's handshake (bytes, time); EVENT latency from the board handing the frame to
its stack to the host's Link delivering it; `pull` of 100,000 events at MTU 23 and 247 (time,
useful record bytes against notification bytes and against bytes on the air); whether the
1 kHz raw stream holds at each MTU for several connection intervals.

What the simulation assumes (blesim.AirModel): connection events every `interval_ms`; at most
`max_pdus` link-layer packets per event (controllers cap it; 4 to 10 is common), each taking its
air time at 1M PHY ((payload + 14) x 8 us + 2 x 150 us spacing + 80 us for the peer's empty
acknowledgement); Data Length Extension (251-byte packets: one per notification at MTU 247, and
one per 20-byte notification at MTU 23); 12 notification buffers on the board (NimBLE's default
on the ESP32). Real links lose air time to interference and to the host's other traffic: read
these as upper bounds for a quiet room.
"""

import statistics
import tempfile
import time
from pathlib import Path

from myotwitch.ble import open_ble
from myotwitch.blesim import ATT_L2CAP, LL_OVERHEAD, AirModel
from myotwitch.link import Device
from myotwitch.ownerkeys import KeyStore
from myotwitch.pairing import pair
from myotwitch.protocol import myoproto as mp
from myotwitch.sim import SimBoard

N_PULL = 100_000
BLOCKS = 1024
STREAM_CASES = ((7.5, 6), (15.0, 6), (30.0, 4), (50.0, 3))  # (interval ms, packets per event)


def board_with_host(tmp, model, flash=None, speed=1.0, blocks=256):
    keys = KeyStore(Path(tmp) / "keys")
    board = SimBoard(speed=speed, ble=model, flash=flash or Path(tmp) / "f.img",
                     flash_blocks=blocks)
    board.start()
    with Device.open(board.port) as usb:
        pair(usb, keys)
    dev = open_ble("ble:auto", keys=keys, opts={"sim": True, "radio": board.radio.port},
                   scan_timeout=1.0)
    return board, dev


def handshake_and_latency(tmp):
    model = AirModel()
    board, dev = board_with_host(tmp, model, speed=4.0)
    try:
        s = dev.link.serial
        print("handshake (HELLO_REQ, AUTH_START, AUTH_PROVE and answers): %d bytes of frames, "
              "%.0f ms at a %g ms connection interval"
              % (s.handshake_bytes, s.handshake_s * 1000, model.interval_ms))
        handed = {}
        board.radio.tap = lambda t, d: handed.setdefault(_event_seq(d), t)
        got = {}
        dev.link.on_message = lambda m: got.setdefault(m.seq, time.monotonic()) \
            if m.type == mp.EVENT else None
        time.sleep(20)
        lat = [1000 * (got[k] - handed[k]) for k in got if k in handed and k is not None]
    finally:
        dev.close()
        board.close()
    if not lat:
        print("EVENT latency: no events in 20 s (!)")
        return
    lat.sort()
    print("EVENT latency, board's stack to host Link, %d events at a %g ms interval: median %.1f "
          "ms, 95th %.1f ms, worst %.1f ms (model: up to one interval, plus the host's decoding)"
          % (len(lat), model.interval_ms, statistics.median(lat),
             lat[int(0.95 * (len(lat) - 1))], lat[-1]))


def _event_seq(data):
    # an EVENT notification (20 bytes) carries one whole frame
    if len(data) == mp.EVENT_WIRE_LEN and data[2] == mp.EVENT:
        try:
            return mp.decode(bytes(data)).seq
        except mp.CodecError:
            return None
    return None


def pull_at(tmp, mtu, image):
    from myotwitch.pull import pull_log
    from myotwitch.store import open_store

    model = AirModel(central_mtu=mtu)
    board, dev = board_with_host(tmp, model, flash=image, blocks=BLOCKS)
    try:
        r0 = board.radio.stats()
        with open_store(Path(tmp) / ("s%d.db" % mtu)) as store:
            t0 = time.perf_counter()
            res = pull_log(dev, store)
            took = time.perf_counter() - t0
            stored = store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
        r1 = board.radio.stats()
    finally:
        dev.close()
        board.close()
    notes = r1["notifications"] - r0["notifications"]
    payload = r1["notify_bytes"] - r0["notify_bytes"]
    air = payload + notes * ATT_L2CAP + (r1["packets"] - r0["packets"]) * LL_OVERHEAD
    print("pull at MTU %3d: %d records (%d events) in %.1f s = %.0f records/s; useful record "
          "bytes %d = %.1f %% of notification bytes, %.1f %% of bytes on the air (with ATT, "
          "L2CAP and link-layer headers); %d notifications, %d retries"
          % (mtu, res.records, stored, took, res.records / took, res.record_bytes,
             100 * res.record_bytes / payload, 100 * res.record_bytes / air, notes, res.retries))


def stream_holds(tmp):
    print("raw stream, 1 channel at 1 kHz (2,160 B/s of SAMPLES frames), 8 s each:")
    print("  %-9s %-7s %5s %12s %14s %10s %s" % ("interval", "packets", "MTU", "capacity",
                                               "samples got", "dropped", "holds"))
    for interval, pdus in STREAM_CASES:
        for mtu in (23, 247):
            model = AirModel(interval_ms=interval, max_pdus=pdus, central_mtu=mtu)
            with tempfile.TemporaryDirectory(dir=tmp) as d:
                board, dev = board_with_host(d, model)
                try:
                    dev.stream_start(1)
                    got = 0
                    dropped = 0
                    end = time.monotonic() + 8
                    first = None
                    last = None
                    while time.monotonic() < end:
                        m = dev.recv(0.2)
                        if m is None:
                            continue
                        if m.type == mp.SAMPLES:
                            got += len(m["samples"])
                            first = m["first_index"] if first is None else first
                            last = m["first_index"] + len(m["samples"])
                        elif m.type == mp.STATUS:
                            dropped = m.get("link_dropped", 0)
                    dev.stream_stop()
                finally:
                    dev.close()
                    board.close()
            span = (last - first) if first is not None else 0
            holds = span > 0 and got >= 0.99 * span
            cap = model.notifications_per_s(mtu) * (mtu - 3)
            print("  %-9s %-7d %5d %9.0f B/s %7d of %-6d %10d %s"
                  % ("%g ms" % interval, pdus, mtu, cap, got, span, dropped,
                     "yes" if holds else "NO"))


def main():
    with tempfile.TemporaryDirectory(prefix="bench-ble-") as tmp:
        handshake_and_latency(tmp)
        stream_holds(tmp)
        from myotwitch.simlog import prefill_log

        image = Path(tmp) / "log.img"
        t0 = time.perf_counter()
        info = prefill_log(image, N_PULL, flash_blocks=BLOCKS)
        print("prefilled %d events on the virtual board's flash in %.1f s"
              % (info["last"] - info["first"] + 1, time.perf_counter() - t0))
        for mtu in (247, 23):
            # each pull starts from the same log: a fresh copy of the image (its last_seq
            # lives in the host store, which is fresh too)
            copy = Path(tmp) / ("log%d.img" % mtu)
            copy.write_bytes(image.read_bytes())
            pull_at(tmp, mtu, copy)


if __name__ == "__main__":
    main()
