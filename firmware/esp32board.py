# The ESP32 hardware layer's boot-time half (hal_esp32.py): reads the deployed board.json and
# sets up the ADC or SPI front end, the button and the battery pin (the LED: Hal._init_led).
# Runs once per boot and is dropped from sys.modules afterwards, so its code does not stay on
# the heap.

import json
import os

import machine


def setup(hal, board_file, data_dir):
    with open(board_file) as f:
        b = json.load(f)
    hal.board = b["name"]
    hal.defaults = {"fs": b["fs"], "channels": b["channels"]}
    try:
        # Config and event log; the firmware lives in fw/, so a re-flash leaves this alone.
        # Relative: main.py runs in the filesystem root.
        os.mkdir(data_dir)
    except OSError:
        pass  # exists
    hal.flash_dir = data_dir
    hal.adcs = []
    spi = b.get("spi")
    if spi:
        import ads1x9x

        hal.front = ads1x9x.open_front_end(b["front_end"], spi)
        hal.max_channels = min(hal.front.channels, 4)
    else:
        adc = b["adc"]
        atten = _atten(adc["atten_db"])
        for p in adc["pins"]:
            a = machine.ADC(machine.Pin(p), atten=atten)
            _width(a, adc["width_bits"])
            hal.adcs.append(a)
        hal.max_channels = len(hal.adcs)
    hal._init_led(b.get("led"))
    btn = b.get("button")
    if btn:
        hal.button = machine.Pin(btn["pin"], machine.Pin.IN, machine.Pin.PULL_UP
                                 if btn.get("active_low", True) else machine.Pin.PULL_DOWN)
        hal.btn_invert = 1 if btn.get("active_low", True) else 0
    bat = b.get("battery")
    if bat:
        hal.bat = machine.ADC(machine.Pin(bat["pin"]), atten=_atten(11))
        # milli-ratio keeps battery_mv in small ints (no long-int allocation)
        hal.bat_ratio = (bat["r_top"] + bat["r_bottom"]) * 1000 // bat["r_bottom"]


def _atten(db):
    name = {0: "ATTN_0DB", 2.5: "ATTN_2_5DB", 6: "ATTN_6DB", 11: "ATTN_11DB"}[db]
    return getattr(machine.ADC, name)


def _width(adc, bits):
    # Only the original ESP32 has a settable width; read_u16 scales every width to 16 bits.
    const = getattr(machine.ADC, "WIDTH_%dBIT" % bits, None)
    if const is not None and hasattr(adc, "width"):
        adc.width(const)
