"""A closed stdout (`clipground ... | head -1`) ends a command quietly with exit 141, as `yes | head`
ends `yes`; a broken pipe that is not stdout is still an internal error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from clipground.cli._common import EXIT_BROKEN_PIPE, EXIT_INTERNAL, command

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "demo.mp4"


def closed_stdout(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Run `clipground ARGS` with stdout a pipe whose reader is gone before anything is written."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [sys.executable, "-m", "clipground", *args],
            stdout=write, stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write)


@pytest.mark.parametrize("command_line", ["cache", "align"])
def test_a_closed_stdout_ends_quietly(command_line: str, tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("A blue square.\nA red circle.\n")
    cache = ["--cache-dir", str(tmp_path / "cache")]
    args = {
        "cache": ["cache", "info", *cache],
        "align": ["align", str(SAMPLE), "--transcript", "t.txt", "--model", "demo", *cache],
    }[command_line]
    done = closed_stdout(args, tmp_path)
    assert done.returncode == EXIT_BROKEN_PIPE == 141
    assert done.stderr == ""  # no "error:", no "Exception ignored" from the last flush


def test_the_same_inside_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    read, write = os.pipe()
    os.close(read)
    with os.fdopen(write, "w") as broken:
        monkeypatch.setattr(sys, "stdout", broken)
        with pytest.raises(typer.Exit) as ended, command(quiet=False, verbose=False):
            print("a record", flush=True)
    assert ended.value.exit_code == EXIT_BROKEN_PIPE


def test_a_broken_pipe_elsewhere_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    with open(tmp_path / "out.jsonl", "w") as stdout:  # stdout is fine: a file
        monkeypatch.setattr(sys, "stdout", stdout)
        with pytest.raises(typer.Exit) as ended, command(quiet=False, verbose=False):
            raise BrokenPipeError(32, "Broken pipe")  # e.g. a socket to another process
    assert ended.value.exit_code == EXIT_INTERNAL
    assert "internal error: BrokenPipeError" in capsys.readouterr().err
