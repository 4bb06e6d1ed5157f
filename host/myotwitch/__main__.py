"""`python -m myotwitch` is the `myotwitch` command."""

from myotwitch.cli import main

main()
