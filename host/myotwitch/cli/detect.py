"""The device's detector on the host: `replay` (any recording) and `verify` (a session)."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    EXIT_FINDING, complete_recording, complete_session, db_option, emit_json, emit_jsonl, errors,
    fail, json_option, print_table, safe, store_for_reading, table)


def _pick(signals, channel):
    if channel is None:
        return list(enumerate(signals))
    names = [s.name for s in signals]
    if channel.isdigit():
        i = int(channel)
        if i < len(signals):
            return [(i, signals[i])]
    elif channel in names:
        i = names.index(channel)
        return [(i, signals[i])]
    raise click.BadParameter("no channel %r; this recording has %s" % (
        safe(channel), ", ".join("%d (%s)" % (i, safe(n)) for i, n in enumerate(names))),
        param_hint="--channel")


@click.command()
@click.argument("recording", shell_complete=complete_recording)
@json_option
@click.option("--fs", type=float, default=None, metavar="HZ",
              help="Sample rate, for formats that carry none (CSV without a time column, NPY).")
@click.option("--channel", "-c", default=None, metavar="N|NAME",
              help="Only this channel: its number (from 0) or its name. Default: all.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help='JSON of detector settings, e.g. {"det_thresh": 60}; '
                                   "the rest keep the device's defaults.")
def replay(recording, as_json, fs, channel, config_file):
    """Run the device's detector on RECORDING and print the events it finds.

    RECORDING is a bundled recording's name (e.g. biosppy_emg_bursts) or a file: CSV (with
    or without a header row), NPY, WAV or EDF/EDF+, holding integer ADC counts.
    """
    from collections import Counter

    from myotwitch import detect, recordings
    from myotwitch.detparams import check_params, describe, load_config
    from myotwitch.protocol import myoproto as mp

    with errors():
        signals = recordings.signals(recording, fs)
        params = load_config(config_file) if config_file else check_params({})
    counts: Counter = Counter()
    total_s = 0.0
    chosen = _pick(signals, channel)
    rows = []
    for ch, sig in chosen:
        if sig.fs != int(sig.fs):
            fail("%s: channel %s is sampled at %g Hz; the detector needs a whole number of Hz"
                 % (safe(recording), safe(sig.name), sig.fs))
        rate = int(sig.fs)
        total_s = max(total_s, len(sig.samples) / rate)
        with errors():
            ev = detect.detect(sig.samples, rate, params, channel=ch)
        for d in detect.events_to_dicts(ev, rate):
            d["channel_name"] = sig.name
            rows.append(d)
            counts[d["kind"]] += 1
    rows.sort(key=lambda d: (d["onset_s"], d["channel"]))
    if as_json:
        emit_jsonl(rows)
        return
    if rows:
        t = table("ch>", "name", "onset s>", "offset s>", "dur ms>", "kind", "peak>", "area>")
        for d in rows:
            t.add_row(str(d["channel"]), safe(d["channel_name"])[:8], "%.3f" % d["onset_s"],
                      "%.3f" % d["offset_s"], "%.1f" % d["duration_ms"], d["kind"],
                      str(d["peak"]), str(d["area"]))
        print_table(t)
    kinds = ", ".join("%d %s" % (counts[k], k) for k in mp.KIND_NAMES if counts[k])
    click.echo("%d events in %.1f s of %d channel(s)%s; detector %s" % (
        len(rows), total_s, len(chosen), ": " + kinds if kinds else "", describe(params)))


@click.command()
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
