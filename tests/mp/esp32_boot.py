# Boots a deployed ESP32 firmware directory the way the chip does: MicroPython runs main.py in
# the filesystem root (the current directory here), with fake_machine standing in for `machine`.
import fake_machine  # noqa: F401  (installs itself as `machine`)

exec(open("main.py").read())
