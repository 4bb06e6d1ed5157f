"""Virtual board only: fill a flash image's event log with synthetic records, fast.

Runs the real firmware log (eventlog.py) in the MicroPython unix port over the image, so the
records on "flash" are exactly what the board would have written; only the batching is larger
(the prefill is not a detector callback). Used by tests and bench/bench_pull.py to have 100,000
records to pull without recording for hours.
"""

from __future__ import annotations

import os
import random
import subprocess

from myotwitch.build import cached_sim_build
from myotwitch.paths import micropython_binary

SCRIPT = r"""
import sys, vfs
import blockdev, eventlog
import myoproto as mp
image, blocks, count, boot, with_time, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
import random
random.seed(seed)
dev = blockdev.mount(image, "/flash", blocks)
eventlog.BUF = 8192  # big batches: the prefill is not on the sample path
log = eventlog.EventLog("/flash", boot, flush_records=242)
log.buf = bytearray(8192)
first = log.next_seq
onset = 1000
if with_time:
    log.add(mp.TIME, {"ref": 1, "boot_id": boot, "sample_index": 0, "fs": 1000, "unix_ms": with_time})
for i in range(count):
    onset += 200 + random.getrandbits(10)
    log.add_event(onset, 8 + random.getrandbits(5), random.getrandbits(2), 0, 50 + random.getrandbits(9), 100 + random.getrandbits(11))
    if log.pending >= 242:  # 3 batches fill a 16000-byte segment: no space wasted
        log.flush()
log.flush()
print("PREFILL", first, log.next_seq - 1, log.dropped, log.nsegs, log.max_segments)
"""


def prefill_log(image, count, flash_blocks=256, boot_id=None, time_ms=0, seed=1) -> dict:
    """Append `count` EVENT records (one boot, `boot_id`, random if None) to the log on the
    littlefs image (created if missing). time_ms: also log a TIME record anchoring the boot's
    sample 0 at that unix time. Returns {"first", "last", "dropped", "segments", "max_segments"}."""
    build = cached_sim_build()
    boot_id = random.getrandbits(32) if boot_id is None else boot_id
    script = build.out_dir.parent / ("prefill-%d.py" % os.getpid())
    script.write_text(SCRIPT)
    try:
        proc = subprocess.run(
            [micropython_binary(), "-X", "heapsize=1m", str(script), str(image), str(flash_blocks),
             str(count), str(boot_id), str(int(time_ms)), str(seed)],
            capture_output=True, timeout=600, env=dict(os.environ, MICROPYPATH=str(build.out_dir)))
    finally:
        script.unlink()
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0 or "PREFILL" not in out:
        raise RuntimeError("prefill failed:\n%s\n%s" % (out, proc.stderr.decode(errors="replace")))
    first, last, dropped, segs, maxsegs = map(int, out.split("PREFILL", 1)[1].split()[:5])
    return {"first": first, "last": last, "dropped": dropped, "segments": segs,
            "max_segments": maxsegs, "boot_id": boot_id}
