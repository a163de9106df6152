"""`clipground match`: where in one video the text happens; with --plot and --export."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from clipground.cli._common import check_format, command, emit, progress, show_progress
from clipground.cli.extras import check_extras, export_clips
from clipground.cli.options import (
    GROUND,
    MODEL,
    BatchSize,
    CacheDir,
    Checkpoint,
    Decoder,
    DecodeWorkers,
    Device,
    Export,
    Fps,
    MaxFraction,
    MaxLen,
    Method,
    MinLen,
    Model,
    ModelStreams,
    NmsIou,
    NoCache,
    Objective,
    Padding,
    Plot,
    Precision,
    Pretrained,
    Quiet,
    Reencode,
    Refine,
    RefineFps,
    Server,
    SpanMode,
    Texts,
    Verbose,
    model_spec,
)

if TYPE_CHECKING:
    from clipground.api import MatchRequest
    from clipground.types import Grounding


def match(
    ctx: typer.Context,
    video: Annotated[str, typer.Argument(help="Video file to search.", show_default=False)],
    text: Texts = None,
    transcript: Annotated[
        Optional[Path],
        typer.Option(help="Transcript file (text: one sentence a line; .srt; .vtt)."),
    ] = None,
    span: Annotated[
        Optional[str], typer.Option(help="Sentences I:J of --transcript (0-based, inclusive).")
    ] = None,
    fps: Fps = GROUND.fps,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = GROUND.max_fraction,
    top_k: Annotated[int, typer.Option(help="Candidate windows reported.")] = GROUND.top_k,
    nms_iou: NmsIou = GROUND.nms_iou,
    objective: Objective = GROUND.objective,
    method: Method = GROUND.method,
    span_mode: SpanMode = GROUND.span_mode,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    refine: Refine = None,
    refine_fps: RefineFps = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, jsonl or table.")] = "json",
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
    """Find the window of VIDEO that best matches the text."""
    with command(quiet, verbose):
        if server:
            from clipground.cli import remote

            return remote.match(ctx, server)
        from clipground import api

        request = api.MatchRequest(
            video=video,
            text=tuple(text or ()),
            transcript=str(transcript) if transcript else None,
            span=span,
            options=api.GroundOptions(
                fps=fps,
                min_len_s=min_len,
                max_len_s=max_len,
                max_fraction=max_fraction,
                objective=objective,
                method=method,
                span_mode=span_mode,
                top_k=top_k,
                nms_iou=nms_iou,
                decoder=decoder,
                batch_size=batch_size,
                refine=refine,
                refine_fps=refine_fps,
                decode_workers=decode_workers,
                model_streams=model_streams,
            ),
            model=model_spec(model, pretrained, checkpoint, device, precision),
        )
        check_format(fmt)
        with progress(show_progress(quiet), "embedding frames") as update:
            from clipground.cache import EmbeddingCache

            cache = None if no_cache else EmbeddingCache(cache_dir)
            if plot is None and export is None:
                result, extra = api.match(request, progress=update, cache=cache), {}
            else:
                result, extra = match_with_extras(
                    request, update, plot, export, padding, reencode, cache
                )
        emit(result, fmt, extra)


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

    check_extras(plot, padding)
    if plot is None:
        result = api.match(request, progress=progress, cache=cache)
    else:
        result = _match_and_plot(request, progress, plot, cache)
    extra: dict[str, Any] = {"plot": str(plot)} if plot is not None else {}
    clips = export_clips(request.video, [result.best], export, padding, reencode)
    if clips:
        extra["clip"] = str(clips[0])
    return result, extra


def _match_and_plot(request: MatchRequest, progress: Any, plot: Path, cache: Any) -> Grounding:
    """api.match, keeping the embedding to draw the curve from."""
    from clipground import api, pipeline, search
    from clipground.plot import plot_grounding

    p = api.prepare(request, progress=progress, cache=cache)
    result = pipeline.ground_embedded(p.embedded, p.sentences, p.query_embeddings, p.encoder, request.options)
    frames = p.embedded.embeddings
    curve = search.similarity(frames, p.query_embeddings.mean(axis=0))  # what span mode mean reads
    per_sentence = [search.similarity(frames, row) for row in p.query_embeddings]
    plot_grounding(plot, p.embedded.times_s, curve, result, per_sentence if len(p.query_embeddings) > 1 else [])
    return result
