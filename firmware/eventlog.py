# The power-safe event log: records (SPEC section 10) appended to segment files on littlefs.
#
# <dir>/log/<first seq, 8 hex digits>  segments of at most seg_bytes of whole records
# <dir>/log/state                      keep_from u32 (records below were erased by the host),
#                                      floor u32 (the first seq of the latest boot), LE
#
# Records collect in a RAM buffer and reach flash in one write + sync per batch: littlefs copies
# the file's last block on the first append after a sync, so a sync per event would cost a 4 KB
# erase per event. DURABILITY BOUND: a record is on flash at the end of the main-loop pass in
# which FLUSH_RECORDS (16) records are pending or the oldest pending one is flush_samples old
# (the app sets 2 s of samples): at most 16 records or 2 s + one pass (128 samples) are at risk.
# A littlefs sync is atomic, so a power cut loses only what was still in RAM; recovery also
# checks every record's CRC and never appends after a bad one.
#
# Sequence numbers never repeat: at most GAP - 1 numbers are ever handed out beyond the newest
# record on flash or the boot's first number (live EVENT frames carry numbers before they are
# durable; at most BUF / 17 are pending), so after a reboot numbering resumes GAP past the
# newest of: last record, segment name, erase mark, previous boot's first number (all on flash).
# The unused numbers show as a gap in seq. (If
# the flash keeps failing, pending records are dropped and counted; numbers of records that
# never reached flash may then be reused in a later boot, under a different boot_id.)
#
# When the log holds max_segments segments the oldest is deleted; `dropped` counts its records
# and the host sees them as the range below LOG_CHUNK.oldest_seq that it had not pulled.
#
# Appending and flushing allocate nothing (preallocated buffer, the segment file kept open).
# The rarely-run rest is imported when needed and dropped again (the heap has no room to keep it
# resident): boot recovery, rotation and LOG_ERASE in logmaint.py, LOG_READ in logxfer.py.

import sys

import myoproto as mp

GAP = 64
FLUSH_RECORDS = 16
SEG_BYTES = 16000  # four 4 KB littlefs blocks (each loses a few bytes to its CTZ pointers)
BUF = 384  # 16 EVENTs (22 B) and a STATUS; a full buffer is flushed at once


def maint():
    import gc

    gc.collect()  # the module needs a few KB: start from a swept heap
    import logmaint

    return logmaint


def unload(module="logmaint"):
    sys.modules.pop(module, None)


class EventLog:
    stores_records = True
    # Defaults as class attributes: every instance attribute costs heap, these rarely change.
    seg_bytes = SEG_BYTES
    flush_records = FLUSH_RECORDS
    flush_samples = 2000  # the app sets 2 s of its sample rate
    dropped = 0  # records lost to rotation (or to a failing flash) since boot
    errors = 0
    xfer = None  # a LOG_READ answer in progress (logmaint.Transfer)

    def __init__(self, directory, boot_id, seg_bytes=SEG_BYTES, max_segments=0,
                 flush_records=FLUSH_RECORDS):
        self.dir = directory + "/log"
        if seg_bytes != SEG_BYTES:
            self.seg_bytes = seg_bytes
        if flush_records != FLUSH_RECORDS:
            self.flush_records = flush_records
        self.n = self.pending = self.size = 0
        self.since = -1
        self.buf = bytearray(BUF)
        self.boot4 = bytearray(4)
        mp._put_u32(self.boot4, 0, boot_id)
        self.ev = bytearray(10)  # an EVENT payload
        self.f = None
        self.cur = -1
        # Set by the recovery, first here: the instance dict takes its final size before
        # logmaint.py is loaded, not in the fuller heap while it runs.
        self.max_segments = self.nsegs = self.keep_from = self.floor = 0
        self.next_seq = self.durable = self.oldest = 0
        maint().recover(self, directory, max_segments)
        unload()

    # ---- appending (add_event runs inside the detector callback: no allocation)

    def add_event(self, onset, duration, kind, channel, peak, area):
        e = self.ev
        mp._put_u32(e, 0, onset)
        mp._put_u16(e, 4, mp.pack_dkc(duration, kind, channel))
        mp._put_u16(e, 6, peak if peak < 0xFFFF else 0xFFFF)
        mp._put_u16(e, 8, area if area < 0xFFFF else 0xFFFF)
        return self.add(mp.EVENT, e)

    def add(self, rec_type, fields):
        """Log a record; MARK, STATUS and TIME fields are encoded here (that allocates: not for
        the sample path), an EVENT payload comes ready from add_event."""
        p = fields if rec_type == mp.EVENT else mp.encode_payload(rec_type, fields)
        n = len(p)
        if self.n + 12 + n > BUF:
            self._try_flush()
        seq = self.next_seq
        self.next_seq = seq + 1
        b = self.buf
        o = self.n
        b[o] = 11 + n
        b[o + 1] = rec_type
        mp._put_u32(b, o + 2, seq)
        bb = self.boot4
        for i in range(4):
            b[o + 6 + i] = bb[i]
        for i in range(n):
            b[o + 10 + i] = p[i]
        e = o + 10 + n
        mp._put_u16(b, e, mp.crc16(b, o + 1, e))
        self.n = e + 2
        self.pending += 1
        return seq

    # ---- making it durable

    def tick(self, pos):
        """Called once per main-loop pass with the current sample position."""
        if self.pending:
            if self.since < 0:
                self.since = pos
            if self.pending >= self.flush_records or pos - self.since >= self.flush_samples:
                self._try_flush()
        if self.xfer is not None:
            self.xfer.step()

    def _try_flush(self):
        try:
            self.flush()
        except OSError:
            self.errors += 1  # a failing flash: keep the batch and retry, unless it is full
            if self.n > BUF - 64:
                self.dropped += self.pending
                self.n = self.pending = 0

    def flush(self):
        """Write the pending records and sync. Raises OSError if the flash fails."""
        n = self.n
        if not n:
            return
        if self.cur < 0 or self.size + n > self.seg_bytes:
            try:
                maint().open_segment(self)
            except MemoryError:
                # No room for the next segment's code and file in a fragmented heap: retried
                # as a failing flash is (_try_flush), not a stop.
                unload()
                raise OSError(12)  # ENOMEM
            unload()
        try:
            self.f.write(self.buf, 0, n)
            self.f.flush()
        except OSError as e:
            maint().write_failed(self, e)  # re-raises
        self.size += n
        self.n = self.pending = 0
        self.since = -1
        self.durable = self.next_seq - 1

    def fill_permille(self):
        return self.nsegs * 1000 // self.max_segments

    def close(self):
        maint().close(self)
        unload()

    def handle_request(self, link, msg):
        """LOG_READ / LOG_ERASE (SPEC section 5)."""
        if msg.type == mp.LOG_ERASE:
            maint().handle_erase(self, link, msg)
            unload()
            return
        if self.xfer is None:
            import gc

            gc.collect()
        try:
            import logxfer

            logxfer.handle(self, link, msg)
        finally:
            # Not loaded for nothing: after a MemoryError (App.handle answers E_BUSY) too, or
            # its 2.7 KB (x64) would stay and refuse every request after it.
            if self.xfer is None:
                unload("logxfer")
