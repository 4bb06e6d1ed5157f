"""The detector's settings from the user's side: a JSON file of settings, checked strictly
(integers only, no floats or strings that would pass int()) by myotwitch.detect.check_params,
with the file and the unit in each message; and a one-line description of settings.
"""

from __future__ import annotations

from pathlib import Path

from myotwitch.detect import DEFAULTS, DetectError
from myotwitch.detect import check_params as _check


# One validator for the detector's settings (myotwitch.detect.check_params); its error is ours.
ParamError = DetectError


def check_params(values: dict, where: str = "detector settings") -> dict:
    """The full settings (defaults overridden by `values`), or ParamError naming the first bad key."""
    if not isinstance(values, dict):
        raise ParamError("%s: expected a JSON object {\"key\": value, ...}" % where)
    try:
        return _check(values, where, strict=True)
    except ParamError as e:  # it quotes the key and value: a file's may be any size
        if len(str(e)) <= 300:
            raise
        raise ParamError(str(e)[:300] + "... (cut)") from None


def load_config(path) -> dict:
    """Settings from a JSON file (the keys of `myotwitch config show`, e.g. {"det_thresh": 60});
    only detector keys are allowed."""
    from myotwitch import jsonfile

    path = Path(path)
    values = jsonfile.load(path, ParamError, "detector settings")
    return check_params(values, str(path))


def describe(params: dict) -> str:
    """'default settings', or the settings that differ from the defaults."""
    changed = ["%s=%s" % (k, v) for k, v in sorted(params.items()) if DEFAULTS.get(k) != v]
    return "settings " + " ".join(changed) + " (rest default)" if changed else "default settings"
