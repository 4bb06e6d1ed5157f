"""Files holding health data (the store, raw samples, the virtual board's flash image) are the
owner's alone: 0600 files in 0700 folders. Existing ones with wider permissions (made by an
older version, a copy, a umask) are tightened, and the caller is told which, once: after that
they are tight."""

from __future__ import annotations

import os
from pathlib import Path


def make_dir(path: Path) -> Path:
    """A folder (and its parents) created owner-only."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def create_file(path: Path) -> bool:
    """Create an empty owner-only file if there is none; True if it was created."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def tighten(*paths) -> list[str]:
    """Take group and other permissions away from each existing path (files and folders);
    return what was changed, e.g. ["/x/raw (was 0755)"]. Paths that are not ours or cannot be
    changed are left alone (the open that follows says what is wrong)."""
    changed = []
    for p in paths:
        try:
            st = os.stat(p)
        except OSError:
            continue
        mode = st.st_mode & 0o7777
        if mode & 0o077 and st.st_uid == os.getuid():
            try:
                os.chmod(p, mode & ~0o077)
            except OSError:
                continue
            changed.append("%s (was %04o)" % (p, mode))
    return changed
