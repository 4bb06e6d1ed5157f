"""The device's flash log and the events in the store: `pull`, `events`."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    EXIT_DEVICE, ProgressBar, db_option, device, emit_json, emit_jsonl, fail,
    json_option, needs_yes, port_option, print_table, safe, store_for_reading,
    store_for_writing, table, yes_option)


@click.command(short_help="Download the board's flash log into the store.")
@port_option
@db_option
@json_option
@click.option("--erase", is_flag=True,
              help="Afterwards free the device's log up to the last record stored (only once it "
                   "is committed here).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@yes_option
def pull(port, db, as_json, erase, quiet, yes):
    """Download new records from the device's flash log into the store (resumable; nothing is
    stored twice). Devices are told apart by their device id: each has its own position.

    --erase asks first (--yes for scripts): it deletes from the device what this store holds
    of it, and is refused for a device that reports no id (older firmware)."""
    from myotwitch.pull import format_pull, pull_json, pull_log
    from myotwitch.record import sigterm_as_interrupt

    if erase:
        needs_yes("pull --erase (the board's log is deleted up to what this store holds of it)",
                  yes)

    bar = None

    def ask(res):  # after the pull: the question can say which device and how far
        if yes:
            return True
        if bar is not None:
            bar.progress.stop()  # the question on a clean line
        return click.confirm(
            "erase the log of board %s (device %s) up to seq %d? This store holds all of it"
            % (safe(res.board), res.device, res.last_seq), default=False)

    with store_for_writing(db) as store, device(port) as dev, sigterm_as_interrupt():
        try:
            if quiet or as_json:
                res = pull_log(dev, store, erase=erase, confirm_erase=ask)
            else:
                with ProgressBar("pulling", unit="seq") as bar:
                    res = pull_log(dev, store, erase=erase, progress=bar, confirm_erase=ask)
        except KeyboardInterrupt:
            fail("interrupted: what was pulled so far is saved; run pull again to go on",
                 EXIT_DEVICE)
        if as_json:
            emit_json(pull_json(res, store.path))
        else:
            click.echo(format_pull(res, store.path))


@click.command(short_help="List and filter stored events.")
@db_option
@json_option
@click.option("--device", "-d", default=None, metavar="ID",
              help="Only this device (its device id, or its board name).")
@click.option("--since", default=None, metavar="TIME",
              help="Only events at or after TIME (ISO 8601, e.g. 2026-05-01 or 2026-05-01T08:00; "
                   "local time unless it has an offset).")
@click.option("--until", default=None, metavar="TIME", help="Only events before TIME.")
@click.option("--kind", "-k", multiple=True,
              type=click.Choice(["twitch", "burst", "contraction", "artifact"]),
              help="Only these kinds (repeatable).")
@click.option("--channel", "-c", type=click.IntRange(0, 3), multiple=True,
              help="Only these channels (repeatable).")
@click.option("--limit", "-n", type=click.IntRange(min=1, max=10**9), default=None,
              help="At most N events (the newest).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="table: for people (local time, 80 columns); csv: every "
                                      "field, ISO times; json: the same as --json.")
def events(db, as_json, device, since, until, kind, channel, limit, fmt):
    """List stored events (recorded live or pulled from the log), oldest first."""
    from myotwitch.events import EventFilter, format_events, parse_time, query_events

    try:
        flt = EventFilter(device=device, since_ms=parse_time(since) if since else None,
                          until_ms=parse_time(until) if until else None, kinds=list(kind),
                          channels=list(channel), limit=limit)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    with store_for_reading(db) as store:
        rows = query_events(store, flt) if store is not None else []
    if as_json or fmt == "json":
        emit_jsonl(rows)
        return
    if fmt == "csv":
        for line in format_events(rows, fmt):
            click.echo(line)
        return
    if not rows:
        click.echo("no events match", err=True)
        return
    t = table("device", "boot", "seq>", "time (local)", "kind", "ch>", "ms>", "peak>", "src")
    for r in rows:
        t.add_row(safe(r["device"])[:12], r["boot_id"], str(r["seq"]),
                  r["time"][5:23].replace("T", " ") if r["time"] else "unsynced", r["kind"],
                  str(r["channel"]), "-" if r["duration_ms"] is None else "%.0f" % r["duration_ms"],
                  str(r["peak"]), r["source"])
    print_table(t)


COMMANDS = [pull, events]
