"""`python -m kij`: the same command line as the `kij` script."""

from kij.cli import main

main()
