"""The `myotwitch` command line: a thin layer over the library modules."""

import click

from myotwitch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="myotwitch")
def main():
    """Flash, configure, monitor and record an ESP32 + surface-EMG twitch logger."""
