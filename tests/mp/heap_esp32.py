# The ESP32 firmware's sampler (hal_esp32's timer callback) and application, with the event log,
# run over a real recording on the bench stand-in for `machine` (fake_machine.py, the only fake)
# and report their heap. argv = BOARD_JSON DATA_DIR samples.i16 seconds.
#
# Time is simulated: each timer tick is made 1 ms late on purpose, so the callback takes one
# ADC reading per tick, as at 1 kHz on the chip; the app runs one pass per 128 ticks.
import gc
import sys
import time

import micropython

import fake_machine  # installs itself as `machine`

board_file, data_dir, samples, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if len(sys.argv) > 5:
    # The radio on, advertising, no host: the stand-in `bluetooth` (sim_bluetooth.py) in front
    # of the simulated radio on this port; its own code and state are measured apart (STANDIN).
    gc.collect()
    before = gc.mem_alloc()
    import sim_bluetooth

    sim_bluetooth.attach(int(sys.argv[5]))
    gc.collect()
    print("STANDIN %d" % (gc.mem_alloc() - before))

import hal_esp32  # noqa: E402

if len(sys.argv) <= 5:
    hal_esp32.Hal.radio = False  # radio off (the BLE path: heap_ble.py, or with a radio port)
hal = hal_esp32.Hal(board_file, data_dir)
hal.serial_write = lambda data: None  # no host here: frames are encoded, then dropped
gc.collect()
import app  # noqa: E402

a = app.App(hal)
a.cfg.set("status_s", 3600)  # STATUS allocates (off the sample path); keep it out of this run
a.handle(app.mp.Message(app.mp.STREAM_START, 1, {"channels": 1}))  # raw SAMPLES frames too
app.unload()  # as App.step does after requests
adc = hal.adcs[0]
f = open(samples, "rb")
chunk = bytearray(256)


def run_until(end):
    fs = a.fs
    got = 0
    i = 0
    while a.pos < end:
        for _ in range(128):
            if i >= got:
                got = f.readinto(chunk)
                if not got:
                    f.seek(0)
                    got = f.readinto(chunk)
                i = 0
            v = chunk[i] | chunk[i + 1] << 8
            adc.v = (v - 65536 if v & 0x8000 else v) + 32768
            i += 2
            hal.frac = 0
            hal.t_last = time.ticks_add(time.ticks_us(), -1000000 // fs)
            hal.tick_cb(hal.timer)
        a.step()


run_until(a.fs)  # warm-up: first-use allocations
readings = [0] * (seconds // 2 + 2)
taken = 0
t = a.pos
while t < seconds * a.fs:
    gc.collect()
    readings[taken] = gc.mem_alloc()
    taken += 1
    t += 2 * a.fs
    run_until(t)
readings = readings[:taken]
locked = 0
start = 0
micropython.heap_lock()
try:
    start = a.pos
    run_until(start + 10 * a.fs)
    locked = a.pos - start
finally:
    micropython.heap_unlock()
gc.collect()
print("HEAP %d %d %d %d %d %d %d" % (min(readings), max(readings), len(readings), a.pos, locked,
                                     a.events, a.dropped + hal.dropped))
print("FREE %d" % gc.mem_free())
