"""`clipground eval`: grounding accuracy on annotated videos."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from clipground.cli._common import command
from clipground.cli.options import (
    GROUND,
    MODEL,
    Checkpoint,
    Decoder,
    Device,
    Fps,
    MaxFraction,
    MaxLen,
    Method,
    MinLen,
    Model,
    Objective,
    Precision,
    Pretrained,
    Quiet,
    Refine,
    SpanMode,
    Verbose,
    model_spec,
)


def eval_command(
    annotations: Annotated[
        Path, typer.Argument(help="Charades-STA lines or JSON lines.", show_default=False)
    ],
    videos: Annotated[Path, typer.Option(help="Folder holding the annotated videos.")] = Path("."),
    details: Annotated[bool, typer.Option(help="Add every query's result to the report.")] = False,
    fps: Fps = GROUND.fps,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = GROUND.max_fraction,
    objective: Objective = GROUND.objective,
    method: Method = GROUND.method,
    span_mode: SpanMode = GROUND.span_mode,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    refine: Refine = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Measure grounding accuracy (R@1 at IoU 0.3/0.5/0.7, R@5 at IoU 0.5, mIoU) on annotations."""
    with command(quiet, verbose):
        from clipground import api, evaluate

        options = api.GroundOptions(
            fps=fps,
            min_len_s=min_len,
            max_len_s=max_len,
            max_fraction=max_fraction,
            objective=objective,
            method=method,
            span_mode=span_mode,
            decoder=decoder,
            refine=refine,
        )
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        result = api.run_eval(
            evaluate.read_annotations(annotations), videos, options, spec, details
        )
        typer.echo(json.dumps(result, indent=2))
