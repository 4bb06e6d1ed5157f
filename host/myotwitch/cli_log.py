"""`myotwitch pull` (the device's flash log into the store, pull.py) and `myotwitch events`
(list and filter stored events, events.py)."""

from __future__ import annotations

import click

from myotwitch.cli import _db_option, _db_path, _device, _port_option, _user_errors


@click.command()
@_port_option
@_db_option
@click.option("--erase", is_flag=True,
              help="Afterwards free the device's log up to the last record stored (only once it "
                   "is committed here).")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def pull(port, db, erase, quiet):
    """Download new records from the device's flash log into the store (resumable; nothing is
    stored twice)."""
    from myotwitch.pull import Progress, format_pull, pull_log
    from myotwitch.record import sigterm_as_interrupt
    from myotwitch.store import open_store

    progress = None if quiet else Progress()
    with _user_errors(), open_store(_db_path(db)) as store, _device(port) as dev, \
            sigterm_as_interrupt():
        try:
            res = pull_log(dev, store, erase=erase, progress=progress)
        except KeyboardInterrupt:
            raise click.ClickException("interrupted: what was pulled so far is saved; run pull "
                                       "again to go on") from None
        finally:
            if progress is not None:
                progress.finish()
        click.echo(format_pull(res, store.path))


@click.command()
@_db_option
@click.option("--device", "-d", default=None, metavar="KEY", help="Only this device (its key or board name).")
@click.option("--since", default=None, metavar="TIME",
              help="Only events at or after TIME (ISO 8601, e.g. 2026-05-01 or 2026-05-01T08:00; "
                   "local time unless it has an offset).")
@click.option("--until", default=None, metavar="TIME", help="Only events before TIME.")
@click.option("--kind", "-k", multiple=True,
              type=click.Choice(["twitch", "burst", "contraction", "artifact"]),
              help="Only these kinds (repeatable).")
@click.option("--channel", "-c", type=int, multiple=True, help="Only these channels (repeatable).")
@click.option("--limit", "-n", type=int, default=None, help="At most N events (the newest).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="json: one JSON object per line.")
def events(db, device, since, until, kind, channel, limit, fmt):
    """List stored events (recorded live or pulled from the log), oldest first."""
    from myotwitch.events import EventFilter, format_events, parse_time, query_events
    from myotwitch.store import open_store

    try:
        flt = EventFilter(device=device, since_ms=parse_time(since) if since else None,
                          until_ms=parse_time(until) if until else None, kinds=list(kind),
                          channels=list(channel), limit=limit)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    with _user_errors(), open_store(_db_path(db)) as store:
        rows = query_events(store, flt)
        for line in format_events(rows, fmt):
            click.echo(line)
        if fmt == "table" and not rows:
            click.echo("no events match", err=True)
