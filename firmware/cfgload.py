# CONFIG at boot (config.py): the table's defaults, the board's, then what is stored on flash,
# checked by cfgedit.py. Apart from cfgedit.py, which CONFIG_SET loads into the fragmented heap
# of a running board, so that that load is smaller by this boot-only code; imported at boot
# only, dropped with cfgedit.

import json
import os

from cfgedit import RO, check, spec
from config import NAMES, ConfigError


def load(cfg, defaults):
    """Fill cfg.values: the table's defaults, the board's, then what is stored on flash."""
    values = cfg.values
    for k in NAMES:
        values[k] = spec(k)[1]
    if defaults:
        for k in defaults:
            s = spec(k)
            if s is not None and s[4] & RO == 0:
                values[k] = check(k, defaults[k], cfg.max_channels)
    try:
        with open(cfg.path) as f:
            stored = json.load(f)
    except OSError:
        return  # first boot
    except ValueError:
        cfg.problem = "config.json unreadable; kept as config.bad, defaults used"
        try:
            os.rename(cfg.path, cfg.path[:-5] + ".bad")
        except OSError:
            pass
        return
    for k in stored:
        s = spec(k)
        if s is None:
            continue  # a key from another firmware version: ignored, not fatal
        try:
            if s[4] & RO:
                if type(stored[k]) is str:
                    values[k] = stored[k]
            else:
                values[k] = check(k, stored[k], cfg.max_channels)
        except ConfigError as e:
            cfg.problem = e.reason
