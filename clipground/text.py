"""Queries and transcripts: read sentences, pick spans, split text that overflows the model context."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from clipground.errors import UsageError

_TIMING = re.compile(
    r"(?P<a>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<b>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Cue:
    """One transcript sentence, with the subtitle timing when the file had one."""

    text: str
    start_s: float | None = None
    end_s: float | None = None


def as_sentences(query: str | Sequence[str]) -> list[str]:
    """A query's sentences: a string is one sentence, never a sequence of one-letter ones."""
    return [query] if isinstance(query, str) else list(query)


def clean_query(sentences: str | Sequence[str]) -> list[str]:
    """Strip sentences (a string is one); refuse an empty query or an empty/whitespace sentence."""
    cleaned = [" ".join(s.split()) for s in as_sentences(sentences)]
    if not cleaned:
        raise UsageError("no query text: pass --text \"...\" (repeatable) or --transcript FILE")
    for i, s in enumerate(cleaned):
        if not s:
            raise UsageError(f"query sentence {i} is empty or whitespace: give it some words")
    return cleaned


def parse_span(span: str, count: int) -> tuple[int, int]:
    """Parse "I:J" (0-based, inclusive) or "I" against a transcript of `count` sentences."""
    parts = span.split(":")
    try:
        if len(parts) == 1:
            i = j = int(parts[0])
        elif len(parts) == 2:
            i = int(parts[0]) if parts[0].strip() else 0
            j = int(parts[1]) if parts[1].strip() else count - 1
        else:
            raise ValueError
    except ValueError:
        raise UsageError(f"bad --span {span!r}: use I:J (0-based, inclusive), e.g. 3:5") from None
    if not 0 <= i <= j < count:
        raise UsageError(
            f"--span {span!r} is outside the transcript's sentences 0..{count - 1} (or I > J)"
        )
    return i, j


def read_transcript(path: str | Path) -> list[Cue]:
    """Read plain text (one sentence per line), SRT or WebVTT into cues."""
    return parse_transcript(transcript_text(path), str(path))


def transcript_text(path: str | Path) -> str:
    """A transcript file's text; a `UsageError` that names the file when it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"transcript {path} does not exist: check the path") from None
    except IsADirectoryError:
        raise UsageError(f"transcript {path} is a directory: pass a text, .srt or .vtt file") from None
    except PermissionError:
        raise UsageError(f"transcript {path}: permission denied; make it readable (chmod +r)") from None
    except (UnicodeDecodeError, OSError) as exc:
        raise UsageError(f"cannot read transcript {path}: {exc}; it must be UTF-8 text") from None


def parse_transcript(raw: str, source: str) -> list[Cue]:
    """Plain text (one sentence per line), SRT or WebVTT into cues; `source` names it in errors."""
    subtitles = _TIMING.search(raw) or raw.lstrip().startswith("WEBVTT")  # even a cue-less VTT
    cues = _parse_subtitles(raw) if subtitles else _parse_lines(raw)
    if not cues:
        raise UsageError(f"transcript {source} holds no sentences")
    return cues


def query_sentences(
    text: str | Sequence[str], transcript: str | None, span: str | None
) -> list[str]:
    """A query's sentences: `text`, or sentences `span` ("I:J"; None = all) of a `transcript` file."""
    if text and transcript:
        raise UsageError("give either --text or --transcript, not both")
    if span is not None and not transcript:
        raise UsageError("--span selects sentences of a --transcript: pass --transcript FILE")
    if not transcript:
        return clean_query(text)
    cues = read_transcript(transcript)
    i, j = parse_span(span, len(cues)) if span is not None else (0, len(cues) - 1)
    return clean_query([c.text for c in cues[i : j + 1]])


def _parse_lines(raw: str) -> list[Cue]:
    return [Cue(" ".join(line.split())) for line in raw.splitlines() if line.strip()]


def _parse_subtitles(raw: str) -> list[Cue]:
    """SRT and WebVTT: a block is an optional id, a timing line, then text lines."""
    cues = []
    for block in re.split(r"\n\s*\n", raw.replace("\r\n", "\n")):
        lines = [ln for ln in block.strip().split("\n") if ln.strip()]
        timing = next((k for k, ln in enumerate(lines) if _TIMING.search(ln)), None)
        if timing is None:
            continue  # WEBVTT header, NOTE or STYLE blocks
        m = _TIMING.search(lines[timing])
        assert m is not None
        text = " ".join(_TAG.sub("", " ".join(lines[timing + 1 :])).split())
        if text:
            cues.append(Cue(text, _seconds(m.group("a")), _seconds(m.group("b"))))
    return cues


def _seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.replace(",", ".").split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def chunk_text(text: str, limit: int, count_tokens: Callable[[str], int]) -> list[str]:
    """Split `text` into word runs of at most `limit` tokens each (one piece when it fits)."""
    if count_tokens(text) <= limit:
        return [text]
    chunks: list[str] = []
    current = ""
    for word in text.split():
        for piece in _split_word(word, limit, count_tokens):
            trial = f"{current} {piece}".strip()
            if current and count_tokens(trial) > limit:
                chunks.append(current)
                trial = piece
            current = trial
    if current:
        chunks.append(current)
    return chunks


def _split_word(word: str, limit: int, count_tokens: Callable[[str], int]) -> list[str]:
    """A single word longer than the context (e.g. a long URL) is cut into fitting pieces."""
    pieces = []
    while count_tokens(word) > limit:
        cut = len(word) // 2
        while cut > 1 and count_tokens(word[:cut]) > limit:
            cut //= 2
        pieces.append(word[:cut])
        word = word[cut:]
    return pieces + [word]
