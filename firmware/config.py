# CONFIG keys: what each one is, its range, its default, and its persistence on flash.
#
# The file is replaced atomically (write a temporary file, then rename over the old one):
# littlefs renames are atomic, so a power cut leaves either the old or the new config, never half.
# A config file that cannot be read is kept as config.bad (nothing lost) and defaults apply.

import binascii
import json
import os

import detector

RO = 1  # read-only: reported, never set by the host
RESTART = 2  # applying it restarts sampling

# (key, type, default, min, max, flags); for str, min/max bound the length.
# What each key means is documented once, in the host's `myotwitch config keys` (devconfig.py),
# not here: every string costs the device's heap.
KEYS = (
    ("device_id", str, "", 0, 32, RO),  # stable id of this device (hex)
    ("name", str, "myotwitch", 0, 24, 0),  # a name for this device
    ("fs", int, 1000, 500, 2000, RESTART),  # sample rate, Hz
    ("channels", int, 1, 1, 4, RESTART),  # EMG channels sampled
    ("status_s", int, 5, 1, 3600, 0),  # seconds between STATUS messages (in sample time)
    ("led", bool, True, 0, 1, 0),  # blink the LED on each event
) + tuple((p[0], int, p[1], p[2], p[3], 0) for p in detector.PARAMS)

SPEC = {}
for _k in KEYS:
    SPEC[_k[0]] = _k


class ConfigError(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


# The same codes as the protocol's NACK (myoproto.E_UNKNOWN_KEY, E_BAD_VALUE, E_STORAGE).
E_UNKNOWN_KEY = 3
E_BAD_VALUE = 4
E_STORAGE = 6


def check(key, value, max_channels=4):
    """The value as stored, or ConfigError saying what is wrong with it."""
    spec = SPEC.get(key)
    if spec is None:
        raise ConfigError(E_UNKNOWN_KEY, "unknown key %s" % key)
    _, typ, _, lo, hi, flags = spec
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


class Config:
    def __init__(self, directory, defaults=None, max_channels=4):
        self.path = directory + "/config.json"
        self.max_channels = max_channels
        self.values = {}
        for k in KEYS:
            self.values[k[0]] = k[2]
        if defaults:
            for k in defaults:
                if k in SPEC and SPEC[k][5] & RO == 0:
                    self.values[k] = check(k, defaults[k], max_channels)
        self.problem = None
        self._load()

    def _load(self):
        try:
            with open(self.path) as f:
                stored = json.load(f)
        except OSError:
            return  # first boot
        except ValueError:
            self.problem = "config.json unreadable; kept as config.bad, defaults used"
            try:
                os.rename(self.path, self.path[:-5] + ".bad")
            except OSError:
                pass
            return
        for k in stored:
            spec = SPEC.get(k)
            if spec is None:
                continue  # a key from another firmware version: ignored, not fatal
            try:
                if spec[5] & RO:
                    if type(stored[k]) is str:
                        self.values[k] = stored[k]
                else:
                    self.values[k] = check(k, stored[k], self.max_channels)
            except ConfigError as e:
                self.problem = e.reason

    def save(self):
        tmp = self.path + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.values, f)
            os.rename(tmp, self.path)
        except OSError as e:
            raise ConfigError(E_STORAGE, "cannot write config: %s" % e)

    def __getitem__(self, key):
        return self.values[key]

    def keys(self):
        return [k[0] for k in KEYS]

    def set(self, key, value):
        """Validate, store and persist; returns True if the value changed."""
        value = check(key, value, self.max_channels)
        if self.values[key] == value:
            return False
        old = self.values[key]
        self.values[key] = value
        try:
            self.save()
        except ConfigError:
            self.values[key] = old
            raise
        return True

    def set_device_id(self, text):
        self.values["device_id"] = text
        self.save()

    def detector_params(self):
        d = {}
        for p in detector.PARAMS:
            d[p[0]] = self.values[p[0]]
        return d

    def hash(self):
        crc = 0
        for k in KEYS:
            crc = binascii.crc32(("%s=%r;" % (k[0], self.values[k[0]])).encode(), crc)
        return crc & 0xFFFFFFFF
