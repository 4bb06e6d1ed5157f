"""`myotwitch config`: reading KEY=VALUE from the command line, typed by what the device reports.

The device is the authority on keys and types: CONFIG_GET "" lists every key
with a typed value (int, bool or str), and each new value must have the same
type. Every pair is checked before anything is sent; if the device then
refuses one (out of range), the keys already changed are set back.
"""

from __future__ import annotations

from myotwitch.link import DeviceError, LinkError

TRUE = {"1", "true", "yes", "on", "y", "t"}
FALSE = {"0", "false", "no", "off", "n", "f"}
INT32 = (-0x80000000, 0x7FFFFFFF)


class ConfigInputError(ValueError):
    """The command line asked for something the device cannot hold; nothing was sent."""


def type_name(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    return "str"


def format_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_value(key: str, text: str, current):
    """`text` as the type of `current` (the value the device reports for `key`)."""
    if isinstance(current, bool):
        t = text.strip().lower()
        if t in TRUE:
            return True
        if t in FALSE:
            return False
        raise ConfigInputError("%s is a bool: give true or false (not %r)" % (key, text))
    if isinstance(current, int):
        try:
            v = int(text.strip().replace("_", ""), 0)
        except ValueError:
            raise ConfigInputError("%s is an integer: %r is not one" % (key, text)) from None
        if not INT32[0] <= v <= INT32[1]:
            raise ConfigInputError("%s: %d does not fit a 32-bit integer" % (key, v))
        return v
    if len(text.encode("utf-8")) > 255:
        raise ConfigInputError("%s: text longer than 255 bytes" % key)
    return text


def parse_pairs(pairs, current: dict) -> list[tuple[str, object]]:
    """[(key, typed value)] from ["KEY=VALUE", ...]; all problems reported at once."""
    out = []
    problems = []
    seen = set()
    for p in pairs:
        if "=" not in p:
            problems.append("%r: expected KEY=VALUE" % p)
            continue
        key, text = p.split("=", 1)
        key = key.strip()
        if key not in current:
            problems.append("unknown key %r (the device has: %s)" % (key, ", ".join(sorted(current))))
            continue
        if key in seen:
            problems.append("%s given twice" % key)
            continue
        seen.add(key)
        try:
            out.append((key, parse_value(key, text, current[key])))
        except ConfigInputError as e:
            problems.append(str(e))
    if not pairs:
        problems.append("nothing to set: give KEY=VALUE pairs")
    if problems:
        raise ConfigInputError("nothing was changed:\n  " + "\n  ".join(problems))
    return out


def apply_pairs(device, pairs) -> list[tuple[str, object, object]]:
    """Validate and set ["KEY=VALUE", ...] on the device; returns [(key, old, new)].

    Raises ConfigInputError (nothing sent) or DeviceError (after restoring the
    keys already set, so the device is left as it was).
    """
    current = device.config_get()
    parsed = parse_pairs(pairs, current)
    done = []
    try:
        for key, value in parsed:
            device.config_set(key, value)
            done.append((key, current[key], value))
    except DeviceError as e:
        restored = []
        for key, old, _new in reversed(done):
            try:
                device.config_set(key, old)
                restored.append(key)
            except LinkError:
                pass
        note = " (set back: %s)" % ", ".join(restored) if restored else ""
        e.args = ("%s; nothing was changed%s" % (e.args[0], note),)
        raise
    return done
