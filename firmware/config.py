# CONFIG values as the app reads them: a dict of key -> value, its hash for HELLO, the
# detector's share. The key table (ranges, defaults), validation, loading and saving are in
# cfgedit.py, imported only at boot and for CONFIG_SET and dropped again (the heap is 64 KB).

import binascii
import sys

import detector

CHANGED = 1  # Config.set: the value changed (and was saved)
RESTART = 2  # ... and applying it restarts sampling

# Every key, in the order of CONFIG_GET answers and of the config hash.
NAMES = ("device_id", "name", "fs", "channels", "status_s", "led", "ble", "ble_adv_ms") + detector.KEYS


class ConfigError(Exception):
    def __init__(self, code, reason):
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _edit():
    import gc

    gc.collect()  # the module needs a few KB: start from a swept heap
    import cfgedit

    return cfgedit


def _done():
    # Nothing else keeps them: their code is freed at the next GC.
    sys.modules.pop("cfgload", None)
    sys.modules.pop("cfgedit", None)
    sys.modules.pop("dettable", None)


class Config:
    problem = None  # why the stored config was not used, if it was not

    def __init__(self, directory, defaults=None, max_channels=4):
        self.path = directory + "/config.json"
        self.max_channels = max_channels
        self.values = {}
        try:
            _edit()
            import cfgload  # boot only: apart, so that CONFIG_SET loads less

            cfgload.load(self, defaults)
        finally:
            _done()

    def __getitem__(self, key):
        return self.values[key]

    def __contains__(self, key):
        return key in self.values

    def keys(self):
        return NAMES

    def set(self, key, value):
        """Validate, store and persist: 0 if unchanged, else CHANGED, | RESTART if applying it
        restarts sampling. Raises ConfigError (code, reason) for a bad key or value."""
        try:
            s = None
            if key in detector.KEYS:
                # The detector's table alone, dropped before cfgedit.py loads: both at once
                # took 3.9 KB (x64) of a heap fragmented by the requests before (bench_heap).
                import gc

                gc.collect()
                import dettable

                s = dettable.spec(key)
                _done()
            return _edit().assign(self, key, value, s)
        finally:
            _done()

    def set_device_id(self, text):
        self.values["device_id"] = text
        try:
            _edit().save(self)
        finally:
            _done()

    def detector_params(self):
        d = {}
        for k in detector.KEYS:
            d[k] = self.values[k]
        return d

    def hash(self):
        crc = 0
        for k in NAMES:
            crc = binascii.crc32(("%s=%r;" % (k, self.values[k])).encode(), crc)
        return crc & 0xFFFFFFFF
