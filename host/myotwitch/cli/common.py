"""What every command shares: options, errors and exit codes, machine output, safe text.

Exit codes (README "Machine output"):

    0  ok
    1  a finding: `verify` found a difference, a check failed
    2  usage or input error: a bad option or file, a missing session, a damaged store
    3  device or link error: no board, the cable went away, the board did not answer

Command modules import this module and library modules only, never each other nor the
group (`myotwitch.cli`), so that any command can be read on its own.
"""

from __future__ import annotations

import contextlib
import json
import sys

import click

from myotwitch.formats import hex_id, iso, iso_ms, safe  # noqa: F401  (re-exported)

EXIT_OK = 0
EXIT_FINDING = 1
EXIT_INPUT = 2
EXIT_DEVICE = 3


class CliError(click.ClickException):
    """A one-line error on stderr and a documented exit code."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.exit_code = code


def fail(message: str, code: int = EXIT_INPUT):
    raise CliError(message, code)


def _exit_code_of(e: BaseException) -> int | None:
    """The exit code for a library error, None for anything else (a bug: let it show)."""
    # Imported here, on the error path only: `myotwitch --help` stays fast.
    from myotwitch.devconfig import ConfigInputError
    from myotwitch.link import DeviceError, LinkError
    from myotwitch.ports import PortError
    from myotwitch.protocol import myoproto as mp
    from myotwitch.store import StoreError
    from myotwitch.summary import NoSession

    if isinstance(e, DeviceError):
        # The device refused what the user asked for (bad key or value): the input was wrong.
        if e.code in (mp.E_UNKNOWN_KEY, mp.E_BAD_VALUE):
            return EXIT_INPUT
        return EXIT_DEVICE
    if isinstance(e, (LinkError, PortError)):
        return EXIT_DEVICE
    if isinstance(e, (StoreError, NoSession, ConfigInputError)):
        return EXIT_INPUT
    for mod, name in (("myotwitch.recordings", "RecordingError"), ("myotwitch.readers", "ReaderError"),
                      ("myotwitch.detparams", "ParamError"), ("myotwitch.boards", "BoardError"),
                      ("myotwitch.verify", "VerifyError"), ("myotwitch.sim", "SimError"),
                      ("myotwitch.ownerkeys", "OwnerKeyError"),
                      ("myotwitch.replay", "SourceError"), ("myotwitch.pull", "EraseRefused"),
                      ("myotwitch.detect", "DetectError")):
        cls = getattr(sys.modules.get(mod), name, None)
        if cls is not None and isinstance(e, cls):
            return EXIT_INPUT
    return None


@contextlib.contextmanager
def errors():
    """Library errors -> a one-line message and the documented exit code."""
    try:
        yield
    except click.ClickException:
        raise
    except Exception as e:
        code = _exit_code_of(e)
        if code is None:
            raise
        raise CliError(str(e), code) from None


# ---------------------------------------------------------------- options


def _from_group(name, value):
    """A command's own option value, else the one given to the group (`myotwitch --NAME ...`)."""
    if value is not None:
        return value
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, dict):
        return root.obj.get(name)
    return None


def port_of(port):
    """The command's --port, else the group's, else None (auto-detect)."""
    return _from_group("port", port)


def db_of(db):
    """The command's --db, else the group's, else None (MYOTWITCH_DB / the data directory)."""
    return _from_group("db", db)


def sim_options() -> dict:
    """How a board started for `--port sim` runs (the group's --sim-speed, --sim-recording)."""
    opts = {}
    for key in ("speed", "recording"):
        value = _from_group("sim_" + key, None)
        if value is not None:
            opts[key] = value
    return opts


PORT_HELP = ("Serial port of the board (default: auto-detect an ESP32 USB-serial adapter; 'sim': "
             "the virtual board, see `myotwitch sim --help`; 'ble:auto', 'ble:NAME' or "
             "'ble:ADDRESS': over Bluetooth LE, paired boards only, see `myotwitch pair`). "
             "Env: MYOTWITCH_PORT.")
DB_HELP = ("SQLite store (default: $MYOTWITCH_DB, else myotwitch.db in the data directory "
           "$MYOTWITCH_DATA_DIR or $XDG_DATA_HOME/myotwitch).")


def port_option(f):
    return click.option("--port", "-p", envvar="MYOTWITCH_PORT", default=None, metavar="PORT",
                        shell_complete=complete_port, help=PORT_HELP)(f)


def db_option(f):
    return click.option("--db", "db", default=None, metavar="PATH",
                        type=click.Path(dir_okay=False), help=DB_HELP)(f)


def json_option(f):
    return click.option("--json", "as_json", is_flag=True,
                        help="Machine-readable output: JSON (one object per line for lists; "
                             "see README, Machine output).")(f)


def yes_option(f):
    return click.option("--yes", "-y", is_flag=True,
                        help="Do not ask for confirmation (for scripts).")(f)


def needs_yes(what: str, yes: bool) -> None:
    """Refuse at once (exit 2) when `what` will have to be confirmed but there is no terminal
    to ask on and no --yes: a script must say what it wants, before anything is done."""
    if not yes and not (sys.stdin.isatty() and sys.stdout.isatty()):
        fail("%s: not confirmed (no terminal to ask on): add --yes to go ahead" % what)


def confirm(question: str, yes: bool) -> None:
    """Ask before something that cannot be undone (see needs_yes)."""
    needs_yes(question, yes)
    if yes:
        return
    if not click.confirm(question, default=False):
        fail("not confirmed: nothing was done")


# ---------------------------------------------------------------- devices and stores


@contextlib.contextmanager
def device(port):
    """A connected link.Device on the command's port, with library errors mapped."""
    from myotwitch.ports import open_device

    opener = open_device(port_of(port), sim_options=sim_options())
    with errors(), opener as dev:
        if opener.note:
            click.echo(opener.note, err=True)
        yield dev


@contextlib.contextmanager
def store_for_writing(db):
    """The store, created and migrated as needed (commands that record or pull)."""
    from myotwitch.store import open_store

    with errors(), open_store(db_of(db)) as store:
        _tell(store)
        yield store


@contextlib.contextmanager
def store_for_reading(db):
    """The store as it is, never created or changed (commands that only read); None when there
    is no store yet."""
    from myotwitch.store import open_store, resolve_db_path

    with errors():
        path = resolve_db_path(db_of(db))
        if not path.exists():
            yield None
            return
        with open_store(path, readonly=True) as store:
            _tell(store)
            yield store


def _tell(store) -> None:
    """What opening the store did on its own (files tightened, crashed sessions closed)."""
    for note in store.notes:
        click.echo("note: " + note, err=True)


# ---------------------------------------------------------------- output


def emit_json(obj) -> None:
    """One JSON document on stdout (ASCII-only: nothing in it can drive a terminal)."""
    click.echo(json.dumps(obj, default=str))


def emit_jsonl(rows) -> None:
    """A list as JSON lines: one object per line."""
    for row in rows:
        click.echo(json.dumps(row, default=str))


def console():
    """A rich console on stdout (80 columns when stdout is not a terminal)."""
    from rich.console import Console

    return Console(soft_wrap=False, highlight=False)


def table(*columns, title=None):
    """A plain rich table (no box) with the given column names; a name ending in '>' is
    right-aligned."""
    from rich.table import Table

    t = Table(box=None, show_header=True, header_style="bold", pad_edge=False, title=title,
              title_justify="left", padding=(0, 1))
    for c in columns:
        right = c.endswith(">")
        t.add_column(c.rstrip(">"), justify="right" if right else "left", no_wrap=True,
                     overflow="ellipsis")
    return t


def print_table(t) -> None:
    """A table through click.echo (so tests and pipes see it), without trailing blanks."""
    con = console()
    with con.capture() as cap:
        con.print(t)
    for line in cap.get().splitlines():
        click.echo(line.rstrip())


# ---------------------------------------------------------------- shell completion


def complete_port(ctx, param, incomplete):
    from click.shell_completion import CompletionItem

    out = [CompletionItem("sim", help="the virtual board"),
           CompletionItem("ble:auto", help="the paired board in Bluetooth range")]
    try:
        from myotwitch.ports import list_candidates

        out += [CompletionItem(c.device, help=c.adapter) for c in list_candidates()]
    except Exception:
        pass
    return [c for c in out if c.value.startswith(incomplete)]


def complete_board(ctx, param, incomplete):
    from myotwitch.boards import load_all

    try:
        names = [b.name for b in load_all()]
    except Exception:
        return []
    return [n for n in names if n.startswith(incomplete)]


def complete_recording(ctx, param, incomplete):
    from click.shell_completion import CompletionItem

    from myotwitch.recordings import bundled

    names = [CompletionItem(n) for n in bundled() if n.startswith(incomplete)]
    return names + [CompletionItem(incomplete, type="file")]


def complete_session(ctx, param, incomplete):
    """Session ids in the store (read only; nothing when there is no store)."""
    from click.shell_completion import CompletionItem

    from myotwitch.store import open_store, resolve_db_path

    db = ctx.find_root().params.get("db") or ctx.params.get("db")
    try:
        path = resolve_db_path(db)
        if not path.exists():
            return []
        with open_store(path, readonly=True) as store:
            rows = store.sessions(50)
    except Exception:
        return []
    return [CompletionItem(str(r["id"]), help="%s, %d events" % (safe(r["board"]), r["events"]))
            for r in rows if str(r["id"]).startswith(incomplete)]


# ---------------------------------------------------------------- progress


class ProgressBar:
    """Progress of long work on stderr (rich.progress): a live bar on a terminal, one final
    line otherwise. Library code reports through `start(total)` and `update(done, added)`."""

    def __init__(self, description: str, unit: str = "records"):
        from rich.console import Console
        from rich.progress import (
            BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn)

        self.unit = unit
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TextColumn(unit),
                                 TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=False)
        self.task = self.progress.add_task(description, total=None, rate="")
        self.t0 = None

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()

    def start(self, total):
        import time

        self.t0 = time.monotonic()
        self.progress.update(self.task, total=total, completed=0)

    def update(self, done, added=0):
        import time

        rate = ""
        if self.t0 is not None:
            el = time.monotonic() - self.t0
            if el >= 1.0:  # sooner, a rate is noise (a pull that skips 190 seq numbers in 20 us)
                rate = "%.0f/s" % (done / el)
        self.progress.update(self.task, completed=done, rate=rate)
