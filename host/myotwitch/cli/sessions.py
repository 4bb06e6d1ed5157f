"""Recording sessions and looking at them: `record`, `sessions`, `summary`."""

from __future__ import annotations

import click

from myotwitch.cli import common
from myotwitch.cli.common import (
    complete_session, db_option, device, emit_json, emit_jsonl, fail, json_option,
    port_option, print_table, safe, store_for_reading, store_for_writing, table)


@click.command(short_help="Record a session into the store.")
@port_option
@db_option
@json_option
@click.option("--raw", is_flag=True, help="Also stream and keep the raw samples (raw/<session>.i16).")
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds (default: until Ctrl-C).")
@click.option("--notes", default=None,
              help="A note for the session: free text, where words like caffeine=2, sleep=6.5 "
                   "and #gym become factors and tags (see `myotwitch note`).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print events as they arrive.")
def record(port, db, as_json, raw, duration, notes, quiet):
    """Record a session into the store until --duration passes or Ctrl-C.

    --json prints the session's summary as one JSON object at the end (and no events as
    they arrive)."""
    from myotwitch.monitor import describe_event
    from myotwitch.protocol import myoproto as mp
    from myotwitch.record import record_session, sigterm_as_interrupt
    from myotwitch.summary import format_summary, session_summary, summary_json

    quiet = quiet or as_json
    with store_for_writing(db) as store, device(port) as dev, sigterm_as_interrupt():
        fs = dev.hello().fs

        def show(msg):
            if quiet:
                return
            if msg.type == mp.EVENT:
                click.echo("  " + describe_event(msg.seq, msg.fields, fs))
            elif msg.type == mp.HELLO:
                click.echo("  device restarted (boot %08x): same session continues" % msg["boot_id"])

        if not as_json:
            click.echo("recording from %s into %s (Ctrl-C to stop)" % (safe(dev.port), store.path))
        result = record_session(dev, store, duration=duration, raw=raw, on_message=show, notes=notes,
                                on_warning=lambda text: click.echo("warning: " + text, err=True))
        sm = session_summary(store, result.session_id)
        if as_json:
            emit_json(summary_json(sm))
        else:
            click.echo("session %d ended (%s)" % (result.session_id, result.end_reason))
            click.echo(format_summary(sm))
    if result.left_on_device:  # the store failed so long that the memory buffer filled up
        click.echo("warning: %d record(s) of session %d were not held while the store failed: "
                   "they are in the board's log; run `myotwitch pull` to store them"
                   % (result.left_on_device, result.session_id), err=True)
    if result.error:  # the link broke or the device refused: what arrived is saved, but say so
        fail("%s; session %d is saved up to that point" % (result.error, result.session_id),
             common.EXIT_DEVICE)


def session_row_json(r) -> dict:
    from myotwitch.formats import iso

    return {"session_id": r["id"], "device": r["device_key"], "board": r["board"],
            "started_at": iso(r["started_at"]), "ended_at": iso(r["ended_at"]),
            "host_seconds": (r["ended_at"] - r["started_at"]) if r["ended_at"] else None,
            "events": r["events"], "twitches": r["twitches"], "marks": r["marks"],
            "raw": bool(r["raw_path"]), "end_reason": r["end_reason"], "notes": r["notes"]}


@click.command(short_help="List recorded sessions, newest first.")
@db_option
@json_option
@click.option("--limit", "-n", type=click.IntRange(min=1, max=1_000_000), default=20,
              show_default=True, help="How many, newest first.")
def sessions(db, as_json, limit):
    """List recorded sessions, newest first."""
    import datetime as dt

    with store_for_reading(db) as store:
        rows = store.sessions(limit) if store is not None else []
        where = store.path if store is not None else None
    if as_json:
        emit_jsonl(session_row_json(r) for r in rows)
        return
    if not rows:
        from myotwitch.store import resolve_db_path

        click.echo("no sessions yet in %s" % (where or resolve_db_path(common.db_of(db))))
        return
    t = table("id>", "started", "length>", "board", "events>", "twitch>", "raw", "ended", "notes")
    for r in rows:
        length = "%.0f s" % (r["ended_at"] - r["started_at"]) if r["ended_at"] else "open"
        t.add_row(str(r["id"]), dt.datetime.fromtimestamp(r["started_at"]).strftime("%m-%d %H:%M"),
                  length, safe(r["board"])[:12], str(r["events"]), str(r["twitches"]),
                  "yes" if r["raw_path"] else "no", r["end_reason"] or "",
                  safe(r["notes"] or "")[:18])
    print_table(t)


@click.command(short_help="Summarise a session: events, rate, link, warnings.")
@db_option
@json_option
@click.argument("session", type=click.IntRange(min=1), required=False,
                shell_complete=complete_session)
def summary(db, as_json, session):
    """Summarise SESSION (default: the latest): events by kind, rate, link quality."""
    from myotwitch.summary import NoSession, format_summary, session_summary, summary_json

    with store_for_reading(db) as store:
        if store is None:
            raise NoSession("no sessions recorded yet (no store): run `myotwitch record` first")
        sm = session_summary(store, session)
    if as_json:
        emit_json(summary_json(sm))
    else:
        click.echo(format_summary(sm))


COMMANDS = [record, sessions, summary]
