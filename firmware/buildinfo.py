# Replaced at build time (host/myotwitch/build.py) by the firmware version and the hash of the
# deployed files; these values mark firmware run straight from the source tree.
FW_VERSION = "0.1.0-src"
BUILD_HASH = b"\x00\x00\x00\x00\x00\x00\x00\x00"
