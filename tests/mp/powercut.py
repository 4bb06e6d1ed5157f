# Power-cut trials of the event log, many in one MicroPython process:
#   micropython powercut.py IMAGE SEED TRIALS
# Each trial "boots" (mounts the littlefs image on a fresh FileBlockDevice, recovers the log,
# reads every record back through the real LOG_READ path), then logs records until the block
# device dies at a random write (blockdev.PowerCut) -- during recovery, a flush, a rotation or an
# erase. The image carries over to the next trial, so the trials cover the log's whole life.
# Prints one line: "POWERCUT trials written durable lost corrupt repeats dropped erases cuts".
import os
import random
import sys

import vfs

import blockdev
import eventlog
import logmaint
import logxfer
import myoproto as mp

IMAGE, SEED, TRIALS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
BLOCKS = 40
SEG = 1024  # small segments and a small log: rotation every few trials
MAXSEG = 6
STATUS_NOISE = [7]

random.seed(SEED)


def expected(seq):
    """The record the writer logs as number seq: (type, fields)."""
    if seq % 10 == 9:
        return mp.STATUS, {"uptime_s": seq, "sample_index": seq * 3 & 0xFFFFFFFF,
                           "battery_mv": seq & 0xFFFF, "dropped": 0, "log_fill": 0,
                           "cpu_load": 0, "noise": STATUS_NOISE}
    return mp.EVENT, {"onset": seq * 3 & 0xFFFFFFFF, "dkc": mp.pack_dkc(seq % 4000, seq % 4, seq >> 2 & 3),
                      "peak": seq % 65535, "area": seq * 7 % 65535}


def write_one(log):
    seq = log.next_seq
    t, f = expected(seq)
    if t == mp.EVENT:
        d = f["dkc"]
        got = log.add_event(f["onset"], d & 0xFFF, d >> 12 & 3, d >> 14, f["peak"], f["area"])
    else:
        got = log.add(t, f)
    if got != seq:
        raise AssertionError("seq %d handed out, expected %d" % (got, seq))
    return seq


class Hal:
    def __init__(self):
        self.out = []

    def serial_write(self, data):
        self.out.append(bytes(data))


class Link:
    def __init__(self):
        self.hal = Hal()
        self.n = 0

    def _next_seq(self):
        self.n += 1
        return self.n

    def ack(self, ref, t):
        pass


def read_all(log):
    """Every record the log returns over LOG_READ, decoded; raises on a corrupt record."""
    link = Link()
    log.handle_request(link, mp.Message(mp.LOG_READ, 1, {"from_seq": 0, "to_seq": 0xFFFFFFFF}))
    while log.xfer is not None:
        log.tick(0)
    out = []
    oldest = None
    for fr in link.hal.out:
        m = mp.decode(fr)
        oldest = m["oldest_seq"]
        out.extend(mp.decode_records(m["records"]))
    if not link.hal.out or not mp.decode(link.hal.out[-1])["flags"] & mp.CHUNK_LAST:
        raise AssertionError("the answer has no last chunk")
    return oldest, out


def same(rec, seq, boot):
    t, f = expected(seq)
    if rec[0] != t or rec[2] != boot:
        return False
    fields = rec[3]
    for k in f:
        if fields[k] != f[k]:
            return False
    return True


durable = {}  # seq -> boot_id: records the log reported durable
given = {}  # seq -> boot_id: every number handed out
max_given = -1
bound = 0  # the oldest record the log may have dropped or erased up to
stats = {"durable": 0, "written": 0, "lost": 0, "corrupt": 0, "repeats": 0, "dropped": 0, "erases": 0,
         "cuts": 0}
first = True

for trial in range(TRIALS):
    dev = blockdev.FileBlockDevice(IMAGE, BLOCKS)
    if first:
        vfs.VfsLfs2.mkfs(dev)
        first = False
    vfs.mount(vfs.VfsLfs2(dev), "/flash")
    boot = random.getrandbits(30) | 1
    pending = []
    log = None
    names = sorted(int(n, 16) for n in os.listdir("/flash/log") if len(n) == 8) \
        if "log" in os.listdir("/flash") else []
    try:
        if random.randrange(8) == 0:  # cut during recovery
            dev.cut_after = dev.writes + random.randrange(0, 4)
            dev.cut_bytes = random.randrange(0, 600)
        log = eventlog.EventLog("/flash", boot, seg_bytes=SEG, max_segments=MAXSEG,
                                flush_records=random.choice((4, 16)))
        b = logxfer.oldest_seq(log)  # recovery itself may rotate (it opens a segment)
        if b > bound:
            bound = b
        if log.next_seq <= max_given:
            stats["repeats"] += 1
            print("REPEAT trial %d next %d max given %d segs %r durable %d" % (trial, log.next_seq, max_given, logmaint.segments(log), max(durable) if durable else -1))
        if dev.cut_after < 0:
            oldest, recs = read_all(log)
            seen = {}
            prev = -1
            for r in recs:
                seq = r[1]
                if seq <= prev or seq not in given or not same(r, seq, given[seq]):
                    stats["corrupt"] += 1
                    print("CORRUPT trial %d record %r" % (trial, r))
                prev = seq
                seen[seq] = 1
            # Durable records the log did not itself report dropped or erased must be there.
            for seq in durable:
                if seq >= bound and seq not in seen:
                    stats["lost"] += 1
                    print("LOST trial %d seq %d (oldest %d, bound %d)" % (trial, seq, oldest, bound))
            for seq in [s for s in durable if s < bound]:
                del durable[seq]
            dev.cut_after = dev.writes + random.randrange(1, 40)
            dev.cut_bytes = random.randrange(0, 600)
        pos = 0
        for step in range(random.randrange(20, 400)):
            r = random.randrange(100)
            if r < 85:
                seq = write_one(log)
                given[seq] = boot
                pending.append(seq)
                stats["written"] += 1
                if seq > max_given:
                    max_given = seq
            elif r < 97:
                pos += random.randrange(1, 1500)
                log.tick(pos)
            elif r < 99:
                log.flush()
            elif durable:
                up = random.choice(list(durable))
                stats["erases"] += 1
                log.handle_request(Link(), mp.Message(mp.LOG_ERASE, 2, {"up_to_seq": up}))
            b = logxfer.oldest_seq(log)
            if b > bound:
                bound = b
            keep = []
            for s in pending:
                if s <= log.durable:
                    durable[s] = boot
                    stats["durable"] += 1
                else:
                    keep.append(s)
            pending = keep
            if dev.dead:  # the log swallows flash errors in tick(); the power is gone anyway
                raise blockdev.PowerCut(5)
    except blockdev.PowerCut:
        stats["cuts"] += 1
        if log is None and len(names) > 1 and names[1] > bound:
            bound = names[1]  # recovery may have been rotating out the oldest segment
        if log is not None:
            b = logxfer.oldest_seq(log)
            if b > bound:
                bound = b
    if log is not None:
        stats["dropped"] += log.dropped
        logmaint.close_segment(log)
        if log.xfer is not None and log.xfer.f is not None:
            try:
                log.xfer.f.close()
            except OSError:
                pass
        eventlog.unload()
    try:
        vfs.umount("/flash")
    except OSError:
        pass
    dev.close()

print("POWERCUT trials %d written %d durable %d lost %d corrupt %d repeats %d dropped %d erases %d cuts %d"
      % (TRIALS, stats["written"], stats["durable"], stats["lost"], stats["corrupt"], stats["repeats"],
         stats["dropped"], stats["erases"], stats["cuts"]))
