"""`clipground align`: a transcript's sentences aligned to a video, in order."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from clipground.cli._common import command, progress, show_progress
from clipground.cli.extras import check_extras, export_clips
from clipground.cli.options import (
    ALIGN,
    GROUND,
    MODEL,
    BatchSize,
    CacheDir,
    Checkpoint,
    Decoder,
    Device,
    Export,
    Fps,
    Model,
    NoCache,
    Padding,
    Plot,
    Precision,
    Pretrained,
    Quiet,
    Reencode,
    Server,
    Verbose,
    model_spec,
)

if TYPE_CHECKING:
    from clipground.pipeline import Alignment


def align(
    ctx: typer.Context,
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
    fps: Fps = GROUND.fps,
    min_len: Annotated[
        float | None, typer.Option(help="Shortest segment per sentence, seconds.")
    ] = None,
    max_len: Annotated[
        float | None, typer.Option(help="Longest segment per sentence, seconds.")
    ] = None,
    gaps: Annotated[
        bool, typer.Option("--gaps/--no-gaps", help="Let frames belong to no sentence.")
    ] = ALIGN.allow_gaps,
    gap_penalty: Annotated[
        float, typer.Option(help="Cost per gap sample (z-score units).")
    ] = ALIGN.gap_penalty,
    threshold: Annotated[
        float, typer.Option(help="With gaps: a frame joins a segment above this z-score.")
    ] = ALIGN.threshold,
    normalise: Annotated[
        str, typer.Option(help="Per-sentence scores: zscore or raw.")
    ] = ALIGN.normalisation,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    plot: Plot = None,
    export: Export = None,
    padding: Padding = 0.0,
    reencode: Reencode = False,
    no_cache: NoCache = False,
    cache_dir: CacheDir = None,
    server: Server = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Align a transcript's sentences to VIDEO, in order: a JSON line each, then a summary."""
    with command(quiet, verbose):
        if server:
            from clipground.cli import remote

            return remote.align(ctx, server)
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
        check_extras(plot, padding)
        probe(video)  # a bad video fails before the (slow) model load
        with progress(show_progress(quiet), "embedding frames") as update:
            cache = None if no_cache else EmbeddingCache(cache_dir)
            encoder = load_encoder(spec)
            result, embedded, text = ap.align_video(video, chosen, encoder, options, update, cache)
        if plot is not None:
            _plot_alignment(plot, result, embedded, text)
        clips = export_clips(video, [s.moment for s in result.spans], export, padding, reencode)
        write_alignment(result, clips, plot)


def write_alignment(alignment: Alignment, clips: list[Path] | None, plot: Path | None) -> None:
    """Print the alignment to stdout, one JSON object per line."""
    from clipground.output import alignment_records, write_record

    records = alignment_records(alignment, clips)
    if plot is not None:
        records[-1]["summary"]["plot"] = str(plot)
    for record in records:
        write_record(record, "jsonl", sys.stdout)


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
