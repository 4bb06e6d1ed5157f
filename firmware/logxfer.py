# LOG_READ for the event log (eventlog.py): imported when the host asks, dropped after the
# answer (RAM); it shares nothing resident with logmaint.py, so only one of them is loaded.
#
# An answer goes out a few chunks per main-loop pass (sampling goes on meanwhile) and only while
# the serial port can take them (hal.tx_ready), so no chunk is dropped for a slow reader. A new
# LOG_READ replaces the answer in progress: a host that saw a frame go missing asks again from
# the last record it kept (the download is resumable, SPEC section 5).

import os

import eventlog
import myoproto as mp

PER_PASS = 8  # chunks per main-loop pass at most
ROOM = 231  # record bytes per LOG_CHUNK
REC = 21  # frame offset of the records: code 1, header 6, ref flags oldest next 13, count 1


def name(log, first):
    return "%s/%08x" % (log.dir, first)


def seek(log, x, after):
    """The smallest segment name > x (after=True) or the largest <= x, -1 if none."""
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


def oldest_seq(log):
    """Seq of the oldest record still readable (next_seq when the log is empty)."""
    o = log.oldest if log.oldest >= 0 else log.next_seq
    return o if o > log.keep_from else log.keep_from


def handle(log, link, msg):
    if log.xfer is not None:
        log.xfer.stop()
    log.flush()
    if log.size:
        # The segment being read is never appended to meanwhile: the next flush starts a new
        # one (and rotates, if it must; a read never drops records itself).
        f = log.f
        log.f = None
        log.cur = -1
        if f is not None:
            f.close()
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
                eventlog.unload("logxfer")
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
            seq = fr[k + 2] | fr[k + 3] << 8 | fr[k + 4] << 16 | fr[k + 5] << 24
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
