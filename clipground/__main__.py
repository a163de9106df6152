"""`python -m clipground` runs the command line."""

from clipground.cli import run

run()
