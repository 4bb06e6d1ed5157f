# The ESP32 hardware layer (esp32, esp32s3, esp32c3): samples into the ring from machine.ADC
# paced by machine.Timer, or from an ADS1292/ADS1299 over SPI (ads1x9x.py); the serial link on
# the REPL's stdin/stdout (USB-UART bridge, USB CDC or USB-Serial-JTAG alike); LED, button,
# battery and unique id. Everything board-specific comes from the deployed board.json.
#
# Timer callbacks on the ESP32 are scheduled, not hard IRQs: they run between bytecodes of the
# main loop, late by up to milliseconds, and are skipped outright while the scheduler queue is
# full (a flash write, a long GC). So a callback does not assume one sample per call: it works
# out from ticks_us how many sample slots have passed and fills all of them, the late ones with
# the newest reading, counted in `dropped` (the app adds it to STATUS `dropped`: those slots were
# not measured at their time). The sample index stays the clock.

import select
import sys
import time

import machine

DATA_DIR = "data"  # config and event log (see esp32board.py)
DEBOUNCE_MS = 30
BREAK_RUN = 300  # 0x03 bytes in a row: longer than any COBS frame, so never protocol traffic
MAX_CATCHUP = 256  # slots filled by one late callback at most; beyond that the ring is lapped


class Hal:
    radio = True  # every supported chip (ESP32, -S3, -C3) has BLE: blelink.py drives it
    # Set by esp32board.setup with the button and the battery pin (bare annotations: no heap).
    btn_invert: int
    bat_ratio: int

    def __init__(self, board_file="board.json", data_dir=DATA_DIR):
        # start_sampling's attributes exist from here on: the instance dict reaches its final
        # size at boot, not later in a full heap (a bigger dict needs a new block: 464 B on x64).
        self.ring = None
        self.timer = None
        self.dropped = 0  # slots filled with a late reading (scheduler latency)
        self.fs = 0
        self.channels = 0
        self.frac = 0
        self.t_last = time.ticks_us()
        # What esp32board.setup fills in, typed here for the type check (test_static_firmware)
        self.adcs: list = []
        self.front = None  # an ADS1x9x front end (ads1x9x.py) instead of the ADCs
        self.button: "machine.Pin | None" = None
        self.bat: "machine.ADC | None" = None
        self.led_pin: "machine.Pin | None" = None
        self.np = None
        # The board setup runs once, at boot, from esp32board.py, dropped again afterwards:
        # resident it would cost about 1 KB of the 64 KB heap.
        import esp32board

        try:
            esp32board.setup(self, board_file, data_dir)
        finally:
            sys.modules.pop("esp32board", None)
        self.btn_raw = 0  # debounce state of the button, if the board has one
        self.btn_state = 0
        self.btn_since = time.ticks_ms()
        self.stdin = sys.stdin.buffer
        self.stdout = sys.stdout.buffer
        self.rpoll = select.poll()
        self.rpoll.register(sys.stdin, select.POLLIN)
        self.one = bytearray(1)
        self.breaks = 0
        self.tick_cb = self._tick  # bound once: the callback must not allocate

    def _init_led(self, led):
        if not led:
            return
        if led.get("kind", "gpio") == "ws2812":
            import neopixel

            self.np = neopixel.NeoPixel(machine.Pin(led["pin"]), 1)
        else:
            self.led_pin = machine.Pin(led["pin"], machine.Pin.OUT)
            self.led_invert = 1 if led.get("active_low", False) else 0
        self.led(0)

    # ---- sampling

    def start_sampling(self, ring, fs, channels):
        self.ring = ring
        self.fs = fs
        self.channels = channels
        self.dropped = 0  # like the app's dropped count: per time base
        self.frac = 0  # elapsed us * fs not yet turned into samples
        self.t_last = time.ticks_us()
        if self.front is not None:
            self.front.start(ring, fs, channels, self)
            return
        self.timer = machine.Timer(0)
        self.timer.init(mode=machine.Timer.PERIODIC, freq=fs, callback=self.tick_cb)

    def stop_sampling(self):
        if self.timer is not None:
            self.timer.deinit()
            self.timer = None
        if self.front is not None:
            self.front.stop()
        self.ring = None

    def owed(self):
        """Sample slots passed since the last call (the clock, not the call count)."""
        now = time.ticks_us()
        dt = time.ticks_diff(now, self.t_last)
        self.t_last = now
        if dt > 500000:
            # A long stall: count it in ms, so the product stays a small int (no allocation).
            self.frac = 0
            return dt // 1000 * self.fs // 1000
        self.frac += dt * self.fs
        n = self.frac // 1000000
        self.frac -= n * 1000000
        return n

    def _tick(self, _t):
        ring = self.ring
        if ring is None:
            return
        n = self.owed()
        if n <= 0:
            return
        if n > MAX_CATCHUP:
            # The ring holds fewer slots than that: write the last MAX_CATCHUP and let the
            # index jump, so the consumers count the gap as dropped (Ring.catch_up).
            ring.write_index += n - MAX_CATCHUP
            n = MAX_CATCHUP
        self.dropped += n - 1
        bufs = ring.bufs
        mask = ring.mask
        w = ring.write_index
        adcs = self.adcs
        for ch in range(self.channels):
            v = adcs[ch].read_u16() - 32768  # centred: the front ends idle at mid-supply
            buf = bufs[ch]
            for k in range(n):
                buf[(w + k) & mask] = v
        ring.write_index = w + n

    def pump(self):
        pass  # the timer (or DRDY) fills the ring by itself

    def finished(self):
        return False

    # ---- serial: the REPL's stdin/stdout, whatever USB or UART carries it

    def serial_read(self, buf):
        one = self.one
        n = 0
        for _ in self.rpoll.ipoll(0):  # ipoll allocates no result list
            while n < len(buf):
                if not self.stdin.readinto(one):
                    break
                c = one[0]
                buf[n] = c
                n += 1
                if c == 3:
                    self.breaks += 1
                    if self.breaks >= BREAK_RUN:
                        # `myotwitch flash` asks for the REPL: leave the app (main.py restores
                        # Ctrl-C and returns to the prompt).
                        raise KeyboardInterrupt
                else:
                    self.breaks = 0
                if not self._more():
                    break
            break
        return n

    def _more(self):
        for _ in self.rpoll.ipoll(0):
            return True
        return False

    def serial_write(self, data):
        self.stdout.write(data)

    # ---- the rest of the board

    def led(self, on):
        if self.led_pin is not None:
            self.led_pin.value((1 if on else 0) ^ self.led_invert)
        elif self.np is not None:
            self.np[0] = (0, 24, 8) if on else (0, 0, 0)
            self.np.write()

    def button_pressed(self):
        """True once per press, after the pin has been stable for DEBOUNCE_MS."""
        b = self.button
        if b is None:
            return False
        v = b.value() ^ self.btn_invert
        now = time.ticks_ms()
        if v != self.btn_raw:
            self.btn_raw = v
            self.btn_since = now
            return False
        if v != self.btn_state and time.ticks_diff(now, self.btn_since) >= DEBOUNCE_MS:
            self.btn_state = v
            return v == 1
        return False

    def battery_mv(self):
        if self.bat is None:
            return 0
        return self.bat.read_uv() // 1000 * self.bat_ratio // 1000

    def unique_id(self):
        return machine.unique_id()

    def idle(self, ms):
        time.sleep_ms(ms)

    def reset(self):
        machine.reset()
