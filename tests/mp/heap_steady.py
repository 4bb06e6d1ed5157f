# Runs the firmware (app + sampler + detector + sim HAL) at full speed over a recording and
# reports its heap: argv = samples.i16 flash.img seconds. Output goes to stderr (stdout is the
# firmware's serial link here).
import gc
import sys

import micropython

import hal_sim

samples, flash, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
hal = hal_sim.Hal(samples, speed_milli=0, flash=flash)
gc.collect()
import app  # noqa: E402

a = app.App(hal)
a.cfg.set("status_s", 3600)  # STATUS allocates (off the sample path); keep it out of this run
a.handle(app.mp.Message(app.mp.STREAM_START, 1, {"channels": 1}))  # raw SAMPLES frames too
app.unload()  # as App.step does after requests
fs = a.fs
while a.pos < fs:  # warm-up: first-use allocations (poll iterators, file buffers)
    a.step()
readings = [0] * (seconds // 2 + 2)  # preallocated: a growing list would be the growth
taken = 0
next_at = a.pos
while a.pos < seconds * fs:
    if a.pos >= next_at:
        gc.collect()
        readings[taken] = gc.mem_alloc()
        taken += 1
        next_at += 2 * fs
    a.step()
readings = readings[:taken]
# The strict form: with the heap locked any allocation raises MemoryError.
locked_samples = 0
start = 0  # globals exist before the lock: adding one to the module dict would allocate
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
sys.stderr.write("FREE %d DROPPED %d\n" % (gc.mem_free(), a.dropped))
sys.stderr.write("READINGS %s\n" % readings)
