"""The `myotwitch` command line: the group, its global options, and the commands it holds.

Each command lives in a module of this package with the library calls behind it; shared
options, errors, exit codes and output conventions are in `common`. This module is the only
one that imports the command modules.
"""

import click

from myotwitch import __version__
from myotwitch.cli import boards, detect, device, flash, insight, log, sessions, virtual, wireless
from myotwitch.cli.common import DB_HELP, PORT_HELP, complete_port, complete_recording


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="myotwitch")
@click.option("--port", "-p", envvar="MYOTWITCH_PORT", default=None, metavar="PORT",
              shell_complete=complete_port, help=PORT_HELP + " For every command.")
@click.option("--db", default=None, metavar="PATH", type=click.Path(dir_okay=False),
              help=DB_HELP + " For every command.")
@click.option("--sim-speed", envvar="MYOTWITCH_SIM_SPEED", type=click.FloatRange(min=0),
              default=None, metavar="X",
              help="With --port sim: playback speed of the virtual board started for the "
                   "command (default 10: ten seconds of recording per second; 1 is real time, "
                   "0 as fast as it runs). Env: MYOTWITCH_SIM_SPEED.")
@click.option("--sim-recording", envvar="MYOTWITCH_SIM_RECORDING", default=None,
              metavar="NAME|FILE", shell_complete=complete_recording,
              help="With --port sim: what the virtual board plays (a bundled recording's name or "
                   "a file; default: the bundled demo recording). Env: MYOTWITCH_SIM_RECORDING.")
@click.pass_context
def main(ctx, port, db, sim_speed, sim_recording):
    """Flash, configure, monitor and record an ESP32 + surface-EMG twitch logger; replay,
    verify and report what it recorded.

    Exit status: 0 ok, 1 a finding (verify differs), 2 usage or input error, 3 device or
    link error. `--json` on a command prints JSON (README, Machine output). Shell completion:
    README, Shell completion."""
    ctx.ensure_object(dict)
    ctx.obj.update(port=port, db=db, sim_speed=sim_speed, sim_recording=sim_recording)


for _module in (device, sessions, log, detect, virtual, boards, flash, insight, wireless):
    for _command in _module.COMMANDS:
        main.add_command(_command)
