# Boot entry on the chip (MicroPython runs main.py after its own boot.py).
#
# The firmware lives in one of two slots, fw/a and fw/b; fw/active names the one to run. A
# deploy writes the other slot and only then replaces fw/active (write + rename, atomic on
# littlefs), so a deploy cut short leaves the previous firmware booting. Config and the event
# log live in data/, untouched by a deploy. Paths are relative to the root, where this runs.

import sys
import time

import micropython

BOOT_GRACE_MS = 500  # Ctrl-C still reaches the REPL here: a way in for `myotwitch flash`


def active_slot():
    try:
        with open("fw/active") as f:
            return "fw/" + f.read().strip()
    except OSError:
        return None


def main():
    slot = active_slot()
    if slot is None:
        print("myotwitch: no firmware deployed: run `myotwitch flash --board BOARD`")
        return
    sys.path.insert(0, slot)
    time.sleep_ms(BOOT_GRACE_MS)
    import gc

    import hal_esp32

    hal = hal_esp32.Hal(slot + "/board.json")
    gc.collect()
    import app

    micropython.kbd_intr(-1)  # 0x03 is data on this link; hal_esp32 watches for a break run
    try:
        app.run(hal)
    except KeyboardInterrupt:
        hal.stop_sampling()
        print("myotwitch: stopped, REPL ready")
    finally:
        micropython.kbd_intr(3)


main()
