# Boots a deployed ESP32 firmware directory the way the chip does: MicroPython runs main.py in
# the filesystem root (the current directory here), with fake_machine standing in for `machine`.
import sys

import fake_machine  # noqa: F401  (installs itself as `machine`)

# The chip has a radio (hal_esp32.radio): the stand-in `bluetooth` from the firmware sources,
# attached to no air, so the board advertises into nothing here.
sys.path.append(__file__.rsplit("/", 2)[0] + "/../firmware")
import sim_bluetooth  # noqa: E402

sim_bluetooth.attach(None)

exec(open("main.py").read())
