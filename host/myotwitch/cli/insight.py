"""What the wearer wants to see: `note`, `stats`, `plot`, `report`, `export`, `stream`."""

from __future__ import annotations

import contextlib

import click

from myotwitch.cli.common import (
    EXIT_DEVICE, EXIT_INPUT, complete_session, db_option, device, emit_json, emit_jsonl, errors,
    fail, json_option, port_option, print_table, safe, store_for_reading, store_for_writing,
    table, yes_option)

TIME_HELP = "ISO 8601, e.g. 2026-05-01 or 2026-05-01T08:00; local time unless it has an offset"


@contextlib.contextmanager
def _input_errors():
    """This module's library errors are input errors (exit 2), with their one-line message."""
    from myotwitch.export import ExportError
    from myotwitch.lslstream import LslError
    from myotwitch.notes import NoteError
    from myotwitch.plots import PlotError

    try:
        yield
    except (NoteError, PlotError, ExportError, LslError) as e:
        fail(str(e), EXIT_INPUT)


def _time(text, name):
    from myotwitch.events import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=name) from None


def range_options(f):
    f = click.option("--until", default=None, metavar="TIME", help="Up to TIME (%s)." % TIME_HELP)(f)
    f = click.option("--since", default=None, metavar="TIME", help="From TIME (%s)." % TIME_HELP)(f)
    return click.option("--device", "-d", default=None, metavar="ID",
                        help="Only this device (its device id, or its board name).")(f)


def _reading(db):
    """The store for reading, or a clear error when there is none yet."""
    @contextlib.contextmanager
    def ctx():
        with store_for_reading(db) as store, errors(), _input_errors():
            if store is None:
                fail("no store yet: record (`myotwitch record`) or pull (`myotwitch pull`) first")
            yield store
    return ctx()


# ---------------------------------------------------------------- note


def factor_options(f):
    from myotwitch.notes import FACTORS

    for name, fac in reversed(list(FACTORS.items())):
        f = click.option("--%s" % name, type=float, default=None,
                         metavar=fac.unit.strip("/").upper() or "N",
                         help="%s (%g-%g %s)." % (fac.help.capitalize(), fac.lo, fac.hi, fac.unit)
                         )(f)
    return f


def _factors(kw) -> dict:
    from myotwitch.notes import FACTORS

    return {k: kw.pop(k) for k in list(kw) if k in FACTORS and kw[k] is not None}


def note_json(n) -> dict:
    return n.as_json()


@click.group(short_help="Log conditions and tags (caffeine, sleep, stress).")
def note():
    """Notes: what you log beside the counts. A note at a moment holds to the end of that day
    ("3 cups this morning" still holds in the evening); a note with --from/--to holds over that
    range. `record --notes "caffeine=2 #gym text"` makes the same kind of note for the session.

    \b
    myotwitch note add --caffeine 2 --sleep 6.5
    myotwitch note add --from 2026-05-01T18:00 --to 2026-05-01T19:30 --exercise 90 --tag run
    myotwitch note add --stress 7 "deadline day"
    myotwitch note list --since 2026-05-01
    myotwitch note edit 12 --caffeine 3 --untag run
    myotwitch note delete 12"""


@note.command("add", short_help="Add a note now, at a time, or over a range.")
@db_option
@json_option
@click.option("--at", "at", default=None, metavar="TIME", help="When (default: now; %s)." % TIME_HELP)
@click.option("--from", "from_", default=None, metavar="TIME", help="Start of a range.")
@click.option("--to", "to", default=None, metavar="TIME", help="End of a range.")
@factor_options
@click.option("--tag", "-t", multiple=True, metavar="TAG", help="A free tag (repeatable).")
@click.argument("text", nargs=-1)
def note_add(db, as_json, at, from_, to, tag, text, **factors):
    """Add a note: any factors, tags (--tag) and free TEXT."""
    import time

    from myotwitch.notes import Note, add_note, describe, get_note

    if at and (from_ or to):
        raise click.UsageError("give --at, or --from and --to, not both")
    if bool(from_) != bool(to):
        raise click.UsageError("a range needs both --from and --to")
    start = _time(from_ or at, "--from" if from_ else "--at") or int(time.time() * 1000)
    end = _time(to, "--to")
    with store_for_writing(db) as store, _input_errors():
        nid = add_note(store, Note(None, start, end, _factors(factors), list(tag),
                                   " ".join(text) or None))
        n = get_note(store, nid)
    if as_json:
        emit_json(note_json(n))
    else:
        click.echo("note %d: %s" % (nid, describe(n)))


@note.command("list", short_help="List notes, oldest first.")
@db_option
@json_option
@click.option("--since", default=None, metavar="TIME", help="Notes holding at or after TIME.")
@click.option("--until", default=None, metavar="TIME", help="Notes starting before TIME.")
def note_list(db, as_json, since, until):
    """List notes (those holding in --since/--until when given), oldest first."""
    from myotwitch.notes import describe, list_notes

    since_ms, until_ms = _time(since, "--since"), _time(until, "--until")
    with store_for_reading(db) as store:
        notes = list_notes(store, since_ms, until_ms) if store is not None else []
    if as_json:
        emit_jsonl(note_json(n) for n in notes)
        return
    if not notes:
        click.echo("no notes", err=True)
        return
    t = table("id>", "from", "to", "note")
    t.columns[3].max_width = 48  # in 80 columns the note's text gives way, not the times
    for n in notes:
        t.add_row(str(n.id), _short(n.start_ms), _short(n.end_ms) if n.end_ms else "day's end",
                  describe(n) + (" (session %d)" % n.session_id if n.session_id else ""))
    print_table(t)


def _short(ms) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ms / 1000).strftime("%m-%d %H:%M")


@note.command("edit", short_help="Change a note; what is not given stays.")
@db_option
@json_option
@click.argument("note_id", type=click.IntRange(min=1), metavar="ID")
@click.option("--at", "at", default=None, metavar="TIME", help="Move it to TIME (a moment).")
@click.option("--from", "from_", default=None, metavar="TIME", help="New start.")
@click.option("--to", "to", default=None, metavar="TIME", help="New end (makes it a range).")
@click.option("--moment", is_flag=True, help="Make a range a moment (holding to the end of day).")
@factor_options
@click.option("--tag", "-t", multiple=True, metavar="TAG", help="Add a tag (repeatable).")
@click.option("--untag", multiple=True, metavar="TAG", help="Remove a tag (repeatable).")
@click.option("--drop", multiple=True, metavar="FACTOR", help="Remove a factor (repeatable).")
@click.option("--text", default=None, help="New text ('' removes it).")
def note_edit(db, as_json, note_id, at, from_, to, moment, tag, untag, drop, text, **factors):
    """Change note ID."""
    from myotwitch.notes import describe, edit_note

    start = _time(at or from_, "--at" if at else "--from")
    with store_for_writing(db) as store, _input_errors():
        n = edit_note(store, note_id, start_ms=start, end_ms=_time(to, "--to"),
                      moment=moment or bool(at), set_factors=_factors(factors), drop_factors=drop,
                      add_tags=tag, drop_tags=untag, text=text)
    if as_json:
        emit_json(note_json(n))
    else:
        click.echo("note %d: %s" % (n.id, describe(n)))


@note.command("delete", short_help="Delete a note.")
@db_option
@yes_option
@json_option
@click.argument("note_id", type=click.IntRange(min=1), metavar="ID")
def note_delete(db, yes, as_json, note_id):
    """Delete note ID (asks first; --yes for scripts)."""
    from myotwitch.cli.common import confirm
    from myotwitch.notes import delete_note, describe, get_note

    with store_for_writing(db) as store, _input_errors():
        n = get_note(store, note_id)
        confirm("delete note %d (%s)?" % (note_id, describe(n)), yes)
        delete_note(store, note_id)
    if as_json:
        emit_json(dict(note_json(n), deleted=True))
    else:
        click.echo("note %d deleted" % note_id)


# ---------------------------------------------------------------- stats


@click.command(short_help="Twitch rates by day, hour and condition; trend.")
@db_option
@json_option
@range_options
@click.option("--forecast", is_flag=True,
              help="Also tomorrow's expected rate by hour (checked on held-out days first).")
@click.option("--days", "days_shown", type=click.IntRange(min=1), default=14, show_default=True,
              help="Days listed in the text output (all of them in --json).")
def stats(db, as_json, device, since, until, forecast, days_shown):
    """Twitches per hour of wear with 95 % intervals: by day, channel and hour of day; the trend
    over days; your rate under each logged condition against the rest; --forecast for tomorrow.

    Counts, not a diagnosis: persistent twitching, above all with weakness, cramps or muscle
    wasting, is a reason to see a doctor."""
    from myotwitch import stats as st
    from myotwitch import wear
    from myotwitch.notes import list_notes

    since_ms, until_ms = _time(since, "--since"), _time(until, "--until")
    with _reading(db) as store:
        t = wear.build(store, since_ms, until_ms, device)
        s = st.compute(t, list_notes(store, since_ms, until_ms), forecast=forecast)
    if as_json:
        emit_json(s)
    else:
        click.echo(st.format_stats(s, days_shown))


# ---------------------------------------------------------------- pictures


@click.command(short_help="Draw a session: signal, events, twitches.")
@db_option
@click.argument("session", type=click.IntRange(min=1), shell_complete=complete_session)
@click.option("--output", "-o", default=None, metavar="FILE",
              help="A .png or .svg file (default: session_<id>.png here).")
def plot(db, session, output):
    """Draw SESSION: the raw signal (an envelope for long sessions) with every event marked by
    kind, and a zoom on each twitch. Without raw samples: the events over time."""
    from myotwitch import plots

    output = output or "session_%d.png" % session
    with _reading(db) as store:
        plots.save(plots.session_figure(store, session), output)
    click.echo("wrote %s" % output)


@click.command(short_help="Write a self-contained HTML report.")
@db_option
@range_options
@click.option("--output", "-o", default="report.html", show_default=True, metavar="FILE",
              help="The HTML file to write.")
def report(db, device, since, until, output):
    """One self-contained HTML file (no network, figures inside): rate per day, hour-of-day heat
    map, conditions compared, sessions, example twitches, the health note."""
    from myotwitch.report import write_report

    since_ms, until_ms = _time(since, "--since"), _time(until, "--until")
    with _reading(db) as store:
        size = write_report(store, output, since_ms, until_ms, device)
    click.echo("wrote %s (%.0f KB)" % (output, size / 1024))


# ---------------------------------------------------------------- export


@click.command(short_help="Export to CSV, Parquet or EDF+.")
@db_option
@json_option
@range_options
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "edf"]), required=True,
              help="csv: plain files; parquet: datasets partitioned by device and day (DuckDB, "
                   "Spark); edf: EDF+ per session with raw samples, events as annotations.")
@click.option("--output", "-o", required=True, metavar="DIR",
              help="A new (or empty) directory to write into.")
def export(db, as_json, device, since, until, fmt, output):
    """Export the store (or a --since/--until/--device part of it) into DIR."""
    from myotwitch.export import describe_result, export as run

    since_ms, until_ms = _time(since, "--since"), _time(until, "--until")
    with _reading(db) as store:
        res = run(store, fmt, output, since_ms, until_ms, device)
    if as_json:
        emit_json(res.as_json())
    else:
        click.echo(describe_result(res))


# ---------------------------------------------------------------- live stream


@click.command(short_help="Stream samples and events live over LSL.")
@port_option
@json_option
@click.option("--lsl", is_flag=True, required=True,
              help="As Lab Streaming Layer outlets (EMG and event markers).")
@click.option("--name", default="myotwitch", show_default=True,
              help="Stream name prefix: '<name> EMG' and '<name> events'.")
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds (default: until Ctrl-C).")
@click.option("--lsl-scope", type=click.Choice(["machine", "link", "site"]), default=None,
              help="Where LSL announces the streams: machine (this computer only), link, site "
                   "(default: liblsl's configuration, the local network).")
def stream(port, as_json, lsl, name, duration, lsl_scope):
    """Stream the device's raw samples (µV) and events as Lab Streaming Layer outlets, so
    LabRecorder, OpenBCI GUI or BrainFlow record them beside other signals. Nothing is stored:
    use `record --raw` for that."""
    from myotwitch.lslstream import LslStreamer
    from myotwitch.record import sigterm_as_interrupt

    with device(port) as dev, _input_errors(), sigterm_as_interrupt():
        st = LslStreamer(dev, name=name, scope=lsl_scope)
        if not as_json:
            click.echo("streaming '%s EMG' (%d channel(s), %d Hz) and '%s events' over LSL "
                       "(Ctrl-C to stop)" % (safe(name), len(st.channels), st.fs, safe(name)))
        res = st.run(duration=duration)
    out = {"end_reason": res.end_reason, "rows": res.rows, "events": res.events,
           "marks": res.marks, "lost_rows": res.lost_rows}
    if as_json:
        emit_json(out)
    else:
        click.echo("stream ended (%s): %d samples, %d events, %d marks, %d rows lost"
                   % (res.end_reason, res.rows, res.events, res.marks, res.lost_rows))
    if res.error:
        fail(res.error, EXIT_DEVICE)


COMMANDS = [note, stats, plot, report, export, stream]
