"""Power cuts on the virtual board's flash: the event log (firmware/eventlog.py, logmaint.py) in
the real MicroPython VM over a littlefs2 image whose block device dies at a random block write
(blockdev.FileBlockDevice.cut_after / cut_bytes). Many trials run in one MicroPython process
(tests/mp/powercut.py); the image carries over, so rotation and host erases are crossed too."""

import re
import subprocess

import pytest

from myotwitch.build import cached_sim_build
from myotwitch.paths import micropython_binary, protocol_dir

from mpvm import REPO, run_micropython

LINE = re.compile(r"POWERCUT trials (\d+) written (\d+) durable (\d+) lost (\d+) corrupt (\d+) "
                  r"repeats (\d+) dropped (\d+) erases (\d+) cuts (\d+)")


def powercut_trials(image, seed, trials, timeout=300):
    """Run tests/mp/powercut.py; return its counters as a dict."""
    build = cached_sim_build()
    proc = subprocess.run(
        [micropython_binary(), "-X", "heapsize=8m", str(REPO / "tests/mp/powercut.py"),
         str(image), str(seed), str(trials)],
        capture_output=True, timeout=timeout,
        # The full codec first: the check decodes log records (the firmware build has no
        # host-only part, see build.HOST_PART).
        env={"MICROPYPATH": "%s:%s" % (protocol_dir(), build.out_dir)})
    out = proc.stdout.decode(errors="replace")
    m = LINE.search(out)
    assert proc.returncode == 0 and m, out[-3000:] + proc.stderr.decode(errors="replace")[-3000:]
    keys = ("trials", "written", "durable", "lost", "corrupt", "repeats", "dropped", "erases", "cuts")
    stats = dict(zip(keys, map(int, m.groups())))
    stats["problems"] = [ln for ln in out.splitlines() if ln.startswith(("LOST", "CORRUPT", "REPEAT"))]
    return stats


@pytest.mark.parametrize("seed", [11, 12])
def test_power_cuts_lose_no_durable_record(tmp_path, seed):
    s = powercut_trials(tmp_path / "flash.img", seed, 125)
    assert s["problems"] == []
    assert s["lost"] == 0 and s["corrupt"] == 0 and s["repeats"] == 0
    assert s["cuts"] >= 100  # nearly every trial ends in a cut (a few end without one)
    assert s["durable"] >= 1000 and s["written"] > s["durable"]  # some were only in RAM
    assert s["dropped"] > 0  # the log filled up and rotated
    assert s["erases"] > 0


TORN = """
import os, sys, vfs
import blockdev, eventlog, logmaint
import myoproto as mp
dev = blockdev.mount(sys.argv[1], "/flash", 64)
log = eventlog.EventLog("/flash", 0x1234)
for i in range(20):
    log.add_event(i, 13, 0, 0, 100, 200)
log.flush()
last = log.next_seq - 1
seg = logmaint.segments(log)[-1]
log.close()
# A record torn by a power cut: a good header, then the tail missing and garbage.
good = bytearray(mp.encode_record(mp.EVENT, last + 1, 0x1234, bytes(10)))
with open(logmaint.name(log, seg), "ab") as f:
    f.write(good[:9])
log = eventlog.EventLog("/flash", 0x5678)
print("NEXT", log.next_seq, "LAST", last, "CUR", log.cur, "SEG", seg)
class Hal:
    out = []
    def serial_write(self, d):
        self.out.append(bytes(d))
class Link:
    hal = Hal()
    n = 0
    def _next_seq(self):
        self.n += 1
        return self.n
log.add_event(99, 13, 1, 0, 100, 200)
log.handle_request(Link(), mp.Message(mp.LOG_READ, 5, {"from_seq": 0, "to_seq": 0xFFFFFFFF}))
while log.xfer is not None:
    log.tick(0)
seqs = []
for fr in Link.hal.out:
    m = mp.decode(fr)
    seqs += [r[1] for r in mp.decode_records(m["records"])]
print("SEQS", seqs)
"""


def test_a_torn_last_record_is_discarded_and_never_returned(tmp_path):
    r = run_micropython(TORN, args=[tmp_path / "flash.img"],
                        path=[str(protocol_dir()), cached_sim_build().out_dir],  # full codec first
                        heapsize="1m").check()
    nxt, last, cur, seg = map(int, re.search(r"NEXT (\d+) LAST (\d+) CUR (\d+) SEG (\d+)",
                                             r.stdout).groups())
    seqs = eval(re.search(r"SEQS (\[.*\])", r.stdout).group(1))
    assert nxt > last + 1  # resumes past the last good record, never at the torn one
    assert cur != seg  # nothing is appended after the torn record
    assert seqs == list(range(0, last + 1)) + [nxt]  # the torn record is not data


def test_the_durability_bound_holds_across_a_kill(tmp_path):
    """Every event detected more than 2 s (of samples) + one pass before a kill -9 of the
    virtual board is in its log afterwards, and numbering goes on past every live seq."""
    import time

    from myotwitch.link import Device
    from myotwitch.protocol import myoproto as mp
    from myotwitch.pull import pull_log
    from myotwitch.sim import SimBoard
    from myotwitch.store import open_store

    bound = 2 * 1000 + 128 + 4095  # flush interval + one pass + the longest event (samples)
    from test_pull import read_log

    with SimBoard(speed=10, flash=tmp_path / "flash.img") as board:
        live = []
        with Device.open(board.port) as dev:
            dev.hello()
            end = time.monotonic() + 6
            while time.monotonic() < end:
                m = dev.recv(0.1)
                if m is not None and m.type == mp.EVENT:
                    live.append((m.seq, m["onset"]))
            idx = dev.time_set()["sample_index"]
            board.reboot()  # SIGKILL: what is only in RAM is gone
        with Device.open(board.port) as dev, open_store(tmp_path / "s.db") as store:
            pull_log(dev, store)
            stored = {r[0] for r in store.conn.execute("SELECT seq FROM events")}
            after = dev.hello().boot_id
        _, records = read_log(board.port)
    old = [seq for seq, onset in live if onset + bound < idx]
    assert len(old) >= 3
    assert set(old) <= stored
    new_boot = [s for _, s, b, _ in records if b == after]
    assert new_boot and min(new_boot) > max(s for s, _ in live)  # no seq is ever reused
