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
