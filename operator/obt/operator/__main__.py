"""`python -m obt.operator` is `obt operator`."""

from obt.operator.cli import command

command()
