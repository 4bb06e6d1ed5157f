"""A JSON file a person gives (a board file, detector settings, a recording's meta.json): every
way it can be unreadable becomes one line that names the file, raised as the caller's error."""

from __future__ import annotations

import json
from pathlib import Path


def load(path, error: type[Exception], what: str):
    """The parsed JSON in `path`, or `error` with one line; `what` names what the file should
    hold ("a board file", "detector settings")."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise error("%s: cannot read (%s)" % (path, e.strerror or e)) from None
    except UnicodeDecodeError as e:
        raise error("%s: not UTF-8 text (byte %d): %s must be JSON text"
                    % (path, e.start, what)) from None
    except RecursionError:
        raise error("%s: not %s: nested too deep" % (path, what)) from None
    except ValueError as e:  # JSONDecodeError, or a number too long to read
        raise error("%s: not valid JSON (%s)" % (path, str(e)[:160])) from None
