"""The result log: an append-only JSON-lines output that a killed job can resume from.

Each record is written whole and flushed, so a kill leaves at most the last line torn. On resume the
finished (video, query) pairs are read back and skipped; error records are dropped and retried.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from clipground.batch.readers import Query
from clipground.errors import UsageError

log = logging.getLogger(__name__)

PairKey = tuple[str, str, tuple[str, ...]]  # (video, query id, query sentences)


def pair_key(video: str, query: Query) -> PairKey:
    """What identifies a finished (video, query) pair in an output file."""
    return video, query.id, query.sentences


class ResultLog:
    """An append-only JSON-lines output; on resume, finished pairs are read back and skipped.

    Error records are not "finished": resuming drops them from the file and retries the pair.
    A torn last line (a killed writer) is cut away.
    """

    def __init__(self, path: str | None, resume: bool = False) -> None:
        if resume and path is None:
            raise UsageError(
                "--resume needs --output FILE: the finished pairs are read back from it"
            )
        self.path = Path(path) if path else None
        self.resume = resume
        self.done: set[PairKey] = self._recover() if resume and self.path else set()

    def _recover(self) -> set[PairKey]:
        """Keys of the file's result records; rewrite it (atomically) without what is retried."""
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise UsageError(f"cannot read --output {self.path} to resume: {exc}") from None
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        kept, done = [], set()
        for number, line in enumerate(lines, 1):
            record = _parse_record(line)
            if record is None:
                raise UsageError(
                    f"--output {self.path} line {number} is not a clipground record: refusing to "
                    "resume into (and rewrite) a file this command did not write"
                )
            key = _record_key(record)
            if key is not None and "error" not in record:
                kept.append(line)
                done.add(key)
        if torn or len(kept) != len(lines):
            log.info(
                "%s: resuming from %d finished pairs (%d lines dropped to retry)",
                self.path,
                len(kept),
                len(lines) - len(kept) + bool(torn),
            )
            self._rewrite(kept)
        return done

    def _rewrite(self, lines: list[bytes]) -> None:
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.resume-{os.getpid()}")
        tmp.write_bytes(b"".join(line + b"\n" for line in lines))
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        """A function that writes one record: to the file (appending on resume), else to stdout."""
        if self.path is None:
            yield lambda record: _write_line(sys.stdout, record)
            return
        try:
            out = open(self.path, "a" if self.resume else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write --output {self.path}: {exc}") from None
        with out:
            yield lambda record: _write_line(out, record)


def _write_line(out: TextIO, record: dict[str, Any]) -> None:
    """One line, written whole and flushed, so a kill leaves at most this line torn."""
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _parse_record(line: bytes) -> dict[str, Any] | None:
    """A line of a batch output as a dict with a "video", or None if it is not one."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and "video" in record else None


def _record_key(record: dict[str, Any]) -> PairKey | None:
    """The pair a record answers; None for a record of a whole video (its error)."""
    try:
        return str(record["video"]), str(record["id"]), tuple(record["query"])
    except (KeyError, TypeError):
        return None
