"""What a failing store looks like to the user: SQLite's errors after the store is open (locked,
read-only, disk full, I/O error, a damaged page) become a `StoreFault`, one line naming the
file and what to do, wherever they surface: in `execute` or while rows are fetched.

    conn = sqlite3.connect(path, factory=Connection)
    conn.path = path

A fault is `transient` when waiting can cure it (another program's lock, a full disk that is
being cleared, a read-only file made writable again): a recording keeps what it received and
tries again (record.py); anything else stops the command with the message.
"""

from __future__ import annotations

import sqlite3


class StoreError(Exception):
    pass


class StoreFault(StoreError):
    """The store failed after it was opened; the message says which file and what to do."""

    def __init__(self, message: str, kind: str, transient: bool):
        super().__init__(message)
        self.kind = kind
        self.transient = transient


# SQLite primary result codes (the low byte of an extended code): kind, transient, what to do
_KINDS = {
    3: ("permission", True, "it is not accessible (permissions): give yourself access to it "
                            "and its folder, or give another --db"),
    5: ("locked", True, "another program holds it locked (another myotwitch, a database "
                        "browser): close that program and retry"),
    6: ("locked", True, "another program holds it locked (another myotwitch, a database "
                        "browser): close that program and retry"),
    8: ("read-only", True, "it is read-only: make it writable (chmod u+w {path}, and its "
                           "folder) or give another --db"),
    10: ("I/O error", True, "the disk reported an I/O error: check the disk and its free "
                            "space, then retry"),
    11: ("damaged", False, "it is damaged: restore it from a backup, or save what is "
                           "readable with `sqlite3 {path} .recover`, or give another --db"),
    13: ("disk full", True, "the disk is full: free some space, then retry"),
    14: ("cannot open", False, "it cannot be opened: check that its folder exists and is "
                               "yours, or give another --db"),
    26: ("damaged", False, "it is not an SQLite database any more: restore it from a backup, "
                           "or give another --db"),
}


def fault(path, e: sqlite3.Error) -> StoreFault | None:
    """The StoreFault for SQLite error `e` on the store at `path`, or None when `e` is not a
    fault of the file (a constraint, a programming error: those stay what they are)."""
    code = getattr(e, "sqlite_errorcode", None)
    if code is None:
        text = str(e).lower()  # errors raised before SQLite gave a code
        code = (5 if "locked" in text else 11 if "malformed" in text else
                26 if "not a database" in text else 13 if "full" in text else
                8 if "readonly" in text else None)
    if code is None:
        return None
    kind = _KINDS.get(code & 0xFF)
    if kind is None:
        return None
    name, transient, advice = kind
    return StoreFault("store %s: %s (%s): %s" % (path, name, e, advice.format(path=path)),
                      name, transient)


def _raise(conn, e):
    f = fault(getattr(conn, "path", "?"), e)
    if f is None:
        raise e
    raise f from e


class Cursor(sqlite3.Cursor):
    """Rows are read lazily: a damaged page may first show while fetching."""

    def fetchone(self):
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as e:
            _raise(self.connection, e)

    def fetchall(self):
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as e:
            _raise(self.connection, e)

    def fetchmany(self, size=None):
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as e:
            _raise(self.connection, e)

    def __next__(self):
        try:
            return super().__next__()
        except sqlite3.DatabaseError as e:
            _raise(self.connection, e)


class Connection(sqlite3.Connection):
    """sqlite3.Connection whose errors name the store file (set `path` after connecting)."""

    path = None

    def execute(self, sql, parameters=()):
        try:
            return self.cursor(Cursor).execute(sql, parameters)
        except sqlite3.DatabaseError as e:
            _raise(self, e)

    def executemany(self, sql, seq):
        try:
            return self.cursor(Cursor).executemany(sql, seq)
        except sqlite3.DatabaseError as e:
            _raise(self, e)
