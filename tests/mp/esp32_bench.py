# Runs firmware/hal_esp32.py and firmware/ads1x9x.py in the unix port on a bench stand-in for
# the ESP32's `machine` (fake_machine.py). The stand-in is the only fake: the HAL, the
# driver, the ring and the app are the real modules, and every sampler callback runs under
# micropython.heap_lock(), where any allocation raises MemoryError.
#
# argv: BOARD_JSON DATA_DIR. Prints "ok <name>" per check; any failure raises.

import gc
import sys
import time

import micropython

import fake_machine  # installs itself as `machine`
import sim_bluetooth  # the chip has a radio: the stand-in `bluetooth`, attached to no air

sim_bluetooth.attach(None)
from fake_machine import ADC

if len(sys.argv) > 3:
    fake_machine.ID_REG[0] = int(sys.argv[3])
import hal_esp32  # noqa: E402
from ring import Ring  # noqa: E402

board_file, data_dir = sys.argv[1], sys.argv[2]


def locked(f, arg):
    micropython.heap_lock()
    try:
        f(arg)
    finally:
        micropython.heap_unlock()


gc.collect()
before = gc.mem_alloc()
hal = hal_esp32.Hal(board_file, data_dir)
gc.collect()
print("hal_bytes", gc.mem_alloc() - before)
assert hal.unique_id() == b"\x24\x0a\xc4\x01\x02\x03"
assert hal.flash_dir == data_dir
import os  # noqa: E402

os.stat(data_dir)

if hal.front is None:
    # ---- built-in ADC, timer-paced
    assert hal.max_channels == 1 and hal.defaults == {"fs": 1000, "channels": 1}
    assert hal.adcs[0].pin.n == 36 and hal.adcs[0].atten == ADC.ATTN_11DB
    ring = Ring(1, 512)
    hal.start_sampling(ring, 1000, 1)
    cb = hal.timer.callback
    assert hal.timer.freq == 1000 and cb is not None
    hal.t_last = time.ticks_add(time.ticks_us(), -5000)  # the callback comes 5 ms late
    locked(cb, hal.timer)
    assert ring.write_index == 5, ring.write_index
    assert hal.dropped == 4
    assert list(ring.bufs[0][0:5]) == [40000 - 32768] * 5
    hal.adcs[0].v = 1000
    hal.t_last = time.ticks_add(time.ticks_us(), -1000)
    locked(cb, hal.timer)
    assert ring.write_index == 6 and ring.bufs[0][5] == 1000 - 32768 and hal.dropped == 4
    hal.t_last = time.ticks_add(time.ticks_us(), -600000)  # a 600 ms stall: more than the ring
    locked(cb, hal.timer)
    assert ring.write_index == 606, ring.write_index
    assert hal.dropped == 4 + 255  # 256 slots written (the newest reading), the rest skipped
    lost = ring.catch_up(0)
    assert lost > 0  # the consumer at 0 is lapped and counts it
    print("ok timer")
    hal.stop_sampling()
    assert hal.timer is None
    # button: active low, debounced, once per press
    b = hal.button
    assert hal.button_pressed() is False
    b.v = 0
    assert hal.button_pressed() is False  # the edge starts the debounce
    time.sleep_ms(40)
    assert hal.button_pressed() is True
    assert hal.button_pressed() is False
    b.v = 1
    hal.button_pressed()
    time.sleep_ms(40)
    assert hal.button_pressed() is False
    b.v = 0
    hal.button_pressed()
    b.v = 1  # a 0-ms bounce is not a press
    time.sleep_ms(40)
    assert hal.button_pressed() is False
    print("ok button")
    hal.led(1)
    assert hal.led_pin.v == 1
    hal.led(0)
    assert hal.led_pin.v == 0
    assert hal.battery_mv() == 0
    print("ok led")
    # serial: bytes through; a run of 300 Ctrl-C (never protocol traffic) leaves the app
    buf = bytearray(64)
    n = hal.serial_read(buf)
    assert bytes(buf[:3]) == b"\x01\x02\x00", bytes(buf[:n])
    got = n
    try:
        for _ in range(20):
            got += hal.serial_read(buf)
        raise AssertionError("no KeyboardInterrupt after %d bytes" % got)
    except KeyboardInterrupt:
        pass
    assert hal.breaks == 300 and got < 303
    print("ok break")
    # the real application on this layer: HELLO names the board, STATUS counts late slots
    import app as appmod
    import myoproto as mp

    out = []
    hal.serial_write = lambda d: out.append(bytes(d))
    a = appmod.App(hal)

    def decode(frame):  # the firmware's codec has no decode() (a host-only part, build.HOST_PART)
        return mp.decode_body(mp.cobs_decode(frame[:-1]))

    hello = decode(out[0])
    assert hello.type == mp.HELLO and hello.fields["board"] == "devkitc-myoware2"
    assert hello.fields["fs"] == 1000 and hello.fields["channels"] == 1
    assert hal.timer.freq == 1000
    hal.dropped = 7
    a.dropped = 2
    a.send_status()
    st = decode(out[-1])
    assert st.type == mp.STATUS and st.fields["dropped"] == 9, st.fields
    print("ok app")
elif hal.front.kind == "ads1299":
    ads = hal.front
    assert ads.channels == 8 and hal.max_channels == 4  # ID 0x3E: the 8-channel part
    spi = ads.spi
    ring = Ring(2, 512)
    spi.writes.clear()
    hal.start_sampling(ring, 1000, 2)
    regs = {w[0] & 0x1F: w[2] for w in spi.writes if len(w) == 3 and w[0] & 0xE0 == 0x40}
    assert regs[0x01] == 0x94, regs  # CONFIG1: 1 kSPS
    assert regs[0x02] == 0xC0 and regs[0x03] == 0xEC
    assert regs[0x05] == 0x60 and regs[0x06] == 0x60  # gain 24, normal input
    assert all(regs[0x05 + ch] == 0x81 for ch in range(2, 8))  # unused: off, shorted
    assert regs[0x0D] == 0x03 and regs[0x0E] == 0x03
    assert len(ads.frame) == 27
    spi.data[3:9] = bytes([0x01, 0x00, 0x00, 0xFF, 0x00, 0x00])
    ads.t_last = time.ticks_add(time.ticks_us(), -1000)
    locked(ads.drdy.handler, ads.drdy)
    assert ring.write_index == 1 and ring.bufs[0][0] == 256 and ring.bufs[1][0] == -256
    print("ok ads1299")
else:
    # ---- ADS1292R over SPI
    ads = hal.front
    assert hal.max_channels == 2
    spi = ads.spi
    assert spi.writes[0] == bytes([0x06]) and spi.writes[1] == bytes([0x11])  # RESET, SDATAC
    ring = Ring(2, 512)
    spi.writes.clear()
    hal.start_sampling(ring, 1000, 2)
    regs = {w[0] & 0x1F: w[2] for w in spi.writes if len(w) == 3 and w[0] & 0xE0 == 0x40}
    assert regs[0x01] == 0x03, regs  # CONFIG1: 1 kSPS, continuous
    assert regs[0x02] == 0xA0 and regs[0x03] == 0x10
    assert regs[0x04] == 0x00 and regs[0x05] == 0x00  # both channels, gain 6, normal input
    assert regs[0x06] == 0x23 and regs[0x09] == 0x02 and regs[0x0A] == 0x03
    assert spi.writes[-1] == bytes([0x10])  # RDATAC, then START pin high
    assert ads.start_pin.v == 1
    irq = ads.drdy.handler
    assert irq is not None
    spi.data[:] = bytes([0xC0, 0, 0, 0x00, 0x01, 0x00, 0xFF, 0xFF, 0x00])
    ads.t_last = time.ticks_add(time.ticks_us(), -1000)
    locked(irq, ads.drdy)
    assert ring.write_index == 1
    assert ring.bufs[0][0] == 256 >> 6 and ring.bufs[1][0] == -256 >> 6
    spi.data[3:6] = bytes([0x7F, 0xFF, 0xFF])  # full scale: clipped to int16
    ads.t_last = time.ticks_add(time.ticks_us(), -3000)  # two DRDYs missed
    locked(irq, ads.drdy)
    assert ring.write_index == 4 and hal.dropped == 2
    assert ring.bufs[0][3] == 32767
    print("ok ads1292")
    hal.stop_sampling()
    assert ads.drdy.handler is None and ads.start_pin.v == 0
    # 800 Hz from a 1 kSPS chip: 4 of every 5 frames kept, the index still counts 800 per s
    hal.start_sampling(ring, 800, 1)
    assert ads.rate == 1000
    start = ring.write_index
    for _ in range(50):
        ads.t_last = time.ticks_add(time.ticks_us(), -1000)
        locked(ads.drdy.handler, ads.drdy)
    assert ring.write_index - start == 40, ring.write_index - start
    print("ok decimation")
    assert hal.battery_mv() == 3700  # 1850 mV at the pin, 100k/100k divider
    print("ok battery")
print("done")
