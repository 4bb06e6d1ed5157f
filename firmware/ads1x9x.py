# TI ADS1292(R) / ADS1299 bio-potential ADCs over SPI: register set-up per the datasheets and
# continuous conversion (RDATAC), each frame read on DRDY's falling edge straight into the ring.
#
# A frame is 24 status bits, then 24 bits per channel (two's complement). The ring holds int16,
# so each value is shifted right by the board's `shift` (its uv_per_count says what one stored
# count is) and clipped. The pin IRQ is scheduled like the timer's: a callback that comes late
# finds the chip's next frame only, so missed frames are detected from ticks_us and their slots
# filled with the current frame (counted in hal.dropped), keeping the sample index the clock.

import time

from micropython import const

# Commands (both chips)
_WAKEUP = const(0x02)
_RESET = const(0x06)
_START = const(0x08)
_STOP = const(0x0A)
_RDATAC = const(0x10)
_SDATAC = const(0x11)
_RREG = const(0x20)
_WREG = const(0x40)

# kind: (channels, {SPS: CONFIG1 DR code}, {PGA gain: CHnSET gain bits})
CHIPS = {
    "ads1292": (2, {500: 2, 1000: 3, 2000: 4},
                {6: 0, 1: 1, 2: 2, 3: 3, 4: 4, 8: 5, 12: 6}),
    "ads1299": (8, {500: 5, 1000: 4, 2000: 3},
                {1: 0, 2: 1, 4: 2, 6: 3, 8: 4, 12: 5, 24: 6}),
}


def open_front_end(kind, conf):
    """Build the driver from the board file's `spi` block."""
    from machine import SPI, Pin

    spi = SPI(conf["id"], baudrate=conf.get("baud", 1000000), polarity=0, phase=1,
              sck=Pin(conf["sck"]), mosi=Pin(conf["mosi"]), miso=Pin(conf["miso"]))
    start = Pin(conf["start"], Pin.OUT, value=0) if "start" in conf else None
    pwdn = Pin(conf["pwdn"], Pin.OUT, value=1) if "pwdn" in conf else None
    return Ads1x9x(kind, spi, Pin(conf["cs"], Pin.OUT, value=1), Pin(conf["drdy"], Pin.IN),
                   start, pwdn, conf["gain"], conf["shift"])


class Ads1x9x:
    def __init__(self, kind, spi, cs, drdy, start, pwdn, gain, shift):
        self.kind = kind
        self.channels, self.rates, gains = CHIPS[kind]
        self.gain_bits = gains[gain]
        self.spi = spi
        self.cs = cs
        self.drdy = drdy
        self.start_pin = start
        self.pwdn = pwdn
        self.shift = shift
        self.cmd = bytearray(1)
        self.reg = bytearray(3)
        self.ring = None
        self.irq_cb = self._drdy  # bound once: the callback must not allocate
        self.power_up()
        self.frame = bytearray(3 + 3 * self.channels)

    # ---- register access (SDATAC mode)

    def command(self, c):
        self.cmd[0] = c
        self.cs(0)
        self.spi.write(self.cmd)
        self.cs(1)
        time.sleep_us(10)  # 4 tCLK between a command and the next (> 2 us at 2.048 MHz)

    def write_reg(self, addr, value):
        r = self.reg
        r[0] = _WREG | addr
        r[1] = 0  # one register
        r[2] = value
        self.cs(0)
        self.spi.write(r)
        self.cs(1)
        time.sleep_us(10)

    def read_reg(self, addr):
        r = self.reg
        r[0] = _RREG | addr
        r[1] = 0
        r[2] = 0
        self.cs(0)
        self.spi.write_readinto(r, r)
        self.cs(1)
        return r[2]

    def power_up(self):
        if self.pwdn is not None:
            self.pwdn(0)
            time.sleep_ms(2)
            self.pwdn(1)
        time.sleep_ms(150)  # power-on reset: 2^18 tCLK (128 ms) before the first command
        self.command(_RESET)
        time.sleep_ms(1)  # 18 tCLK; generous
        self.command(_SDATAC)  # the chip wakes in RDATAC: stop it to reach the registers
        ident = self.read_reg(0)
        # ID register: bit 4 is always set; ADS1292 0x53, ADS1292R 0x73 (bits 1..0 = 0b11);
        # ADS1299 family bits 3..2 = 0b11, bits 1..0 = 4/6/8 channels (0x3C, 0x3D, 0x3E).
        if self.kind == "ads1292":
            ok = ident & 0x13 == 0x13
        else:
            ok = ident & 0x1C == 0x1C and ident & 3 < 3
            if ok:
                self.channels = (4, 6, 8)[ident & 3]
        if not ok:
            raise OSError("%s not answering on SPI (ID register 0x%02x): check the wiring"
                          % (self.kind, ident))

    def configure(self, fs, channels):
        """Register set-up for `channels` inputs at the chip rate nearest above fs."""
        rate = 2000
        for r in sorted(self.rates):
            if r >= fs:
                rate = r
                break
        self.rate = rate
        dr = self.rates[rate]
        g = self.gain_bits << 4
        w = self.write_reg
        if self.kind == "ads1292":
            w(0x01, dr)  # CONFIG1: continuous conversion, data rate
            w(0x02, 0xA0)  # CONFIG2: bit 7 set, internal reference on (2.42 V), no test signal
            time.sleep_ms(100)  # reference settling
            w(0x03, 0x10)  # LOFF: bit 4 set, lead-off comparators off
            for ch in range(2):
                # CHnSET: normal electrode input at PGA gain; unused: powered down, shorted
                w(0x04 + ch, g if ch < channels else 0x81)
            w(0x06, 0x23)  # RLD_SENS: right-leg drive on, from channel 1's inputs
            w(0x07, 0x00)  # LOFF_SENS: lead-off detection off
            w(0x09, 0x02)  # RESP1: respiration off (bit 1 must be set)
            w(0x0A, 0x03)  # RESP2: RLDREF internal (mid-supply), bit 0 must be set
        else:
            w(0x01, 0x90 | dr)  # CONFIG1: bits 7 and 4 set, no daisy chain, no clock out, DR
            w(0x02, 0xC0)  # CONFIG2: bits 7..6 set, test signal off
            w(0x03, 0xEC)  # CONFIG3: internal reference, BIAS buffer on, BIASREF internal
            time.sleep_ms(150)  # reference settling
            for ch in range(self.channels):
                # CHnSET: gain, SRB2 open, normal input; unused: powered down, shorted
                w(0x05 + ch, g if ch < channels else 0x81)
            w(0x0D, (1 << channels) - 1)  # BIAS_SENSP from the used channels
            w(0x0E, (1 << channels) - 1)  # BIAS_SENSN

    # ---- streaming

    def start(self, ring, fs, channels, hal):
        self.configure(fs, channels)
        self.ring = ring
        self.hal = hal
        self.nch = channels
        self.keep = 0  # decimation accumulator: fs of every `rate` frames are kept
        self.fs = fs
        self.t_last = time.ticks_us()
        from machine import Pin

        self.drdy.irq(trigger=Pin.IRQ_FALLING, handler=self.irq_cb)
        self.command(_RDATAC)
        if self.start_pin is not None:
            self.start_pin(1)
        else:
            self.command(_START)

    def stop(self):
        self.drdy.irq(handler=None)
        if self.start_pin is not None:
            self.start_pin(0)
        else:
            self.command(_STOP)
        self.command(_SDATAC)
        self.ring = None

    def _drdy(self, _pin):
        ring = self.ring
        if ring is None:
            return
        f = self.frame
        self.cs(0)
        self.spi.readinto(f)
        self.cs(1)
        # Frames the chip made since the last callback: more than one means some were missed.
        # Rounded, so a callback a little early or late still counts one frame.
        now = time.ticks_us()
        dt = time.ticks_diff(now, self.t_last)
        self.t_last = now
        if dt > 100000:
            dt = 100000  # keeps dt * rate a small int
        made = (dt * self.rate + 500000) // 1000000
        if made < 1:
            made = 1
        self.accept(ring, f, made)

    def accept(self, ring, f, made):
        """Store frame `f` standing for `made` chip frames (decimated from rate to fs)."""
        self.keep += made * self.fs
        n = self.keep // self.rate
        if n <= 0:
            return
        self.keep -= n * self.rate
        bufs = ring.bufs
        mask = ring.mask
        w = ring.write_index
        sh = self.shift
        for ch in range(self.nch):
            o = 3 + 3 * ch
            v = (f[o] << 16) | (f[o + 1] << 8) | f[o + 2]
            if v & 0x800000:
                v -= 0x1000000
            v >>= sh
            if v > 32767:
                v = 32767
            elif v < -32768:
                v = -32768
            buf = bufs[ch]
            for k in range(n):
                buf[(w + k) & mask] = v
        if n > 1:
            self.hal.dropped += n - 1
        ring.write_index = w + n
