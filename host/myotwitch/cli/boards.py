"""`myotwitch boards`: the bundled board definitions (a thin layer over myotwitch.boards)."""

import click

from myotwitch.cli.common import (
    EXIT_FINDING, emit_jsonl, errors, fail, json_option, print_table, safe, table)


@click.command("boards", short_help="The supported boards, their pins and wiring.")
@json_option
@click.option("--wiring", is_flag=True, help="Print each board's wiring table (Markdown).")
@click.option("--check", "check_path", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", default=None, help="Validate one board file and exit.")
def boards(as_json, wiring, check_path):
    """List the supported boards: chip, front end, sample rate, channels, pins.

    --json prints one full definition per line. --check exits 1 if the file has a problem."""
    from myotwitch.boards import BoardError, load_all, load_file, wiring_markdown

    if check_path:
        try:
            b = load_file(check_path)
        except BoardError as e:  # what --check is for: a finding, not a usage error
            fail(str(e), EXIT_FINDING)
        click.echo("%s: ok (%s, %s, %d Hz, %d channel(s))"
                   % (safe(check_path), b.chip, b.front_end, b.fs, b.channels))
        return
    with errors():
        found = load_all()
    if as_json:
        emit_jsonl(b.data for b in found)
        return
    if wiring:
        click.echo("\n\n".join(wiring_markdown(b) for b in found if not b.virtual))
        return
    t = table("board", "chip", "front end", "fs>", "ch>", "inputs")
    for b in found:
        d = b.data
        if "adc" in d:
            inputs = "ADC " + ",".join("GPIO%d" % p for p in d["adc"]["pins"])
        elif "spi" in d:
            inputs = "SPI CS%d DRDY%d" % (d["spi"]["cs"], d["spi"]["drdy"])
        else:
            inputs = "recording"
        t.add_row(b.name, b.chip, b.front_end, str(b.fs), str(b.channels), inputs)
    print_table(t)


COMMANDS = [boards]
