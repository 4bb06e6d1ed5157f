import sys
from pathlib import Path

import pytest

# Test helpers (micropython.py, fake_device.py, ...) import as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import micropython as _mp  # noqa: E402


@pytest.fixture
def run_micropython():
    """micropython.run_micropython: run source text or a file in the MicroPython unix port."""
    return _mp.run_micropython
