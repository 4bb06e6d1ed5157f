"""`myotwitch boards`: the bundled board definitions (a thin layer over myotwitch.boards)."""

import json

import click


@click.command("boards")
@click.option("--json", "as_json", is_flag=True, help="Print the full definitions as JSON.")
@click.option("--wiring", is_flag=True, help="Print each board's wiring table (Markdown).")
@click.option("--check", "check_path", type=click.Path(exists=True, dir_okay=False),
              metavar="FILE", default=None, help="Validate one board file and exit.")
def boards(as_json, wiring, check_path):
    """List the supported boards: chip, front end, sample rate, channels, pins."""
    from myotwitch.boards import BoardError, load_all, load_file, wiring_markdown

    try:
        if check_path:
            b = load_file(check_path)
            click.echo("%s: ok (%s, %s, %d Hz, %d channel(s))"
                       % (check_path, b.chip, b.front_end, b.fs, b.channels))
            return
        found = load_all()
    except BoardError as e:
        raise click.ClickException(str(e)) from None
    if as_json:
        click.echo(json.dumps([b.data for b in found], indent=2, ensure_ascii=False))
        return
    if wiring:
        click.echo("\n\n".join(wiring_markdown(b) for b in found if not b.virtual))
        return
    click.echo("%-28s %-8s %-16s %5s %3s  %s" % ("board", "chip", "front end", "fs", "ch", "inputs"))
    for b in found:
        d = b.data
        if "adc" in d:
            inputs = "ADC " + ",".join("GPIO%d" % p for p in d["adc"]["pins"])
        elif "spi" in d:
            inputs = "SPI CS GPIO%d, DRDY GPIO%d" % (d["spi"]["cs"], d["spi"]["drdy"])
        else:
            inputs = "recording"
        click.echo("%-28s %-8s %-16s %5d %3d  %s" % (b.name, b.chip, b.front_end, b.fs, b.channels,
                                                    inputs))
