"""`clipground align`: a transcript aligned to a video in order; and match's --plot/--export."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipground.cli import _command, _progress, _show_progress
from clipground.cli_options import (
    DEFAULT_MODEL, DEFAULT_PRETRAINED, BatchSize, CacheDir, Checkpoint, Decoder, Device, Export, Fps, Model,
    NoCache, Padding, Plot, Precision, Pretrained, Quiet, Reencode, Verbose, model_spec,
)

if TYPE_CHECKING:
    from clipground.pipeline import Alignment
    from clipground.api import MatchRequest
    from clipground.types import Grounding


def align(
    video: Annotated[
        str, typer.Argument(help="Video file to align the transcript to.", show_default=False)
    ],
    transcript: Annotated[
        Path,
        typer.Option(
            help="Transcript (text: one sentence a line; .srt; .vtt), in order.", show_default=False
        ),
    ],
    spans: Annotated[
        str | None,
        typer.Option(help="Group sentences first: I:J,K,... ordered (0-based, inclusive)."),
    ] = None,
    fps: Fps = 2.0,
    min_len: Annotated[
        float | None, typer.Option(help="Shortest segment per sentence, seconds.")
    ] = None,
    max_len: Annotated[
        float | None, typer.Option(help="Longest segment per sentence, seconds.")
    ] = None,
    gaps: Annotated[
        bool, typer.Option("--gaps/--no-gaps", help="Let frames belong to no sentence.")
    ] = True,
    gap_penalty: Annotated[float, typer.Option(help="Cost per gap sample (z-score units).")] = 0.0,
    threshold: Annotated[
        float, typer.Option(help="With gaps: a frame joins a segment above this z-score.")
    ] = 0.5,
    normalise: Annotated[str, typer.Option(help="Per-sentence scores: zscore or raw.")] = "zscore",
    model: Model = DEFAULT_MODEL,
    pretrained: Pretrained = DEFAULT_PRETRAINED,
    checkpoint: Checkpoint = None,
    device: Device = "auto",
    precision: Precision = "auto",
    decoder: Decoder = "pyav",
    batch_size: BatchSize = 32,
    plot: Plot = None,
    export: Export = None,
    padding: Padding = 0.0,
    reencode: Reencode = False,
    no_cache: NoCache = False,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Align a transcript's sentences to VIDEO, in order: a JSON line each, then a summary."""
    with _command(quiet, verbose):
        from clipground import pipeline as ap
        from clipground.cache import EmbeddingCache
        from clipground.model import load_encoder
        from clipground.text import read_transcript
        from clipground.video import probe

        options = ap.AlignOptions(
            fps=fps,
            min_len_s=min_len,
            max_len_s=max_len,
            allow_gaps=gaps,
            gap_penalty=gap_penalty,
            threshold=threshold,
            normalisation=normalise,
            decoder=decoder,
            batch_size=batch_size,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        chosen = ap.spans_from_cues(read_transcript(transcript), spans)
        _check_extras(plot, padding)
        probe(video)  # a bad video fails before the (slow) model load
        with _progress(_show_progress(quiet), "embedding frames") as progress:
            cache = None if no_cache else EmbeddingCache(cache_dir)
            encoder = load_encoder(spec)
            result, embedded, text = ap.align_video(
                video, chosen, encoder, options, progress, cache
            )
        if plot is not None:
            _plot_alignment(plot, result, embedded, text)
        clips = _export(video, [s.moment for s in result.spans], export, padding, reencode)
        write_alignment(result, clips, plot)


def register(app: typer.Typer) -> None:
    """Add the `align` command to the clipground app."""
    app.command("align")(align)


# ---------------------------------------------------------------- output


def alignment_records(
    alignment: Alignment, clips: list[Path] | None = None
) -> list[dict[str, Any]]:
    """One record per aligned span, in order, then {"summary": {...}}."""
    from clipground.numeric import temporal_iou
    from clipground.output import moment_record

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
        "sample_fps": a.sample_fps,
        "num_sampled": a.num_sampled,
    }
    if ious and len(ious) == len(a.spans):
        summary["mean_iou_vs_cues"] = round(sum(ious) / len(ious), 6)
    return summary


def write_alignment(alignment: Alignment, clips: list[Path] | None, plot: Path | None) -> None:
    """Print the alignment to stdout, one JSON object per line."""
    from clipground.output import write_record

    records = alignment_records(alignment, clips)
    if plot is not None:
        records[-1]["summary"]["plot"] = str(plot)
    for record in records:
        write_record(record, "jsonl", sys.stdout)


# ---------------------------------------------------------------- plot and export


def _check_extras(plot: Path | None, padding: float) -> None:
    """Refuse a bad --plot or --padding before the slow part."""
    from clipground.errors import UsageError

    if plot is not None:
        from clipground.plot import check_target

        check_target(plot)
    if not padding >= 0:
        raise UsageError(f"--padding must be seconds >= 0, got {padding}")


def _plot_alignment(path: Path, alignment: Alignment, embedded: Any, text: Any) -> None:
    from clipground.pipeline import similarity_rows
    from clipground.plot import plot_alignment

    plot_alignment(
        path,
        embedded.times_s,
        similarity_rows(embedded, text),
        [s.span.text for s in alignment.spans],
        [(s.moment.start_s, s.moment.end_s) for s in alignment.spans],
        alignment.duration_s,
        f"align: {Path(alignment.video).name}",
    )


def _export(
    video: str, moments: list[Any], out_dir: Path | None, padding: float, reencode: bool
) -> list[Path] | None:
    if out_dir is None:
        return None
    from clipground.export import export_moments

    return export_moments(video, moments, out_dir, padding_s=padding, reencode=reencode)


def match_with_extras(
    request: MatchRequest,
    progress: Any,
    plot: Path | None,
    export: Path | None,
    padding: float,
    reencode: bool,
    cache: Any = None,
) -> tuple[Grounding, dict[str, Any]]:
    """`match` with --plot (the query's curve, same embedding) and --export (the best window)."""
    from clipground import api

    _check_extras(plot, padding)
    if plot is None:
        result = api.match(request, progress=progress, cache=cache)
    else:
        result = _match_and_plot(request, progress, plot, cache)
    extra: dict[str, Any] = {"plot": str(plot)} if plot is not None else {}
    clips = _export(request.video, [result.best], export, padding, reencode)
    if clips:
        extra["clip"] = str(clips[0])
    return result, extra


def _match_and_plot(request: MatchRequest, progress: Any, plot: Path, cache: Any) -> Grounding:
    """api.match, keeping the embedding to draw the curve from."""
    from clipground import api, pipeline, search
    from clipground.plot import plot_grounding

    p = api.prepare(request, progress=progress, cache=cache)
    result = pipeline.ground_embedded(p.embedded, p.sentences, p.text, p.encoder, request.options)
    frames = p.embedded.embeddings
    curve = search.similarity(frames, p.text.mean(axis=0))  # what span mode mean reads
    per_sentence = [search.similarity(frames, row) for row in p.text]
    plot_grounding(plot, p.embedded.times_s, curve, result, per_sentence if len(p.text) > 1 else [])
    return result
