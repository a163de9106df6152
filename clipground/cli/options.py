"""Option declarations shared by the commands, so each flag is spelled and explained once.

Defaults are read from `GroundOptions()` and `ModelSpec()`, never restated per command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from clipground.options import AlignOptions, GroundOptions, ModelSpec

Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress or warnings on stderr.")]
Verbose = Annotated[
    bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks on stderr.")
]
Texts = Annotated[
    Optional[list[str]],
    typer.Option("--text", "-t", help="Query sentence; repeat for a span of several sentences."),
]
Fps = Annotated[float, typer.Option(help="Frames per second sampled before embedding.")]
MinLen = Annotated[
    Optional[float], typer.Option(help="Shortest window, seconds (default: one sample).")
]
MaxLen = Annotated[Optional[float], typer.Option(help="Longest window (the cap), seconds.")]
MaxFraction = Annotated[
    float, typer.Option(help="Without --max-len, the cap as a fraction of the video (1 = no cap).")
]
Objective = Annotated[str, typer.Option(help="Window score: balanced, contrast or mean.")]
Method = Annotated[str, typer.Option(help="Search: auto, exact, multiscale or brute.")]
SpanMode = Annotated[str, typer.Option(help="Several sentences: ordered or mean.")]
NmsIou = Annotated[float, typer.Option(help="Temporal IoU that suppresses a lower candidate.")]
Model = Annotated[
    str, typer.Option(help="open_clip model name, demo, hf-hub:ID or local-dir:PATH.")
]
Pretrained = Annotated[
    str, typer.Option(help="open_clip pretrained tag; 'none' for random weights.")
]
Checkpoint = Annotated[
    Optional[str], typer.Option(help="Local weights file or open_clip-style folder.")
]
Device = Annotated[str, typer.Option(help="auto (cuda, mps, cpu), cpu, cuda or mps.")]
Precision = Annotated[
    str,
    typer.Option(
        help="auto (fp16 on CUDA, bf16 on a CPU with bf16 instructions, else fp32), fp32, bf16 or fp16."
    ),
]
Decoder = Annotated[str, typer.Option(help="Video decoder: pyav or decord.")]
BatchSize = Annotated[int, typer.Option(help="Frames per model forward pass.")]
DecodeWorkers = Annotated[
    Optional[int],
    typer.Option(help="Stretches of a video decoded at once (default: one per core, up to 8)."),
]
ModelStreams = Annotated[
    Optional[int],
    typer.Option(
        help="Chunks the model embeds at once, each with its share of torch's threads "
        "(default: 2 on a CPU with 2+ cores, else 1)."
    ),
]
Refine = Annotated[
    Optional[bool],
    typer.Option(
        "--refine/--no-refine",
        help="Dense second pass near the boundaries (default: videos >= 60 s).",
    ),
]
RefineFps = Annotated[
    Optional[float], typer.Option(help="Rate of the second pass (default: every native frame).")
]
NoCache = Annotated[
    bool, typer.Option("--no-cache", help="Neither read nor write the embedding cache.")
]
CacheDir = Annotated[
    Optional[str],
    typer.Option(help="Cache folder (default: $CLIPGROUND_CACHE_DIR or the platform cache dir)."),
]
Plot = Annotated[
    Optional[Path], typer.Option(help="Draw the similarity curves and windows to FILE.png.")
]
Export = Annotated[Optional[Path], typer.Option(help="Cut the found segments into clips in DIR.")]
Server = Annotated[
    str | None,
    typer.Option(
        envvar="CLIPGROUND_SERVER",
        show_envvar=False,
        help="Ask the `clipground serve` at this URL (its model, warm), print its answer "
        "(default: $CLIPGROUND_SERVER).",
    ),
]
Padding = Annotated[float, typer.Option(help="--export: seconds added before and after.")]
Reencode = Annotated[bool, typer.Option(help="--export: re-encode, exact to the frame.")]

Paths = Annotated[
    list[str],
    typer.Argument(help="Video files or folders (searched recursively).", show_default=False),
]
Glob = Annotated[
    str | None,
    typer.Option(help="Pick files in folders by this glob (e.g. '*.mp4') instead of by extension."),
]
Workers = Annotated[
    int,
    typer.Option(
        help="Videos decoded and embedded in parallel (worker processes); with --engine ray, "
        "the model actors (e.g. one per GPU)."
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        help="Seconds one video may take before its worker is killed (--engine local); the refine "
        "pass (batch, search) gets as long again, then the first pass's answer stands."
    ),
]
EngineName = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Where videos are embedded: local (worker processes here) or ray (a Ray cluster: "
        "pip install 'clipground[ray]').",
    ),
]
Address = Annotated[
    str | None,
    typer.Option(
        help="--engine ray: the cluster to join ('auto': the one started on this machine); "
        "default: a running local cluster, else a Ray instance started for the job."
    ),
]
GpusPerWorker = Annotated[
    float,
    typer.Option(help="--engine ray: GPUs each model actor holds (0: the model runs on CPU)."),
]
FailFast = Annotated[bool, typer.Option("--fail-fast", help="Stop at the first video that fails.")]

GROUND = GroundOptions()  # the defaults of every window and sampling option
ALIGN = AlignOptions()  # the defaults of the alignment options
MODEL = ModelSpec()  # the defaults of every model option


def model_spec(
    model: str, pretrained: str, checkpoint: str | None, device: str, precision: str = "auto"
) -> ModelSpec:
    """The model options as a ModelSpec ('none' means random weights)."""
    tag = None if pretrained.lower() == "none" else pretrained
    return ModelSpec(
        name=model, pretrained=tag, checkpoint=checkpoint, device=device, precision=precision
    )
