# Runs firmware/detector.py over an int16 file as app.py does (ring, blocks) and prints one line
# per event: argv = samples.i16 fs params.json first_index block_sizes(comma-separated)
import json
import sys
from array import array

import detector

path, fs, ppath, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
sizes = [int(s) for s in sys.argv[5].split(",")]
with open(ppath) as f:
    params = json.load(f)
with open(path, "rb") as f:
    data = array("h", f.read())
RING = 512
ring = array("h", bytes(2 * RING))
mask = RING - 1
out = []


def emit(onset, dur, kind, ch, peak, area):
    out.append((onset, dur, kind, ch, peak, area))


det = detector.Detector(0, fs, params, emit)
n = len(data)
pos = 0
k = 0
noise_max = 0
while pos < n:
    cnt = min(sizes[k % len(sizes)], n - pos)
    k += 1
    for j in range(cnt):
        ring[(first + pos + j) & mask] = data[pos + j]
    det.process(ring, (first + pos) & mask, cnt, first + pos, mask)
    pos += cnt
    if det.noise > noise_max:
        noise_max = det.noise
for ev in out:
    print("%d %d %d %d %d %d" % ev)
print("NOISE %d %d" % (det.noise, noise_max))
