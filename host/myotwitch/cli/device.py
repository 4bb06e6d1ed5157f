"""Talking to a board: `info`, `config`, `monitor`, `ports`."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    device, emit_json, emit_jsonl, errors, hex_id, json_option, port_option, print_table, safe,
    table)


def hello_json(hello, port) -> dict:
    return {"port": port, "device_id": hello.device_id, "board": hello.board,
            "fw_version": hello.fw_version, "build_hash": hello.build_hash, "proto": hello.proto,
            "channels": hello.channels, "fs": hello.fs, "config_hash": hex_id(hello.config_hash),
            "boot_id": hex_id(hello.boot_id)}


@click.command(short_help="What the board says about itself.")
@port_option
@json_option
def info(port, as_json):
    """Show what the board says about itself (firmware, build, board, sample rate, boot)."""
    with device(port) as dev:
        hello = dev.hello()
        if as_json:
            emit_json(hello_json(hello, dev.port))
            return
        click.echo("port         %s" % safe(dev.port))
        for name, value in hello.rows():
            click.echo("%-12s %s" % (name, safe(value)))


@click.group(short_help="Read and change the board's settings.")
def config():
    """Read and change the board's settings (typed as the board reports them)."""


@config.command("show", short_help="Every setting with its value and type.")
@port_option
@json_option
def config_show(port, as_json):
    """Every setting with its value and type."""
    from myotwitch.devconfig import format_value, type_name

    with device(port) as dev:
        values = dev.config_get()
    if as_json:
        emit_json(dict(sorted(values.items())))
        return
    width = max((len(k) for k in values), default=0)
    for key in sorted(values):
        click.echo("%-*s = %-12s (%s)" % (width, safe(key), safe(format_value(values[key])),
                                          type_name(values[key])))


@config.command("keys", short_help="What each detector setting means (no board needed).")
@json_option
def config_keys(as_json):
    """What each detector setting means: unit, range and default (no board needed).

    The board stores no descriptions (its heap is small); firmware/DETECTOR.md has the
    algorithm behind them."""
    from myotwitch import detect

    rows = [{"key": k, "min": lo, "max": hi, "unit": detect.UNITS[k], "default": detect.DEFAULTS[k],
             "meaning": detect.DESCRIPTIONS[k]} for k, (lo, hi) in detect.RANGES.items()]
    if as_json:
        emit_jsonl(rows)
        return
    for r in rows:
        click.echo("%-14s %s..%s %s, default %s" % (r["key"], r["min"], r["max"], r["unit"],
                                                    r["default"]))
        click.echo("    " + r["meaning"])


@config.command("get", short_help="Print one setting's value.")
@port_option
@json_option
@click.argument("key")
def config_get(port, as_json, key):
    """Print the value of KEY."""
    from myotwitch.devconfig import format_value

    with device(port) as dev:
        values = dev.config_get(key)
    if as_json:
        emit_json(values)
        return
    click.echo(safe(format_value(values[key])))


@config.command("set", short_help="Set one or more settings (KEY=VALUE pairs).")
@port_option
@click.argument("pairs", nargs=-1, required=True, metavar="KEY=VALUE...")
def config_set(port, pairs):
    """Set one or more settings: `myotwitch config set name=left-calf det_thresh=112`.

    Values are parsed by the type the board reports for each key (`myotwitch config show`;
    `myotwitch config keys` explains the detector's). If any pair is wrong, nothing is
    changed.
    """
    from myotwitch.devconfig import apply_pairs, format_value

    with device(port) as dev:
        done = apply_pairs(dev, list(pairs))
    for key, old, new in done:
        click.echo("%s: %s -> %s" % (safe(key), safe(format_value(old)), safe(format_value(new))))


@click.command(short_help="Watch the board live (stores nothing).")
@port_option
@json_option
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds.")
@click.option("--plain", is_flag=True, help="One line per message instead of the live view "
                                            "(the default when output is not a terminal).")
def monitor(port, as_json, duration, plain):
    """Watch the board live: recent events, noise floor, twitches per minute, link quality.

    Stores nothing (`myotwitch record` does). --json prints one object per message."""
    from myotwitch.monitor import message_json, run_monitor

    with device(port) as dev:
        if as_json:
            run_monitor(dev, duration=duration, live=False,
                        on_message=lambda msg, state: emit_json(message_json(msg, state)))
        else:
            run_monitor(dev, duration=duration, live=False if plain else None, echo=click.echo)


@click.command(short_help="List serial ports and which hold a board.")
@json_option
@click.option("--no-probe", is_flag=True,
              help="Do not ask ESP32-looking ports who they are (no bytes sent).")
def ports(as_json, no_probe):
    """List serial ports and what each looks like: an ESP32 USB bridge, and the board's name
    when it answers HELLO (only ESP32-looking ports are asked). The virtual board started by
    `myotwitch sim` is listed too."""
    from myotwitch.ports import survey

    with errors():
        found = survey(probe=not no_probe)
    if as_json:
        emit_jsonl(found)
        return
    if not found:
        click.echo("no serial ports found (plug the board in with a data cable; `myotwitch sim` "
                   "starts a virtual one)")
        return
    t = table("port", "what it looks like", "board")
    for p in found:
        board = p["board"] and "%s (%s)" % (p["board"], p["device_id"] or "no id")
        t.add_row(safe(p["port"]), safe(p["kind"]), safe(board or p["answer"] or "-"))
    print_table(t)


COMMANDS = [info, config, monitor, ports]
