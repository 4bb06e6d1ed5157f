"""Bluetooth LE: `pair` and `unpair` (over USB) and `scan` (boards nearby). Every other command
works over BLE with --port ble:auto, ble:NAME or ble:ADDRESS once the board is paired."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    EXIT_DEVICE, confirm, device, emit_json, emit_jsonl, errors, fail, json_option, port_option,
    print_table, safe, table, yes_option)


@click.command(short_help="Pair this computer with the board (over USB).")
@port_option
@json_option
def pair(port, as_json):
    """Pair this computer with the board, over USB: a new random owner key goes onto the board
    and into this computer's key store (readable by you only), under the board's device id.
    From then on this computer reaches the board over Bluetooth LE (--port ble:auto), and
    nobody else does.

    Plugging the board in is what proves you own it, so pairing works over USB only. Pairing
    again makes a new key: any other computer paired before is locked out (a lost laptop,
    say). The board answers nothing but its id over BLE until a paired computer proves it holds
    the key; with no pairing at all, nothing."""
    from myotwitch.pairing import pair as do_pair

    with device(port) as dev, errors():
        res = do_pair(dev)
    if as_json:
        emit_json(res)
        return
    click.echo("paired with board %s (%s)" % (res["device_id"], safe(res["name"] or "no name")))
    click.echo("owner key stored in %s (readable by you only)" % res["key_file"])
    if res["replaced"]:
        click.echo("the previous key no longer opens the board: any other computer paired with "
                   "it is locked out until paired again over USB")
    click.echo("over Bluetooth:  myotwitch --port ble:auto info")


@click.command(short_help="Forget the pairing (on the board and here).")
@port_option
@yes_option
@click.option("--forget", "forget_id", default=None, metavar="DEVICE_ID",
              help="Only delete this computer's key for that board (one not at hand: lost or "
                   "given away); no board needed.")
def unpair(port, yes, forget_id):
    """Delete the owner key on the board (over USB) and on this computer: no computer reaches
    the board over Bluetooth until it is paired again."""
    from myotwitch.pairing import forget, unpair as do_unpair

    if forget_id:
        confirm("delete this computer's key for board %s?" % forget_id, yes)
        with errors():
            gone = forget(forget_id)
        click.echo("deleted this computer's key for %s" % forget_id if gone else
                   "this computer holds no key for %s" % forget_id)
        return
    confirm("unpair the board (no computer will reach it over Bluetooth until paired again)?",
            yes)
    with device(port) as dev, errors():
        res = do_unpair(dev)
    click.echo("board %s has no owner key now%s" % (
        res["device_id"], "; deleted ours too" if res["removed_here"] else ""))


@click.command(short_help="List myotwitch boards in Bluetooth range.")
@json_option
@click.option("--timeout", type=click.FloatRange(0.5, 60), default=4.0, show_default=True,
              metavar="S", help="How long to listen.")
def scan(as_json, timeout):
    """List myotwitch boards advertising nearby: name, device id, signal strength, and whether
    this computer is paired with them. Boards already connected to a computer do not advertise.
    Set MYOTWITCH_BLE=sim to scan the simulated radio of `myotwitch sim --ble`."""
    from myotwitch.ble import BleError, scan as do_scan

    try:
        found = do_scan(timeout)
    except BleError as e:
        fail(str(e), EXIT_DEVICE)
    if as_json:
        emit_jsonl(f.as_dict() for f in found)
        return
    if not found:
        click.echo("no myotwitch board advertising nearby (is it on, with CONFIG ble true, and "
                   "not connected to another computer?)")
        return
    t = table("name", "device id", "rssi>", "paired", "address")
    for f in found:
        t.add_row(safe(f.name or "-"), safe(f.device_id or "-"), "%d dBm" % f.rssi,
                  "yes" if f.paired else "no", safe(f.address))
    print_table(t)


COMMANDS = [pair, unpair, scan]
