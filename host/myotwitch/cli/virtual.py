"""The virtual board: `sim` (run one) and `demo` (the whole chain on it)."""

from __future__ import annotations

import click

from myotwitch.cli.common import (
    complete_recording, db_option, db_of, emit_json, errors, fail, json_option)


@click.command(short_help="Run a virtual board (no hardware needed).")
@click.argument("recording", required=False, shell_complete=complete_recording)
@click.option("--speed", type=click.FloatRange(min=0), default=1.0, show_default=True,
              help="Playback speed: 1 is real time, 10 ten times faster, 0 as fast as it runs.")
@click.option("--board", default="virtual", show_default=True,
              help="Board name the virtual board reports in HELLO.")
@click.option("--fs", type=click.IntRange(500, 2000), default=None, metavar="HZ",
              help="Sample rate of RECORDING when the file does not carry one (CSV, NPY).")
@click.option("--flash", type=click.Path(dir_okay=False), default=None, metavar="IMAGE",
              help="littlefs2 flash image (config and log live here). Default: the user's "
                   "virtual board, virtual-board/flash.img in the data directory, which every "
                   "`--port sim` command uses too.")
@click.option("--once", is_flag=True, help="Stop at the end of the recording instead of looping.")
@click.option("--ble", is_flag=True,
              help="Give the board a radio: a SIMULATED Bluetooth LE link (no adapter needed) "
                   "that enforces a real one's MTU, notification size, buffers and connection "
                   "events; reach it with MYOTWITCH_BLE=sim and --port ble:auto.")
@click.option("--ble-interval", type=click.FloatRange(7.5, 4000), default=None, metavar="MS",
              help="With --ble: the simulated connection interval (default 15 ms).")
@click.option("--ble-mtu", type=click.IntRange(23, 247), default=None, metavar="N",
              help="With --ble: the MTU the simulated host asks for (default 247; 23 keeps the "
                   "default).")
def sim(recording, speed, board, fs, flash, once, ble, ble_interval, ble_mtu):
    """Start a virtual board: the real firmware in the MicroPython unix port, fed by
    RECORDING (default: the bundled demo recording), on a pty, until Ctrl-C.

    On the default flash image, every `myotwitch --port sim ...` command joins this board
    while it runs; when none runs, each such command starts one for itself on the same image
    (at --sim-speed, default 10x), so settings, the event log and the device id persist
    between commands either way."""
    import signal
    import time

    from myotwitch.sim import Claim, SimBoard, default_flash_image

    claim = None
    if flash is None:
        claim = Claim()
        if not claim.acquire():
            held = claim.holder() or {}
            fail("the virtual board already runs%s: use it with --port sim, or give --flash "
                 "IMAGE for a second one" % (" on %s (pid %s)" % (held["port"], held.get("pid"))
                                             if held.get("port") else " for another command"))
        flash = default_flash_image()
    try:
        with errors():
            air = None
            if ble:
                from myotwitch.blesim import AirModel

                air = AirModel()
                if ble_interval:
                    air.interval_ms = ble_interval
                if ble_mtu:
                    air.central_mtu = ble_mtu
            board_ = SimBoard(recording, speed=speed, board=board, fs=fs, flash=flash, once=once,
                              ble=air)
            board_.start()
        if claim is not None:
            claim.publish(port=board_.port, recording=board_.recording.name, speed=speed,
                          ble_radio=board_.radio.port if board_.radio else None)
        rec = board_.recording
        click.echo("virtual board running: %s, %d Hz, %d channel(s), %.1f s, speed %gx%s"
                   % (rec.name, rec.fs, rec.channels, rec.duration_s, speed,
                      "" if once else ", looping"))
        click.echo("flash image: %s" % board_.flash)
        if board_.tightened:
            click.echo("note: made owner-only (health data): " + ", ".join(board_.tightened),
                       err=True)
        click.echo("serial port: %s" % board_.port)
        click.echo("try:  myotwitch --port %s monitor      (Ctrl-C here stops the board)"
                   % ("sim" if claim is not None else board_.port))
        if board_.radio is not None:
            m = board_.radio.model
            click.echo("BLE (simulated radio on 127.0.0.1:%d, %g ms connection interval, host MTU "
                       "%d): pair over the serial port first, then" % (
                           board_.radio.port, m.interval_ms, m.central_mtu))
            click.echo("      myotwitch --port sim pair" if claim is not None else
                       "      myotwitch --port %s pair" % board_.port)
            click.echo("      MYOTWITCH_BLE=sim%s myotwitch --port ble:auto monitor" % (
                "" if claim is not None else " MYOTWITCH_BLE_RADIO=%d" % board_.radio.port))
        signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            while board_.alive:
                time.sleep(0.2)
            click.echo("the virtual board stopped:\n%s" % board_.log_tail())
        except KeyboardInterrupt:
            click.echo("stopping the virtual board")
        finally:
            board_.close()
    finally:
        if claim is not None:
            claim.release()


@click.command(short_help="The whole chain on a virtual board, in seconds.")
@db_option
@json_option
@click.option("--speed", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Replay speed of the bundled recording.")
def demo(db, as_json, speed):
    """Try it without hardware: a virtual board replays a bundled recording with known
    twitches, a session is recorded with raw samples, summarised, re-verified, and the
    twitches found are compared with the ones known to be there. The session is kept in a
    store of its own (demo/myotwitch.db in the data directory) unless --db is given."""
    from myotwitch.demo import demo_json, run_demo

    with errors():
        sm = run_demo(speed=speed, db=db_of(db), echo=(lambda *a, **k: None) if as_json
                      else click.echo)
    if as_json:
        emit_json(demo_json(sm))


COMMANDS = [sim, demo]
