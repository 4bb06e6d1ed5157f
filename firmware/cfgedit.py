# The rarely-run part of CONFIG (config.py): the key table with ranges and defaults, validation
# and saving (loading at boot is cfgload.py). Imported at boot and for CONFIG_SET, dropped from
# sys.modules afterwards: resident, the table and its checks cost about 3 KB of a 64 KB heap for
# code that runs a handful of times per session.
#
# The file is replaced atomically (write a temporary file, then rename over the old one):
# littlefs renames are atomic, so a power cut leaves either the old or the new config, never half.
# A config file that cannot be read is kept as config.bad (nothing lost) and defaults apply.

import json
import os
import sys

from config import NAMES, RESTART, ConfigError

RO = 4  # read-only: reported, never set by the host

# (type, default, min, max, flags) of the first eight keys of config.NAMES; the detector's keys
# (int, no flags) come from dettable.PARAMS. For str, min/max bound the length.
# What each key means is documented on the host (`myotwitch config keys` for the detector's,
# README.md for these eight), not here: every string costs the device's heap.
BASE = (
    (str, "", 0, 32, RO),  # device_id: stable id of this device (hex)
    (str, "myotwitch", 0, 24, 0),  # name: a name for this device
    (int, 1000, 500, 2000, RESTART),  # fs: sample rate, Hz
    (int, 1, 1, 4, RESTART),  # channels: EMG channels sampled
    (int, 5, 1, 3600, 0),  # status_s: seconds between STATUS messages (in sample time)
    (bool, True, 0, 1, 0),  # led: blink the LED on each event
    (bool, True, 0, 1, 0),  # ble: the radio on (boards that have one)
    (int, 500, 20, 10240, 0),  # ble_adv_ms: advertising interval, ms (longer saves battery)
)

# The same codes as the protocol's NACK (myoproto.E_UNKNOWN_KEY, E_BAD_VALUE, E_STORAGE).
E_UNKNOWN_KEY = 3
E_BAD_VALUE = 4
E_STORAGE = 6


def spec(key):
    """(type, default, min, max, flags) of a key, None for an unknown one."""
    for i in range(len(BASE)):
        if NAMES[i] == key:
            return BASE[i]
    # The detector's table (1.4 KB on x64) only for its keys: a CONFIG_SET of the name, the
    # radio or the STATUS interval on a running board loads less.
    import dettable

    return dettable.spec(key)


def check(key, value, max_channels=4, s=None):
    """The value as stored, or ConfigError saying what is wrong with it (s: the key's spec,
    if the caller has it)."""
    if s is None:
        s = spec(key)
    if s is None:
        raise ConfigError(E_UNKNOWN_KEY, "unknown key %s" % key)
    typ, _, lo, hi, flags = s
    if flags & RO:
        raise ConfigError(E_BAD_VALUE, "%s is read-only" % key)
    if typ is bool:
        if value is True or value is False:
            return value
        if value in (0, 1) and type(value) is int:
            return bool(value)
        raise ConfigError(E_BAD_VALUE, "%s takes true or false" % key)
    if typ is str:
        if type(value) is not str:
            raise ConfigError(E_BAD_VALUE, "%s takes text" % key)
        if not lo <= len(value) <= hi:
            raise ConfigError(E_BAD_VALUE, "%s: %d to %d characters" % (key, lo, hi))
        return value
    if type(value) is not int:
        raise ConfigError(E_BAD_VALUE, "%s takes an integer" % key)
    if key == "channels":
        hi = min(hi, max_channels)
    if not lo <= value <= hi:
        raise ConfigError(E_BAD_VALUE, "%s must be %d..%d, got %d" % (key, lo, hi, value))
    return value


def save(cfg):
    tmp = cfg.path + ".tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(cfg.values, f)
        os.rename(tmp, cfg.path)
    except OSError as e:
        raise ConfigError(E_STORAGE, "cannot write config: %s" % e)


def assign(cfg, key, value, s=None):
    """s: a detector key's spec, looked up by Config.set before this module loaded."""
    if s is None:
        s = spec(key)
    value = check(key, value, cfg.max_channels, s)
    restart = s[4] & RESTART
    # Checked: the detector's table is freed (next GC) for the file the save opens.
    sys.modules.pop("dettable", None)
    values = cfg.values
    old = values[key]
    if old == value:
        return 0
    values[key] = value
    try:
        save(cfg)
    except ConfigError:
        values[key] = old
        raise
    return 1 | restart
