"""`myotwitch replay` and `myotwitch verify`: the device's detector run on the host (detect.py)."""

from __future__ import annotations

import json
from collections import Counter

import click

from myotwitch.cli import _db_option, _db_path, _user_errors


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
        channel, ", ".join("%d (%s)" % (i, n) for i, n in enumerate(names))), param_hint="--channel")


@click.command()
@click.argument("recording")
@click.option("--fs", type=float, default=None, metavar="HZ",
              help="Sample rate, for formats that carry none (CSV without a time column, NPY).")
@click.option("--channel", "-c", default=None, metavar="N|NAME",
              help="Only this channel: its number (from 0) or its name. Default: all.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help='JSON of detector settings, e.g. {"det_thresh": 60}; '
                                   "the rest keep the device's defaults.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event and line.")
def replay(recording, fs, channel, config_file, as_json):
    """Run the device's detector on RECORDING and print the events it finds.

    RECORDING is a bundled recording's name (e.g. biosppy_emg_bursts) or a file: CSV (with
    or without a header row), NPY, WAV or EDF/EDF+, holding integer ADC counts.
    """
    from myotwitch import detect, recordings
    from myotwitch.detparams import ParamError, check_params, describe, load_config
    from myotwitch.protocol import myoproto as mp

    try:
        signals = recordings.signals(recording, fs)
        params = load_config(config_file) if config_file else check_params({})
    except (recordings.RecordingError, ParamError) as e:
        raise click.ClickException(str(e)) from None
    counts: Counter = Counter()
    total_s = 0.0
    chosen = _pick(signals, channel)
    rows = []
    for ch, sig in chosen:
        if sig.fs != int(sig.fs):
            raise click.ClickException("%s: channel %s is sampled at %g Hz; the detector needs a "
                                       "whole number of Hz" % (recording, sig.name, sig.fs))
        rate = int(sig.fs)
        total_s = max(total_s, len(sig.samples) / rate)
        ev = detect.detect(sig.samples, rate, params, channel=ch)
        for d in detect.events_to_dicts(ev, rate):
            d["channel_name"] = sig.name
            rows.append(d)
            counts[d["kind"]] += 1
    rows.sort(key=lambda d: (d["onset_s"], d["channel"]))
    if as_json:
        for d in rows:
            click.echo(json.dumps(d))
        return
    if rows:
        click.echo("%3s %-8s %10s %10s %8s %-12s %6s %7s" % ("ch", "name", "onset s", "offset s",
                                                            "dur ms", "kind", "peak", "area"))
        for d in rows:
            click.echo("%3d %-8s %10.3f %10.3f %8.1f %-12s %6d %7d" % (
                d["channel"], d["channel_name"][:8], d["onset_s"], d["offset_s"], d["duration_ms"],
                d["kind"], d["peak"], d["area"]))
    kinds = ", ".join("%d %s" % (counts[k], k) for k in mp.KIND_NAMES if counts[k])
    click.echo("%d events in %.1f s of %d channel(s)%s; detector %s" % (
        len(rows), total_s, len(chosen), ": " + kinds if kinds else "", describe(params)))


@click.command()
@_db_option
@click.argument("session", type=int, required=False)
@click.option("--all", "all_rows", is_flag=True, help="List matched events too, not only the rest.")
@click.pass_context
def verify(ctx, db, session, all_rows):
    """Re-run the detector on SESSION's raw samples (default: the latest session) and compare
    with the events the device sent. Exit status 0 only if they agree exactly."""
    from myotwitch.store import open_store
    from myotwitch.verify import VerifyError, format_verification, verify_session

    with _user_errors(), open_store(_db_path(db)) as store:
        if session is None:
            session = store.latest_session_id()
            if session is None:
                raise click.ClickException("no sessions yet in %s" % store.path)
        try:
            v = verify_session(store, session)
        except VerifyError as e:
            raise click.ClickException(str(e)) from None
    click.echo("session %d" % session)
    for line in format_verification(v, all_rows):
        click.echo(line)
    if not v.agree:
        ctx.exit(1)
