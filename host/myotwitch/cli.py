"""The `myotwitch` command line: a thin layer over the library modules."""

import contextlib
import json

import click

from myotwitch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="myotwitch")
@click.option("--port", "-p", envvar="MYOTWITCH_PORT", default=None, metavar="PORT",
              help="Serial port of the board for every command (default: auto-detect; "
                   "'sim' starts the virtual board). Env: MYOTWITCH_PORT.")
@click.option("--db", default=None, metavar="PATH", type=click.Path(dir_okay=False),
              help="SQLite store for every command (default: $MYOTWITCH_DB, else myotwitch.db "
                   "in $MYOTWITCH_DATA_DIR or $XDG_DATA_HOME/myotwitch).")
@click.pass_context
def main(ctx, port, db):
    """Flash, configure, monitor and record an ESP32 + surface-EMG twitch logger."""
    ctx.ensure_object(dict)
    ctx.obj["port"] = port
    ctx.obj["db"] = db


# ---------------------------------------------------------------- device, store and session commands
# Thin wrappers: the logic lives in ports, link, devconfig, monitor, record, store, summary, demo.


def _port_option(f):
    return click.option(
        "--port", "-p", envvar="MYOTWITCH_PORT", default=None, metavar="PORT",
        help="Serial port of the board (default: auto-detect an ESP32 USB-serial adapter; "
             "'sim' starts the virtual board for this command). Env: MYOTWITCH_PORT.")(f)


def _db_option(f):
    return click.option(
        "--db", "db", default=None, metavar="PATH", type=click.Path(dir_okay=False),
        help="SQLite store (default: $MYOTWITCH_DB, else myotwitch.db in the data directory "
             "$MYOTWITCH_DATA_DIR or $XDG_DATA_HOME/myotwitch).")(f)


def _from_group(name, value):
    """A command's own option value, else the one given to the group (`myotwitch --NAME ...`),
    else None."""
    if value:
        return value
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, dict):
        return root.obj.get(name)
    return None


def _db_path(db):
    """The command's --db, else the group's, else None (MYOTWITCH_DB / data dir)."""
    return _from_group("db", db)


def _port(port):
    """The command's --port, else the group's, else None (auto-detect)."""
    return _from_group("port", port)


@contextlib.contextmanager
def _user_errors():
    """Expected failures (no board, link lost, bad input, NACK) -> a message and exit code 1."""
    from myotwitch.devconfig import ConfigInputError
    from myotwitch.link import LinkError
    from myotwitch.ports import PortError
    from myotwitch.store import StoreError
    from myotwitch.summary import NoSession

    try:
        yield
    except (PortError, LinkError, StoreError, NoSession, ConfigInputError) as e:
        raise click.ClickException(str(e)) from None


@contextlib.contextmanager
def _device(port):
    from myotwitch.ports import open_device

    with _user_errors(), open_device(_port(port)) as dev:
        yield dev


@main.command()
@_port_option
@click.option("--json", "as_json", is_flag=True, help="Print the HELLO fields as JSON.")
def info(port, as_json):
    """Show what the board says about itself (firmware, build, board, sample rate, boot)."""
    with _device(port) as dev:
        hello = dev.hello()
        if as_json:
            click.echo(json.dumps(dict(hello.as_dict(), port=dev.port), indent=2))
            return
        click.echo("port         %s" % dev.port)
        for name, value in hello.rows():
            click.echo("%-12s %s" % (name, value))


@main.group()
def config():
    """Read and change the board's settings (typed as the board reports them)."""


@config.command("show")
@_port_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def config_show(port, as_json):
    """Every setting with its value and type."""
    from myotwitch.devconfig import format_value, type_name

    with _device(port) as dev:
        values = dev.config_get()
    if as_json:
        click.echo(json.dumps(values, indent=2, sort_keys=True))
        return
    width = max((len(k) for k in values), default=0)
    for key in sorted(values):
        click.echo("%-*s = %-12s (%s)" % (width, key, format_value(values[key]), type_name(values[key])))


@config.command("keys")
def config_keys():
    """What each detector setting means: unit, range and default (no board needed).

    The board stores no descriptions (its heap is small); firmware/DETECTOR.md has the
    algorithm behind them."""
    from myotwitch import detect

    for key, (lo, hi) in detect.RANGES.items():
        click.echo("%-14s %s..%s %s, default %s" % (key, lo, hi, detect.UNITS[key],
                                                    detect.DEFAULTS[key]))
        click.echo("    " + detect.DESCRIPTIONS[key])


@config.command("get")
@_port_option
@click.argument("key")
def config_get(port, key):
    """Print the value of KEY."""
    from myotwitch.devconfig import format_value

    with _device(port) as dev:
        values = dev.config_get(key)
    click.echo(format_value(values[key]))


@config.command("set")
@_port_option
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
def config_set(port, pairs):
    """Set one or more settings, e.g. `myotwitch config set threshold=45 led=false`.

    Values are parsed by the type the board reports for each key; if any pair
    is wrong, nothing is changed.
    """
    from myotwitch.devconfig import apply_pairs, format_value

    with _device(port) as dev:
        with _user_errors():
            done = apply_pairs(dev, list(pairs))
    for key, old, new in done:
        click.echo("%s: %s -> %s" % (key, format_value(old), format_value(new)))


@main.command()
@_port_option
@click.option("--duration", type=float, default=None, metavar="S", help="Stop after S seconds.")
@click.option("--plain", is_flag=True, help="One line per message instead of the live view "
                                            "(the default when output is not a terminal).")
def monitor(port, duration, plain):
    """Watch the board live: recent events, noise floor, twitches per minute, link quality."""
    from myotwitch.monitor import run_monitor

    with _device(port) as dev:
        with _user_errors():
            run_monitor(dev, duration=duration, live=False if plain else None, echo=click.echo)


@main.command()
@_port_option
@_db_option
@click.option("--raw", is_flag=True, help="Also stream and keep the raw samples (raw/<session>.i16).")
@click.option("--duration", type=float, default=None, metavar="S",
              help="Stop after S seconds (default: until Ctrl-C).")
@click.option("--notes", default=None, help="A note stored with the session (coffee, sleep, ...).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print events as they arrive.")
def record(port, db, raw, duration, notes, quiet):
    """Record a session into the store until --duration passes or Ctrl-C."""
    from myotwitch.monitor import describe_event
    from myotwitch.protocol import myoproto as mp
    from myotwitch.record import record_session, sigterm_as_interrupt
    from myotwitch.store import open_store
    from myotwitch.summary import format_summary, session_summary

    with _user_errors(), open_store(_db_path(db)) as store, _device(port) as dev, sigterm_as_interrupt():
        fs = dev.hello().fs

        def show(msg):
            if quiet:
                return
            if msg.type == mp.EVENT:
                click.echo("  " + describe_event(msg.seq, msg.fields, fs))
            elif msg.type == mp.HELLO:
                click.echo("  device restarted (boot %08x): same session continues" % msg["boot_id"])

        click.echo("recording from %s into %s (Ctrl-C to stop)" % (dev.port, store.path))
        result = record_session(dev, store, duration=duration, raw=raw, on_message=show, notes=notes)
        click.echo("session %d ended (%s)" % (result.session_id, result.end_reason))
        click.echo(format_summary(session_summary(store, result.session_id)))
    if result.error:  # the link broke or the device refused: what arrived is saved, but say so
        raise click.ClickException("%s\nsession %d is saved up to that point."
                                   % (result.error, result.session_id))


@main.command()
@_db_option
@click.option("--limit", "-n", type=int, default=20, show_default=True, help="How many, newest first.")
def sessions(db, limit):
    """List recorded sessions."""
    from myotwitch.store import open_store
    import datetime as dt

    with _user_errors(), open_store(_db_path(db)) as store:
        rows = store.sessions(limit)
        if not rows:
            click.echo("no sessions yet in %s" % store.path)
            return
        click.echo("%5s  %-19s  %9s  %-10s  %7s  %8s  %5s  %3s  %s"
                   % ("id", "started", "length", "board", "events", "twitches", "marks", "raw", "ended"))
        for r in rows:
            length = "%.0f s" % (r["ended_at"] - r["started_at"]) if r["ended_at"] else "open"
            click.echo("%5d  %-19s  %9s  %-10s  %7d  %8d  %5d  %3s  %s" % (
                r["id"], dt.datetime.fromtimestamp(r["started_at"]).strftime("%Y-%m-%d %H:%M:%S"),
                length, r["board"][:10], r["events"], r["twitches"], r["marks"],
                "yes" if r["raw_path"] else "no", r["end_reason"] or ""))


@main.command()
@_db_option
@click.argument("session", type=int, required=False)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def summary(db, session, as_json):
    """Summarise SESSION (default: the latest): events by kind, rate, link quality."""
    from myotwitch.store import open_store
    from myotwitch.summary import format_summary, session_summary

    with _user_errors(), open_store(_db_path(db)) as store:
        sm = session_summary(store, session)
    click.echo(json.dumps(sm, indent=2) if as_json else format_summary(sm))


@main.command()
@_db_option
@click.option("--speed", type=float, default=10.0, show_default=True,
              help="Replay speed of the bundled recording.")
def demo(db, speed):
    """Try it without hardware: a virtual board replays a real EMG recording, a session is
    recorded with raw samples and summarised. Uses a temporary store unless --db is given."""
    from myotwitch.demo import run_demo

    with _user_errors():
        run_demo(speed=speed, db=_db_path(db), echo=click.echo)


@main.command()
@click.argument("recording", required=False)
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="Playback speed: 1 is real time, 10 ten times faster, 0 as fast as it runs.")
@click.option("--board", default="virtual", show_default=True,
              help="Board name the virtual board reports in HELLO.")
@click.option("--fs", type=int, default=None, metavar="HZ",
              help="Sample rate of RECORDING when the file does not carry one (CSV, NPY).")
@click.option("--flash", type=click.Path(dir_okay=False), default=None, metavar="IMAGE",
              help="littlefs2 flash image (config and log live here). "
                   "Default: virtual-board/flash.img in the data directory.")
@click.option("--once", is_flag=True, help="Stop at the end of the recording instead of looping.")
def sim(recording, speed, board, fs, flash, once):
    """Start a virtual board: the real firmware in the MicroPython unix port, fed by
    RECORDING (default: a bundled real EMG recording), on a pty. Prints the port to connect to
    (`myotwitch --port PORT ...`) and runs until Ctrl-C."""
    import signal
    import time

    from myotwitch.recordings import RecordingError
    from myotwitch.sim import SimBoard, SimError, default_flash_image

    flash = flash or default_flash_image()
    try:
        board_ = SimBoard(recording, speed=speed, board=board, fs=fs, flash=flash, once=once)
        board_.start()
    except (RecordingError, SimError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from None
    rec = board_.recording
    click.echo("virtual board running: %s, %d Hz, %d channel(s), %.1f s, speed %gx%s"
               % (rec.name, rec.fs, rec.channels, rec.duration_s, speed,
                  "" if once else ", looping"))
    click.echo("flash image: %s" % board_.flash)
    click.echo("serial port: %s" % board_.port)
    click.echo("try:  myotwitch --port %s monitor      (Ctrl-C here stops the board)" % board_.port)
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        while board_.alive:
            time.sleep(0.2)
        click.echo("the virtual board stopped:\n%s" % board_.log_tail())
    except KeyboardInterrupt:
        click.echo("stopping the virtual board")
    finally:
        board_.close()


from myotwitch.cli_detect import replay, verify  # noqa: E402
main.add_command(replay)
main.add_command(verify)
from myotwitch.cli_boards import boards  # noqa: E402
main.add_command(boards)
from myotwitch.cli_flash import flash  # noqa: E402
main.add_command(flash)
from myotwitch.cli_log import events, pull  # noqa: E402
main.add_command(pull)
main.add_command(events)
