# Heap use of the hot-path encoders under MicroPython: run with -X heapsize=64k
# and myoproto compiled to .mpy on the path. Prints
#   alloc event <bytes> samples <bytes> calls <n>
# where <bytes> is gc.mem_alloc() after minus before n calls with the GC off.
import gc
from array import array
import myoproto as P


def measure(n):
    buf = bytearray(P.MAX_WIRE)
    ring = array("h", range(-250, 250))  # 500 samples; frames wrap its end
    for i in range(4):  # warm-up
        P.encode_event_into(buf, i, 1000 + i, 13, 1, 2, 5000, 70000)
        P.encode_samples_into(buf, i, i * 100, 0, ring, 450, 100)
    gc.collect()
    gc.disable()
    a = gc.mem_alloc()
    for i in range(n):
        P.encode_event_into(buf, i, 1000 + i, i & 8191, i & 3, (i >> 2) & 3, i * 7, i * 131)
    b = gc.mem_alloc()
    for i in range(n):
        P.encode_samples_into(buf, i, i * 100, 0, ring, (i * 100) % 500, 100)
    c = gc.mem_alloc()
    gc.enable()
    return b - a, c - b


ev, sa = measure(1000)
print("alloc event %d samples %d calls %d" % (ev, sa, 1000))
