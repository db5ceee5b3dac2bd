"""`python -m selftaught` runs the command line."""

from selftaught.cli import run

run()
