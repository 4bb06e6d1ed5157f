# Runs firmware/detector.py over an int16 file as app.py does (ring, blocks), with the heap
# locked (any allocation on the sample path raises MemoryError), and prints one line per event:
# argv = samples.i16 fs params.json first_index block_sizes(comma-separated) [flush] [viper]
import json
import sys
from array import array

import micropython


path, fs, ppath, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sizes = array("i", [int(s) for s in sys.argv[5].split(",")])
with open(ppath) as f:
    params = json.load(f)
with open(path, "rb") as f:
    data = array("h", f.read())
RING = 512
MAXEV = 20000
ring = array("h", bytes(2 * RING))
mask = RING - 1
out = array("i", bytes(4 * 6 * MAXEV))
state = array("i", [0, 0])  # events, max noise


def emit(onset, dur, kind, ch, peak, area):
    k = state[0]
    if k < MAXEV:
        out[6 * k] = onset
        out[6 * k + 1] = dur
        out[6 * k + 2] = kind
        out[6 * k + 3] = ch
        out[6 * k + 4] = peak
        out[6 * k + 5] = area
    state[0] = k + 1


opts = sys.argv[6:]
if "viper" in opts:
    from detviper import ViperDetector as Detector
else:
    from detref import RefDetector as Detector
det = Detector(0, fs, params, emit)
n = len(data)
pos = 0
k = 0
nsz = len(sizes)
j = cnt = 0  # bind every global before the lock (a new one could grow the globals dict)
micropython.heap_lock()
while pos < n:
    cnt = min(sizes[k % nsz], n - pos)
    k += 1
    for j in range(cnt):
        ring[(first + pos + j) & mask] = data[pos + j]
    det.process(ring, (first + pos) & mask, cnt, first + pos, mask)
    pos += cnt
    if det.noise > state[1]:
        state[1] = det.noise
if "flush" in opts:
    det.flush()
micropython.heap_unlock()
assert state[0] <= MAXEV, "too many events for this harness"
for k in range(state[0]):
    print("%d %d %d %d %d %d" % tuple(out[6 * k:6 * k + 6]))
print("NOISE %d %d" % (det.noise, state[1]))
