# The sample ring: the only place samples live between the sampler and the consumers.
#
# The producer (an ESP32 timer callback, or the simulation's pump) writes
#     ring.bufs[ch][ring.write_index & ring.mask] = value; ring.write_index += 1
# and never waits. Time is carried by the sample index: on the ESP32 timer callbacks are
# scheduled, not hard IRQs, so their latency jitters by milliseconds while the index does not.
# Consumers keep their own positions; `catch_up` moves a lapped consumer forward and returns how
# many samples it lost, so a slow main loop shows up as counted drops, never as silent gaps.

from array import array

# Samples nearest to being overwritten are not handed out: on the chip the producer can run
# between any two bytecodes of a consumer, so a consumer reading the oldest slot could race it.
HEADROOM = 32


def _zeros(size):
    # Sized from range() (which has a length) so no temporary of the same size exists: on a
    # fragmented 64 KB heap `array("h", bytes(2 * size))` can fail for want of two free blocks.
    a = array("h", range(size))
    for i in range(size):
        a[i] = 0
    return a


class Ring:
    def __init__(self, channels, size=1024):
        if size & (size - 1) or size <= HEADROOM:
            raise ValueError("ring size must be a power of two > HEADROOM")
        self.channels = channels
        self.size = size
        self.mask = size - 1
        self.bufs = [_zeros(size) for _ in range(channels)]
        self.write_index = 0

    def reset(self, index=0):
        self.write_index = index

    def catch_up(self, pos):
        """Lost samples for a consumer at `pos` (0 if it has not been lapped)."""
        lag = self.write_index - pos
        limit = self.size - HEADROOM
        if lag > limit:
            return lag - limit
        return 0
