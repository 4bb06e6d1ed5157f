# The rarely-run half of the event log (eventlog.py): boot recovery, rotation, LOG_READ and
# LOG_ERASE. Imported when needed and dropped from sys.modules afterwards (RAM).
#
# A LOG_READ answer goes out a few chunks per main-loop pass (sampling goes on meanwhile) and
# only while the serial port can take them, so no chunk is dropped for a slow reader. A new
# LOG_READ replaces the answer in progress: a host that saw a frame go missing asks again from
# the last record it kept (the download is resumable, SPEC section 5).

import os

import eventlog
import myoproto as mp

PER_PASS = 8  # chunks per main-loop pass at most
ROOM = 231  # record bytes per LOG_CHUNK
REC = 21  # frame offset of the records: code 1, header 6, ref flags oldest next 13, count 1


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


def scan(path):
    """(last good seq or -1, True if the file is nothing but good records, bytes) of a segment."""
    last = -1
    size = 0
    rec = bytearray(256)
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
            b = bytearray(8)
            if f.readinto(b) == 8:
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
        last, good, size = scan(name(log, newest))
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
    b = bytearray(8)
    mp._put_u32(b, 0, log.keep_from)
    mp._put_u32(b, 4, log.floor)
    with open(log.dir + "/state~", "wb") as f:
        f.write(b)
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


def oldest_seq(log):
    """Seq of the oldest record still readable (next_seq when the log is empty)."""
    o = log.oldest if log.oldest >= 0 else log.next_seq
    return o if o > log.keep_from else log.keep_from


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


def handle(log, link, msg):
    if log.xfer is not None:
        log.xfer.stop()
    if msg.type == mp.LOG_ERASE:
        erase(log, msg.fields["up_to_seq"])
        link.ack(msg.seq, msg.type)
        return
    log.flush()
    if log.size:
        # The segment being read is never appended to meanwhile: the next flush starts a new
        # one (and rotates, if it must; a read never drops records itself).
        close_segment(log)
        log.cur = -1
    f = msg.fields
    log.xfer = Transfer(log, link, msg.seq, f["from_seq"], f["to_seq"])


class Transfer:
    def __init__(self, log, link, ref, lo, hi):
        self.log = log
        self.link = link
        self.ref = ref
        o = oldest_seq(log)
        self.lo = lo if lo > o else o
        self.hi = hi if hi < log.durable else log.durable
        self.frame = bytearray(mp.MAX_WIRE)
        self.mv = memoryview(self.frame)
        self.one = bytearray(1)
        self.f = None
        self.seg = -1
        self.ended = self.lo > self.hi  # no segment left to read
        self.ready = getattr(link.hal, "tx_ready", None)

    def stop(self):
        if self.f is not None:
            self.f.close()
            self.f = None
        self.log.xfer = None

    def gone(self, first):
        # The log deletes a segment (rotation): if it is the one being read, move on.
        if first == self.seg and self.f is not None:
            self.f.close()
            self.f = None

    def _next_segment(self):
        if self.seg < 0:
            pick = seek(self.log, self.lo, False)  # the segment holding lo
            if pick < 0:
                pick = seek(self.log, -1, True)  # lo is older than everything left
        else:
            pick = seek(self.log, self.seg, True)
        if pick < 0:
            self.ended = True
            return False
        self.seg = pick
        self.f = open(name(self.log, pick), "rb")
        return True

    def _skip(self):
        self.f.close()
        self.f = None

    def step(self):
        for _ in range(PER_PASS):
            if self.ready is not None and not self.ready():
                return
            if self.chunk():
                self.stop()
                eventlog.unload()
                return

    def chunk(self):
        """Send one LOG_CHUNK; True if it was the last of the answer."""
        fr = self.frame
        k = REC
        last = False
        while True:
            f = self.f
            if f is None:
                if self.ended or not self._next_segment():
                    last = True
                    break
                f = self.f
            pos = f.tell()
            if f.readinto(self.one, 1) != 1:
                self._skip()  # end of this segment
                continue
            ln = self.one[0]
            if ln < 11 or ln > ROOM - 1:
                self._skip()  # a bad length: nothing after it in this segment can be trusted
                continue
            if k + 1 + ln > REC + ROOM:
                f.seek(pos)  # it starts the next chunk
                break
            if f.readinto(self.mv[k + 1:k + 1 + ln], ln) != ln or \
                    mp.crc16(fr, k + 1, k + ln - 1) != fr[k + ln - 1] | fr[k + ln] << 8:
                self._skip()  # torn or corrupt: never sent as data
                continue
            seq = u32(fr, k + 2)
            if seq < self.lo:
                continue
            if seq > self.hi:
                last = True
                break
            fr[k] = ln
            self.lo = seq + 1
            k += 1 + ln
        log = self.log
        mp._put_u32(fr, 7, self.ref)
        fr[11] = mp.CHUNK_LAST if last else 0
        mp._put_u32(fr, 12, oldest_seq(log))
        mp._put_u32(fr, 16, log.next_seq)
        fr[20] = k - REC
        n = mp._finish_in_place(fr, mp.LOG_CHUNK, self.link._next_seq(), k + 1)
        self.link.hal.serial_write(self.mv[:n])
        return last
