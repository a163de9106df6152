"""Results -> JSON, JSON lines, or a rich table for people. No computation here."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, TextIO

from clipground.types import Grounding, Moment

FORMATS = ("json", "jsonl", "table")


def moment_record(moment: Moment) -> dict[str, Any]:
    """A window as a JSON-ready dict (frames inclusive, seconds rounded to microseconds)."""
    record = asdict(moment)
    for key in ("start_s", "end_s"):
        record[key] = round(record[key], 6)
    record["score"] = round(record["score"], 6)
    return record


def grounding_record(g: Grounding) -> dict[str, Any]:
    """The documented, stable JSON object for one grounding."""
    record: dict[str, Any] = {"video": g.video, "query": list(g.query)}
    record.update(moment_record(g.best))
    record.update(
        objective=g.objective,
        span_mode=g.span_mode,
        native_fps=round(g.native_fps, 6),
        num_frames=g.num_frames,
        duration_s=round(g.duration_s, 6),
        sample_fps=g.sample_fps,
        num_sampled=g.num_sampled,
        frames_embedded=g.frames_embedded,
        model=g.model,
        decoder=g.decoder,
        candidates=[moment_record(m) for m in g.candidates],
    )
    if g.sentences:
        record["sentences"] = [
            {"text": text, **moment_record(m)} for text, m in zip(g.query, g.sentences)
        ]
    return record


def write_record(record: dict[str, Any], fmt: str, out: TextIO) -> None:
    """Write one record: pretty JSON for "json", one line for "jsonl"."""
    if fmt == "json":
        out.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def print_table(g: Grounding, console: Any) -> None:
    """A rich table of the candidates, best first, for reading in a terminal."""
    from rich.table import Table

    table = Table(title=f"{g.video}: {' '.join(g.query)}", title_justify="left")
    for name in ("rank", "start", "end", "frames", "score"):
        table.add_column(name, justify="right")
    for rank, m in enumerate(g.candidates, 1):
        table.add_row(
            str(rank), _clock(m.start_s), _clock(m.end_s), f"{m.start_frame}-{m.end_frame}", f"{m.score:.4f}"
        )
    console.print(table)
    console.print(
        f"[dim]{g.num_sampled} of {g.num_frames} frames sampled at {g.sample_fps:g}/s, "
        f"objective {g.objective}, model {g.model}[/dim]"
    )


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:06.3f}" if hours else f"{minutes}:{secs:06.3f}"
