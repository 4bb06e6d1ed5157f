# The firmware with its BLE link active, on the virtual board's HAL with the stand-in `bluetooth`
# (firmware/sim_bluetooth.py) in front of the host's simulated radio: a host connects, does the
# owner's handshake and streams raw samples over BLE while the heap is measured as in
# heap_steady.py. argv = samples.i16 flash.img seconds radio_port key_hex speed_milli [measure].
# Run compiled: mpy-cross it, then `micropython -m heap_ble ARGS`.
# Output on stderr (stdout is the serial link):
#   STANDIN bytes / HEAP min max readings pos locked events / BLE requests link_dropped lost
import gc
import sys
import time

import micropython


def main():
    # Run as compiled .mpy (tests/test_firmware_heap.py compiles it): its locals then leave no
    # names in the heap's string pool, which is the firmware's budget (firmware/README.md).
    samples, flash, seconds, port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    key, speed = bytes.fromhex(sys.argv[5]), int(sys.argv[6])
    # The stand-in's own code and state (on the chip: C in flash) measured first, apart from the
    # firmware: what the chip's module allocates on the heap (characteristic buffers, UUIDs) is
    # allocated later, by the firmware's calls, and counts as the firmware's.
    gc.collect()
    before = gc.mem_alloc()
    import sim_bluetooth

    sim_bluetooth.attach(port)
    gc.collect()
    standin = gc.mem_alloc() - before
    sys.stderr.write("STANDIN %d\n" % standin)
    if len(sys.argv) > 7:
        sys.exit(0)  # only the measurement

    import hal_sim

    hal = hal_sim.Hal(samples, speed_milli=speed, flash=flash, ble=port)
    gc.collect()
    import app

    a = app.App(hal)
    a.cfg.set("status_s", 3600)  # STATUS allocates (off the sample path); keep it out of this run
    app.unload()
    a.handle(app.mp.Message(app.mp.PAIR, 1, {"key": key}))  # as `myotwitch pair` over USB
    app.unload()  # as App.step does after requests
    sys.stderr.write("READY %s\n" % a.cfg["device_id"])
    ble = a.ble
    t0 = time.ticks_ms()
    while not (a.stream_mask and a.stream_link is ble):  # the host connects and starts the stream
        a.step()
        if time.ticks_diff(time.ticks_ms(), t0) > 30000:
            sys.stderr.write("TIMEOUT waiting for the BLE host\n")
            sys.exit(2)
    app.unload()
    fs = a.fs
    start = a.pos
    while a.pos < start + fs:  # warm-up: first-use allocations
        a.step()
    readings = [0] * (seconds // 2 + 2)
    taken = 0
    next_at = a.pos
    end = a.pos + seconds * fs
    while a.pos < end:
        if a.pos >= next_at:
            gc.collect()
            readings[taken] = gc.mem_alloc()
            taken += 1
            next_at += 2 * fs
        a.step()
    readings = readings[:taken]
    locked_samples = 0
    start = 0
    micropython.heap_lock()
    try:
        start = a.pos
        while a.pos < start + 10 * fs:
            a.step()
        locked_samples = a.pos - start
    finally:
        micropython.heap_unlock()
    gc.collect()
    sys.stderr.write("HEAP %d %d %d %d %d %d\n" % (
        min(readings), max(readings), len(readings), a.pos, locked_samples, a.events))
    sys.stderr.write("BLE %d %d %d\n" % (ble.frames_in, a.link_dropped, ble.lost))
    sys.stderr.write("FREE %d\n" % gc.mem_free())


main()
