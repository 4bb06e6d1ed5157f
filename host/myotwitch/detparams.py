"""The detector's settings as the firmware defines them (firmware/detector.py PARAMS): defaults,
ranges and units, and checking a user's JSON file of settings against them, strictly (integers
only, no floats or strings that would pass int()), with the file and the unit in each message.
"""

from __future__ import annotations

import json
from pathlib import Path


class ParamError(ValueError):
    pass


def firmware_params() -> list[tuple]:
    """[(key, default, min, max, unit, description), ...]: firmware/detector.py's PARAMS with
    the units and descriptions the host keeps (myotwitch.detect)."""
    from myotwitch.detect import DESCRIPTIONS, PARAMS, UNITS

    return [tuple(p[:4]) + (UNITS[p[0]], DESCRIPTIONS[p[0]]) for p in PARAMS]


def defaults() -> dict:
    return {p[0]: p[1] for p in firmware_params()}


def check_params(values: dict, where: str = "detector settings") -> dict:
    """The full settings (defaults overridden by `values`), or ParamError naming the first bad key."""
    spec = {p[0]: p for p in firmware_params()}
    out = {k: p[1] for k, p in spec.items()}
    if not isinstance(values, dict):
        raise ParamError("%s: expected a JSON object {\"key\": value, ...}" % where)
    for key, value in values.items():
        p = spec.get(key)
        if p is None:
            raise ParamError("%s: unknown key %r (detector keys: %s)" % (where, key, ", ".join(spec)))
        if type(value) is not int:
            raise ParamError("%s: %s takes an integer (%s), got %r" % (where, key, p[4], value))
        if not p[2] <= value <= p[3]:
            raise ParamError("%s: %s must be %d..%d %s, got %d" % (where, key, p[2], p[3], p[4], value))
        out[key] = value
    return out


def load_config(path) -> dict:
    """Settings from a JSON file (the keys of `myotwitch config show`, e.g. {"det_thresh": 60});
    only detector keys are allowed."""
    path = Path(path)
    try:
        values = json.loads(path.read_text())
    except OSError as e:
        raise ParamError("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    except ValueError as e:
        raise ParamError("%s: not valid JSON (%s)" % (path, e)) from None
    return check_params(values, str(path))


def describe(params: dict) -> str:
    """'default settings', or the settings that differ from the defaults."""
    d = defaults()
    changed = ["%s=%s" % (k, v) for k, v in sorted(params.items()) if d.get(k) != v]
    return "settings " + " ".join(changed) + " (rest default)" if changed else "default settings"
