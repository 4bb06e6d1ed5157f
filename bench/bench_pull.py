"""Log download throughput: `pull` of 100,000 events from the virtual board.

    .venv/bin/python -m bench.bench_pull        (or via bench/run.py)

The board's flash log is filled by the real firmware log code in MicroPython (simlog.prefill_log),
then the real firmware serves LOG_READ over a pty and pull_log stores every record in SQLite.
Prints the time (budget 60 s), and useful record bytes against all bytes on the wire (budget 70 %;
the ceiling is 10 EVENT records of 22 bytes in a 244-byte LOG_CHUNK frame = 90.2 %).
"""

import tempfile
import time
from pathlib import Path

from myotwitch.protocol import myoproto as mp

N = 100_000
BLOCKS = 1024  # 4 MB of flash: the log holds about 110,000 events


def ceiling():
    rec = mp.RECORD_OVERHEAD + 10  # an EVENT record
    per_chunk = 231 // rec
    wire = mp.HEADER_LEN + 13 + 1 + per_chunk * rec + mp.CRC_LEN + 2
    return per_chunk * rec / wire


def main():
    from myotwitch.link import Device
    from myotwitch.pull import pull_log
    from myotwitch.sim import SimBoard
    from myotwitch.simlog import prefill_log
    from myotwitch.store import open_store

    with tempfile.TemporaryDirectory(prefix="bench-pull-") as tmp:
        img = Path(tmp) / "flash.img"
        t0 = time.perf_counter()
        info = prefill_log(img, N, flash_blocks=BLOCKS)
        print("prefilled %d events on the virtual board's flash in %.1f s (%d segments)"
              % (info["last"] - info["first"] + 1, time.perf_counter() - t0, info["segments"]))
        with SimBoard(speed=1, flash=img, flash_blocks=BLOCKS) as board, \
                Device.open(board.port) as dev, open_store(Path(tmp) / "s.db") as store:
            t0 = time.perf_counter()
            res = pull_log(dev, store)
            took = time.perf_counter() - t0
            stored = store.conn.execute("SELECT count(*) FROM events").fetchone()[0]
    share = res.record_bytes / res.wire_bytes
    print("pull: %d records (%d events stored) in %.1f s = %.0f records/s   budget 60 s: %s"
          % (res.records, stored, took, res.records / took, "ok" if took < 60 else "OVER"))
    print("useful record bytes %d of %d bytes on the wire = %.1f %%   budget 70 %%: %s "
          "(ceiling %.1f %%)" % (res.record_bytes, res.wire_bytes, 100 * share,
                                 "ok" if share >= 0.70 else "UNDER", 100 * ceiling()))
    if stored < N:
        raise RuntimeError("only %d of %d events arrived" % (stored, N))


if __name__ == "__main__":
    main()
