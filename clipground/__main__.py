"""`python -m clipground` runs the command line."""

from clipground.cli import app

app(prog_name="clipground")
