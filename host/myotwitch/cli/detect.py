"""The device's detector on the host: `replay` (any recording) and `verify` (a session)."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    EXIT_FINDING, complete_recording, complete_session, db_option, emit_json, emit_jsonl, errors,
    fail, json_option, print_table, safe, store_for_reading, table)


@click.command(short_help="Run the detector on a recording, file or session.")
@click.argument("recording", shell_complete=complete_recording)
@db_option
@json_option
@click.option("--fs", type=float, default=None, metavar="HZ",
              help="Sample rate, for formats that carry none (CSV without a time column, NPY).")
@click.option("--channel", "-c", default=None, metavar="N|NAME",
              help="Only this channel: its number (from 0) or its name. Default: all.")
@click.option("--config", "config_files", type=click.Path(dir_okay=False), multiple=True,
              metavar="FILE", help='JSON of detector settings, e.g. {"det_thresh": 60}; the rest '
                                   "keep the defaults. Repeat to compare settings side by side.")
@click.option("--compare", is_flag=True,
              help="Also run the settings the session was recorded with (the defaults for a "
                   "file) and show them beside those of --config.")
def replay(recording, db, as_json, fs, channel, config_files, compare):
    """Run the device's detector on RECORDING and print the events it finds.

    RECORDING is a session id (one recorded with `record --raw`: by default it runs with the
    settings the device used), a raw file of such a session (raw/N.i16), a bundled recording's
    name (e.g. biosppy_emg_bursts), or a file of integer ADC counts: CSV (with or without a
    header row), NPY, WAV or EDF/EDF+. Onsets are in the device's sample time. With several
    settings (--config repeated, or --compare), the counts and the events they disagree on
    are shown side by side; --json then labels each event with its settings.
    """
    from myotwitch import replay as rp
    from myotwitch.detparams import describe, load_config

    with store_for_reading(db) as store, errors():
        src = rp.pick_channel(rp.open_source(recording, store=store, fs=fs), channel)
    baseline = "recorded" if src.kind == "session" else "defaults"
    settings = [(baseline, None)] if compare or not config_files else []
    with errors():
        settings += [(f, load_config(f)) for f in config_files]
        res = rp.replay(src, settings)
    if as_json:
        emit_jsonl(res.events)
        return
    if len(settings) == 1:
        _one(res)
    else:
        _side_by_side(res)
    gaps = ("; %d gap(s) of lost samples, the detector restarted after each" % src.gaps
            if src.gaps else "")
    where = "%.1f s of %d channel(s) of %s" % (src.duration_s, len(src.channels), safe(src.label))
    if len(settings) == 1:
        params = settings[0][1]
        how = describe(params) if params is not None else (
            "as recorded" if src.kind == "session" else "default settings")
        click.echo("%d events in %s; detector %s%s" % (len(res.events), where, how, gaps))
    else:
        click.echo("%d event(s) differ between the %d settings, in %s%s"
                   % (len(res.differences()), len(settings), where, gaps))


def _kinds(counts) -> str:
    return ", ".join("%d %s" % (n, k) for k, n in counts.items() if n)


def _one(res):
    if res.events:
        t = table("ch>", "name", "onset s>", "offset s>", "dur ms>", "kind", "peak>", "area>")
        for d in res.events:
            t.add_row(str(d["channel"]), safe(d["channel_name"])[:8], "%.3f" % d["onset_s"],
                      "%.3f" % d["offset_s"], "%.1f" % d["duration_ms"], d["kind"],
                      str(d["peak"]), str(d["area"]))
        print_table(t)
    kinds = _kinds(res.counts(res.labels[0]))
    if kinds:
        click.echo("by kind: " + kinds)


def _side_by_side(res):
    from myotwitch import replay as rp
    from myotwitch.protocol import myoproto as mp

    names = ["ABCDEFGH"[i] if i < 8 else str(i) for i in range(len(res.labels))]
    t = table("", "settings", *[k + ">" for k in mp.KIND_NAMES], "all>")
    for n, label in zip(names, res.labels):
        c = res.counts(label)
        t.add_row(n, safe(label)[-30:], *[str(c[k]) for k in mp.KIND_NAMES],
                  str(sum(c.values())))
    print_table(t)
    diffs = res.differences()
    if not diffs:
        click.echo("every event is the same under all settings")
        return
    click.echo("events that differ (the same event: same kind, onset within %d ms):"
               % rp.MATCH_MS)
    t = table("ch>", "onset s>", *names)
    for ch, at, found in diffs:
        t.add_row(str(ch), "%.3f" % at, *[
            "%s %.0f ms" % (e["kind"], e["duration_ms"]) if e else "-"
            for e in (found[lab] for lab in res.labels)])
    print_table(t)


@click.command(short_help="Re-check a session's detections on its raw samples.")
@db_option
@json_option
@click.argument("session", type=click.IntRange(min=1), required=False,
                shell_complete=complete_session)
@click.option("--all", "all_rows", is_flag=True, help="List matched events too, not only the rest.")
def verify(db, as_json, session, all_rows):
    """Re-run the detector on SESSION's raw samples (default: the latest session) and compare
    with the events the device sent.

    Exit status: 0 if they agree exactly, 1 if they differ, 2 if there is nothing to
    compare (no such session, recorded without --raw)."""
    from myotwitch.verify import format_verification, verification_json, verify_session

    with store_for_reading(db) as store:
        if store is None:
            fail("no sessions yet (no store): record one with `myotwitch record --raw`")
        if session is None:
            session = store.latest_session_id()
            if session is None:
                fail("no sessions yet in %s" % store.path)
        with errors():
            v = verify_session(store, session)
    if as_json:
        emit_json(dict(verification_json(v), session_id=session))
    else:
        click.echo("session %d" % session)
        for line in format_verification(v, all_rows):
            click.echo(line)
    if not v.agree:
        raise click.exceptions.Exit(EXIT_FINDING)


COMMANDS = [replay, verify]
