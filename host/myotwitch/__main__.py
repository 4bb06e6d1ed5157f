"""`python -m myotwitch ...`: the same as the `myotwitch` command."""

from myotwitch.cli import main

main(prog_name="myotwitch")
