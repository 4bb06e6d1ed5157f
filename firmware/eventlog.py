# Record numbering that survives reboots. (The power-safe event log itself is its own issue and
# will live here behind the same methods; until then records are numbered, not stored.)
#
# Sequence numbers are handed out in leases of LEASE: the end of the current lease is written to
# flash before any number in it is used, so after a reboot numbering resumes past every number
# already given out, at the cost of a gap of at most LEASE, with one small write per LEASE records.

LEASE = 256


class EventLog:
    stores_records = False

    def __init__(self, directory, boot_id):
        self.path = directory + "/seq"
        self.boot_id = boot_id
        self.dropped = 0
        try:
            with open(self.path) as f:
                self.next_seq = int(f.read())
        except (OSError, ValueError):
            self.next_seq = 0
        self.lease_end = self.next_seq
        self._lease()

    def _lease(self):
        self.lease_end = self.next_seq + LEASE
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self.lease_end))
        import os

        os.rename(tmp, self.path)

    def _take(self):
        seq = self.next_seq
        self.next_seq = seq + 1
        if self.next_seq >= self.lease_end:
            self._lease()
        return seq

    def add_event(self, onset, duration, kind, channel, peak, area):
        return self._take()

    def add_mark(self, sample_index, source):
        return self._take()

    def add_status(self, fields):
        return self._take()

    def add_time(self, fields):
        return self._take()

    def tick(self, sample_index):
        pass

    def flush(self):
        pass

    def fill_permille(self):
        return 0
