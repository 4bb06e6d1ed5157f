# The rarely-run part of the event log (eventlog.py): boot recovery, rotation, LOG_ERASE.
# Imported when needed and dropped from sys.modules afterwards (RAM). LOG_READ: logxfer.py.

import os

import eventlog
import myoproto as mp

def u32(b, o):
    return b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24


def name(log, first):
    return "%s/%08x" % (log.dir, first)


def close_segment(log):
    f = log.f
    log.f = None
    if f is not None:
        try:
            f.close()
        except OSError:
            pass


def segments(log):
    """First seqs of the segment files, ascending (a list: tests and small logs only)."""
    out = [int(e[0], 16) for e in os.ilistdir(log.dir) if len(e[0]) == 8]
    out.sort()
    return out


def seek(log, x, after):
    """The smallest segment name > x (after=True) or the largest <= x, -1 if none. Streams the
    directory: a log of hundreds of segments needs no list on the small heap."""
    pick = -1
    for e in os.ilistdir(log.dir):
        if len(e[0]) == 8:
            s = int(e[0], 16)
            if after:
                if s > x and (pick < 0 or s < pick):
                    pick = s
            elif s <= x and s > pick:
                pick = s
    return pick


def scan(path, rec):
    """(last good seq or -1, True if the file is nothing but good records, bytes) of a segment.
    rec: a buffer of at least 256 bytes (the log's own, empty at boot: no allocation)."""
    last = -1
    size = 0
    mv = memoryview(rec)
    with open(path, "rb") as f:
        while True:
            if f.readinto(rec, 1) != 1:
                return last, True, size
            ln = rec[0]
            if ln < 11 or f.readinto(mv[1:], ln) != ln or \
                    mp.crc16(rec, 1, ln - 1) != rec[ln - 1] | rec[ln] << 8:
                return last, False, size
            last = u32(rec, 2)
            size += ln + 1


def recover(log, directory, max_segments):
    d = log.dir
    try:
        os.mkdir(d)
    except OSError:
        pass
    if not max_segments:
        # littlefs needs free blocks for copy-on-write: the log gets 3/4 of the rest.
        st = os.statvfs(directory)
        max_segments = max(2, (st[2] - 16) * 3 // 4 // (log.seg_bytes // st[0] + 2))
    log.max_segments = max_segments
    log.keep_from = floor = 0
    try:
        with open(d + "/state", "rb") as f:
            b = log.buf  # empty at boot
            if f.readinto(b, 8) == 8:
                log.keep_from = u32(b, 0)
                floor = u32(b, 4) + eventlog.GAP
    except OSError:
        pass
    count = 0
    for e in os.ilistdir(d):
        count += len(e[0]) == 8
    newest = seek(log, 0xFFFFFFFF, False)
    last = -1
    good = True
    size = 0
    n = floor
    if newest >= 0:
        last, good, size = scan(name(log, newest), log.buf)
        top = (last if last > newest else newest) + eventlog.GAP
        if top > n:
            n = top
    if floor and log.keep_from + eventlog.GAP > n:
        n = log.keep_from + eventlog.GAP
    log.next_seq = log.floor = n
    log.durable = n - 1
    write_state(log)  # this boot's first number: the floor of the next boot's numbering
    log.nsegs = count
    log.oldest = seek(log, -1, True)
    if newest >= 0 and good and size < log.seg_bytes:
        # Also a segment without records (a boot that logged nothing): its name is still
        # below every record that will go in.
        log.cur = newest
        log.size = size
        log.f = open(name(log, log.cur), "ab")
    else:
        new_segment(log, n)  # never append after a bad record


def write_state(log):
    # <dir>/log/state: keep_from u32, first seq of the latest boot u32; replaced atomically.
    # Written from the record buffer, empty whenever this runs (boot, erase after a flush).
    b = log.buf
    o = len(b) - 8
    mp._put_u32(b, o, log.keep_from)
    mp._put_u32(b, o + 4, log.floor)
    with open(log.dir + "/state~", "wb") as f:
        f.write(b, o, 8)
    os.rename(log.dir + "/state~", log.dir + "/state")


def new_segment(log, first):
    # Opened before any record is pending, so the file handle is not allocated on the sample
    # path.
    close_segment(log)
    while log.nsegs >= log.max_segments:
        drop_oldest(log)
    log.f = open(name(log, first), "wb")
    if first != log.cur:
        log.nsegs += 1
    log.cur = first
    log.size = 0
    if log.oldest < 0:
        log.oldest = first


def open_segment(log):
    """Called by flush when the pending records do not fit the current segment."""
    b = log.buf
    new_segment(log, u32(b, 2))  # named after the first pending record


def write_failed(log, e):
    # Nothing of the batch is committed; the segment reopens at its last sync next time.
    close_segment(log)
    log.size = log.seg_bytes  # the retry starts a new segment (same name if this one is empty)
    if e.errno == 28:  # ENOSPC: make room for the retry
        drop_oldest(log)
    raise e


def close(log):
    log.flush()
    close_segment(log)
    if log.xfer is not None:
        log.xfer.stop()


def drop_oldest(log):
    """Delete the oldest segment, counting its records in log.dropped first."""
    s0 = seek(log, -1, True)
    if s0 < 0:
        log.nsegs = 0
        return
    s1 = seek(log, s0, True)
    nxt = s1 if s1 >= 0 else log.next_seq
    lo = s0 if s0 > log.keep_from else log.keep_from
    if nxt > lo:
        log.dropped += nxt - lo
    log.oldest = s1
    if s0 == log.cur:
        close_segment(log)
        log.cur = -1
    if log.xfer is not None:
        log.xfer.gone(s0)
    os.remove(name(log, s0))
    log.nsegs -= 1


def erase(log, up_to):
    """Delete every record with seq <= up_to: whole segments; the rest hidden by keep_from."""
    log.flush()
    if up_to > log.durable:
        up_to = log.durable
    if up_to < log.keep_from:
        return
    log.keep_from = up_to + 1  # first, like a drop: RAM never shows more than flash holds
    write_state(log)
    # Segment s holds seqs up to the next name - 1 (the newest: up to durable).
    while True:
        s0 = seek(log, -1, True)
        if s0 < 0:
            break
        s1 = seek(log, s0, True)
        if (s1 - 1 if s1 >= 0 else log.durable) > up_to:
            break
        if s0 == log.cur:
            close_segment(log)
            log.cur = -1
        log.oldest = s1
        os.remove(name(log, s0))
        log.nsegs -= 1
    if log.cur < 0:
        new_segment(log, log.next_seq)


def handle_erase(log, link, msg):
    if log.xfer is not None:
        log.xfer.stop()
    erase(log, msg.fields["up_to_seq"])
    link.ack(msg.seq, msg.type)
