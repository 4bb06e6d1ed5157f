import gc
import sys
from pathlib import Path

import pytest

# Test helpers (mpvm.py, ...) import as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import mpvm as _mp  # noqa: E402


@pytest.fixture
def run_micropython():
    """mpvm.run_micropython: run source text or a file in the MicroPython unix port."""
    return _mp.run_micropython


@pytest.fixture(autouse=True)
def _no_long_gc_pauses():
    """Freeze what earlier tests left (modules, reports, caches) out of the collector's reach:
    late in the suite a full collection of the ~300k objects they hold paused this process for
    up to 0.25 s, long enough for a virtual board at speed 10 to fill its pty and drop frames
    while the link's reader thread waited."""
    gc.freeze()
    yield




@pytest.fixture(autouse=True)
def _signal_handlers_left_as_found(request):
    """A test that leaves SIGINT or SIGTERM changed in this process would silently change every
    later child process (a child inherits an ignored SIGINT, and Ctrl-C no longer stops it)."""
    import signal

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    yield
    after = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    if after != before:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
        pytest.fail("%s left the signal handlers changed: %r -> %r"
                    % (request.node.nodeid, before, after))
