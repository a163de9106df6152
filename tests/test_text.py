"""Queries, spans, transcripts and long-text chunking."""

from __future__ import annotations

import pytest

from clipground.errors import UsageError
from clipground.text import chunk_text, clean_query, parse_span, read_transcript


def words(text: str) -> int:
    """A stand-in token counter: one token a word plus start and end tokens."""
    return len(text.split()) + 2


def test_clean_query_normalises_whitespace() -> None:
    assert clean_query(["  a  red\tcircle "]) == ["a red circle"]


def test_clean_query_takes_a_string_as_one_sentence() -> None:
    assert clean_query("  a  red circle ") == ["a red circle"]
    with pytest.raises(UsageError):
        clean_query("   ")


@pytest.mark.parametrize("query", [[], [""], ["   "], ["ok", " \n "]])
def test_clean_query_refuses_empty(query: list[str]) -> None:
    with pytest.raises(UsageError):
        clean_query(query)


@pytest.mark.parametrize(
    ("span", "expected"), [("3:5", (3, 5)), ("0", (0, 0)), (":2", (0, 2)), ("4:", (4, 9)), ("2:2", (2, 2))]
)
def test_parse_span(span: str, expected: tuple[int, int]) -> None:
    assert parse_span(span, 10) == expected


@pytest.mark.parametrize("span", ["5:3", "10", "-1:2", "a:b", "1:2:3", "", "0:10"])
def test_parse_span_refuses_bad(span: str) -> None:
    with pytest.raises(UsageError):
        parse_span(span, 10)


def test_plain_transcript_skips_blank_lines(tmp_path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("He walks in.\n\n  He sits.  \n", encoding="utf-8")
    assert [c.text for c in read_transcript(path)] == ["He walks in.", "He sits."]


def test_srt_transcript_keeps_timing(tmp_path) -> None:
    path = tmp_path / "t.srt"
    path.write_text(
        "1\n00:00:01,000 --> 00:00:02,500\nHe walks\nin.\n\n2\n00:01:02,000 --> 00:01:03,000\n<i>He sits.</i>\n",
        encoding="utf-8",
    )
    cues = read_transcript(path)
    assert [(c.text, c.start_s, c.end_s) for c in cues] == [
        ("He walks in.", 1.0, 2.5),
        ("He sits.", 62.0, 63.0),
    ]


def test_vtt_transcript(tmp_path) -> None:
    path = tmp_path / "t.vtt"
    path.write_text("WEBVTT\n\nNOTE hi\n\n00:01.000 --> 00:02.000\nOne.\n\n00:03.000 --> 00:04.000\nTwo.\n")
    assert [(c.text, c.start_s) for c in read_transcript(path)] == [("One.", 1.0), ("Two.", 3.0)]


@pytest.mark.parametrize("content", [b"", b"\n \n", b"\xff\xfe\x00bad"])
def test_bad_transcripts(tmp_path, content: bytes) -> None:
    path = tmp_path / "t.txt"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="t.txt"):
        read_transcript(path)


def test_missing_transcript(tmp_path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_transcript(tmp_path / "nope.txt")


def test_short_text_is_one_chunk() -> None:
    assert chunk_text("a red circle", 16, words) == ["a red circle"]


def test_long_text_is_split_within_limit_and_keeps_every_word() -> None:
    text = " ".join(f"w{i}" for i in range(100))
    chunks = chunk_text(text, 16, words)
    assert len(chunks) == 8
    assert all(words(c) <= 16 for c in chunks)
    assert " ".join(chunks) == text


def test_overlong_single_word_is_cut() -> None:
    def chars(text: str) -> int:
        return len(text) + 2

    chunks = chunk_text("x" * 50, 12, chars)
    assert all(chars(c) <= 12 for c in chunks)
    assert "".join(chunks) == "x" * 50
