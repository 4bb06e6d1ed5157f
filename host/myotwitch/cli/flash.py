"""`myotwitch flash`: a thin layer over myotwitch.flash (see there for the on-device layout)."""

import click

from myotwitch.cli.common import (
    EXIT_DEVICE, complete_board, confirm, errors, fail, port_of, port_option, safe, yes_option)


@click.command("flash", short_help="Put MicroPython and the firmware on a board.")
@click.option("--board", "-b", "board_name", required=True, metavar="BOARD",
              shell_complete=complete_board,
              help="Board name (see `myotwitch boards`) or path to a board file.")
@port_option
@click.option("--micropython", "image", type=click.Path(exists=True, dir_okay=False),
              default=None, metavar="FIRMWARE.bin",
              help="First write this MicroPython image with esptool (chip checked, offset per chip).")
@click.option("--erase", is_flag=True,
              help="Also forget the device's config and event log (with --micropython: erase "
                   "the whole flash first).")
@click.option("--dry-run", is_flag=True, help="Print every step; touch no device.")
@yes_option
def flash(board_name, port, image, erase, dry_run, yes):
    """Put MicroPython (optional) and the myotwitch firmware on a board, then check that it
    boots and reports the build just deployed. Config and event log survive unless --erase."""
    from myotwitch import flash as fl
    from myotwitch.boards import get
    from myotwitch.ports import resolve_port

    port = port_of(port)  # or the group's `myotwitch --port P flash ...`
    with errors():
        board = get(board_name)
        port = (port or "<auto-detected port>") if dry_run else resolve_port(port)
    echo = click.echo
    if port == "sim":
        fail("--port sim is the virtual board, which always runs the current source tree: "
             "nothing to flash. Give the serial port of a board (or leave --port out).")
    if board.virtual and image:
        fail("the virtual board runs the unix port: no MicroPython image to write")
    if erase and not dry_run:
        confirm("erase %s on %s (%s)?" % (
            "the whole flash, then write MicroPython" if image else
            "the board's settings and event log (records not pulled yet are lost)", port,
            board.name), yes)
    pre = "would " if dry_run else ""
    try:
        if image:
            echo("%sdetect the chip on %s with esptool and check it is %s" % (pre, port, board.chip))
            for cmd in fl.flash_steps(board, port, image, erase):
                echo("%srun: esptool %s" % (pre, " ".join(cmd[3:])))
            if not dry_run:
                fl.write_micropython(board, port, image, erase, progress=echo)
        payload = fl.build_payload(board)
        size = sum(len(d) for d in payload.slot_files.values())
        echo("built firmware %s for %s (%s): %d files, %d bytes, .mpy v%s"
             % (payload.build.hash_hex, board.name, board.march or "host",
                len(payload.slot_files), size,
                payload.mpy_header[0] if payload.mpy_header else "-"))
        if dry_run:
            echo("would open %s with mpremote (raw REPL, no soft reset), stopping a running "
                 "firmware" % port)
            echo("would read sys.implementation._mpy and check it loads .mpy v%s"
                 % (payload.mpy_header[0] if payload.mpy_header else "-"))
            echo("would hash fw/a, fw/b and main.py on the board and copy only files that differ, "
                 "into the slot that is not active")
            if erase and not image:
                echo("would erase data/ (config and event log)")
            for n in sorted(payload.slot_files):
                echo("  fw/<slot>/%s  sha256 %s" % (n, payload.hashes[n][:16]))
            echo("  main.py (boot entry, replaced by rename)")
            echo("would switch fw/active to the new slot (write fw/active.tmp, rename)")
            if not board.virtual:
                echo("would reset the board, wait for HELLO and check build %s"
                     % payload.build.hash_hex)
            return
        t = fl.open_transport(port)
        try:
            state = fl.probe(t)
            echo("board: %s, MicroPython %s" % (safe(state.platform), safe(state.version)))
            fl.check_compatible(state, payload, board)
            if erase and not image:
                fl.erase_data(t, progress=echo)
            res = fl.deploy(t, payload, progress=echo)
            echo("copied %d file(s) into slot %s%s" % (len(res.copied), res.slot,
                                                       ", switched" if res.switched else ""))
            if board.virtual:
                fl.close_transport(t)
                return
            info = fl.reset_and_hello(t, port, payload.build.hash_hex, progress=echo)
            t = None
        finally:
            if t is not None:
                fl.close_transport(t)
        echo("ok: %s runs build %s (firmware %s, %d Hz, %d channel(s))"
             % (safe(info.board), info.build_hash, safe(info.fw_version), info.fs, info.channels))
    except (fl.FlashError, FileNotFoundError, RuntimeError) as e:
        fail(str(e), EXIT_DEVICE)
    except Exception as e:
        from mpremote.transport import TransportError
        from serial import SerialException

        # SerialException is an OSError too; a plain OSError (a closed stdout) is not the board's
        if isinstance(e, (TransportError, SerialException)):
            fail("the connection to the board broke off (%s). The previous firmware still boots; "
                 "check the cable and run `myotwitch flash` again." % e, EXIT_DEVICE)
        raise


COMMANDS = [flash]
