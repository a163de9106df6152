"""Results -> JSON, JSON lines, or a rich table for people. No computation here."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:  # only annotations: writing a record imports no numpy (the --server client)
    from clipground.batch import Hit, PairAnswer
    from clipground.index import IndexReport
    from clipground.options import GroundOptions
    from clipground.pipeline import Alignment
    from clipground.types import EmbedOutcome, Grounding, ItemError, Moment

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
        declared_duration_s=_seconds(g.declared_duration_s),
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


def alignment_records(
    alignment: Alignment, clips: Sequence[Path] | None = None
) -> list[dict[str, Any]]:
    """One record per aligned span, in order, then {"summary": {...}}."""
    from clipground.numeric import temporal_iou  # numpy: not on the --server client's path

    records, ious = [], []
    for i, aligned in enumerate(alignment.spans):
        span = aligned.span
        record: dict[str, Any] = {"index": aligned.index, "text": span.text}
        record.update(moment_record(aligned.moment))
        record["sentences"] = [span.first, span.last]
        if span.cue_start_s is not None and span.cue_end_s is not None:
            record.update(
                cue_start_s=round(span.cue_start_s, 6), cue_end_s=round(span.cue_end_s, 6)
            )
            ious.append(
                temporal_iou(
                    (span.cue_start_s, span.cue_end_s),
                    (aligned.moment.start_s, aligned.moment.end_s),
                )
            )
        if clips:
            record["clip"] = str(clips[i])
        records.append(record)
    records.append({"summary": _summary(alignment, ious)})
    return records


def _summary(a: Alignment, ious: list[float]) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "video": a.video,
        "spans": len(a.spans),
        "total_score": round(a.total_score, 6),
        "normalisation": a.normalisation,
        "allow_gaps": a.allow_gaps,
        "model": a.model,
        "decoder": a.decoder,
        "native_fps": round(a.native_fps, 6),
        "num_frames": a.num_frames,
        "duration_s": round(a.duration_s, 6),
        "declared_duration_s": _seconds(a.declared_duration_s),
        "sample_fps": a.sample_fps,
        "num_sampled": a.num_sampled,
    }
    if ious and len(ious) == len(a.spans):
        summary["mean_iou_vs_cues"] = round(sum(ious) / len(ious), 6)
    return summary


def error_record(
    video: str, error: ItemError, query_id: str | None = None, query: Sequence[str] = ()
) -> dict[str, Any]:
    """The record of a failure: of a whole video, or with `query_id` of one (video, query) pair."""
    record: dict[str, Any] = {"video": video}
    if query_id is not None:
        record.update(id=query_id, query=list(query))
    record["error"] = {"type": error.type, "message": error.message}
    return record


def embed_record(outcome: EmbedOutcome) -> dict[str, Any]:
    """The `embed` command's line for one video."""
    if outcome.error is not None:
        return error_record(outcome.video, outcome.error)
    assert outcome.embedded is not None  # an outcome holds one or the other
    return {
        "video": outcome.video,
        "frames": len(outcome.embedded.indices),
        "cached": outcome.cached,
        "seconds": round(outcome.seconds, 3),
    }


def answer_record(answer: PairAnswer) -> dict[str, Any]:
    """The `batch` command's line for one (video, query) pair, or for a video that failed whole."""
    query, error = answer.query, answer.error
    if error is not None:
        if query is None:
            return error_record(answer.video, error)
        return error_record(answer.video, error, query.id, query.sentences)
    assert answer.grounding is not None and query is not None  # an answer holds one or the other
    return {"id": query.id, **grounding_record(answer.grounding)}


def hit_record(
    rank: int, hit: Hit, sentences: Sequence[str], options: GroundOptions, model: str
) -> dict[str, Any]:
    """The `search` command's line for one window of the ranking across the library."""
    return {
        "rank": rank,
        "video": hit.video,
        "query": list(sentences),
        **moment_record(hit.moment),
        "objective": options.objective,
        "model": model,
    }


def index_record(report: IndexReport) -> dict[str, Any]:
    """The summary line of `index build` and `index update`: the index, then what changed."""
    return {
        **asdict(report.info),
        "added": report.added,
        "removed": report.removed,
        "kept": report.kept,
        "failed": report.failed,
        "trained": report.trained,
        "seconds": round(report.seconds, 3),
    }


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
        score = round(m.score, 6)  # as the JSON has it: a table drawn from JSON reads the same
        table.add_row(
            str(rank), _clock(m.start_s), _clock(m.end_s), f"{m.start_frame}-{m.end_frame}", f"{score:.4f}"
        )
    console.print(table)
    console.print(
        f"[dim]{g.num_sampled} of {g.num_frames} frames sampled at {g.sample_fps:g}/s, "
        f"objective {g.objective}, model {g.model}[/dim]"
    )


def _seconds(value: float | None) -> float | None:
    """Seconds rounded to microseconds, None (JSON null) kept."""
    return None if value is None else round(value, 6)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60.0)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{secs:06.3f}" if hours else f"{minutes}:{secs:06.3f}"
