# The detector's CONFIG keys with their defaults and ranges: (key, default, min, max), in the
# order of detector.KEYS. Units and what each key does: the host (myotwitch.detect.UNITS and
# DESCRIPTIONS) and DETECTOR.md. Not resident on the device: config.py and cfgedit.py load it to
# check or default a value, and drop it again; the host's twin reads it too.

PARAMS = (
    ("det_thresh", 86, 16, 1023),
    ("det_off", 56, 8, 1023),
    ("det_win_ms", 8, 1, 32),
    ("det_hold_ms", 60, 1, 500),
    ("det_twitch_ms", 30, 1, 1000),
    ("det_burst_ms", 300, 1, 4000),
    ("det_mains_hz", 0, 0, 65),
    ("det_step", 8, 0, 16),
    ("det_sided", 2, 0, 16),
    ("det_sat", 32700, 1, 32768),
    ("det_rr_ms", 1600, 0, 3000),
    ("det_wide", 112, 0, 1023),
)


def spec(key):
    """(int, default, min, max, flags 0) of a detector key, as cfgedit.spec gives every key;
    None for another key."""
    for p in PARAMS:
        if p[0] == key:
            return int, p[1], p[2], p[3], 0
    return None
