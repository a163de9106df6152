"""The inputs of a job: the videos (files as given, folders searched) and the queries to ask them.

A video that cannot be read fails alone, later; queries that cannot be read are usage errors, raised
before any work starts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from clipground.errors import UsageError
from clipground.text import clean_query

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".wmv",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".3gp",
)


def find_videos(paths: Sequence[str], glob: str | None = None) -> list[str]:
    """Files as given, and videos found recursively in folders (by extension, or by `glob`).

    Missing paths are kept: they become error records, like any other video that cannot be read.
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(raw)
            continue
        matches = sorted(path.rglob(glob)) if glob else sorted(path.rglob("*"))
        videos = [
            str(p)
            for p in matches
            if p.is_file() and (glob or p.suffix.lower() in VIDEO_EXTENSIONS)
        ]
        if not videos:
            log.warning(
                "%s: no video files found (%s)", raw, f"glob {glob!r}" if glob else "by extension"
            )
        found.extend(videos)
    return list(dict.fromkeys(found))  # each file once, in order


@dataclass(frozen=True)
class Query:
    """One question: an id, its sentences (a span), and optionally the one video it is about."""

    id: str
    sentences: tuple[str, ...]
    video: str | None = None  # None: ask every video

    def applies_to(self, video: str) -> bool:
        """Whether this query is asked of `video`."""
        return self.video is None or os.path.normpath(self.video) == os.path.normpath(video)


def text_query(sentences: Sequence[str]) -> Query:
    """The query of `--text` options: one span, id "q0"."""
    return Query("q0", tuple(clean_query(list(sentences))))


def read_queries(source: str, stdin: TextIO | None = None) -> list[Query]:
    """Queries from a text file (one a line, ids q0, q1...) or JSON lines; "-" reads stdin."""
    if source == "-":
        raw = (stdin or sys.stdin).read()
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --queries {source}: {exc}") from None
    lines = [(n, line.strip()) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if not lines:
        raise UsageError(f"--queries {source} holds no queries")
    if lines[0][1].startswith("{"):
        queries = [_json_query(source, n, line, i) for i, (n, line) in enumerate(lines)]
    else:
        queries = [Query(f"q{i}", tuple(clean_query([line]))) for i, (_, line) in enumerate(lines)]
    _check_unique(source, queries)
    return queries


def _json_query(source: str, line_no: int, line: str, position: int) -> Query:
    """One JSON-lines query: {"id"?, "query": str | [str], "video"?}."""
    where = f"--queries {source} line {line_no}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(item, dict) or "query" not in item:
        raise UsageError(f'{where}: expected an object with "query" (and optional "id", "video")')
    sentences = [item["query"]] if isinstance(item["query"], str) else item["query"]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise UsageError(f'{where}: "query" must be a string or a list of strings')
    try:
        cleaned = tuple(clean_query(sentences))
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    video = item.get("video")
    return Query(
        str(item.get("id", f"q{position}")), cleaned, str(video) if video is not None else None
    )


def _check_unique(source: str, queries: list[Query]) -> None:
    """Refuse two queries with one id (for the same video): their answers could not be told apart."""
    seen: set[tuple[str, str | None]] = set()
    for q in queries:
        if (q.id, q.video) in seen:
            raise UsageError(f"--queries {source}: id {q.id!r} appears twice; ids must be unique")
        seen.add((q.id, q.video))


def job_videos(
    paths: Sequence[str], queries: Sequence[Query], glob: str | None = None
) -> list[str]:
    """The videos of PATHs, plus those named by queries that are not among them."""
    videos = find_videos(paths, glob)
    known = {os.path.normpath(v) for v in videos}
    for q in queries:
        if q.video is not None and os.path.normpath(q.video) not in known:
            known.add(os.path.normpath(q.video))
            videos.append(q.video)
    return videos
