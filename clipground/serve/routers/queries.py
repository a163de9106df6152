"""The questions: /api/search, /api/match, /api/align and /api/curve, answered with the records the
CLI prints (`search`, `match`, `align`) and the curves `--plot` draws."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from clipground.options import AlignOptions
from clipground.serve.deps import ServiceDep, VideoDep, check_embedding, ground_options, resolve
from clipground.serve.service import Curve
from clipground.text import clean_query

router = APIRouter(prefix="/api", tags=["questions"])

Texts = Annotated[
    list[str], Query(description="The query; repeat it for an ordered span of sentences.")
]
SEARCH_TOP_K = 10  # `clipground search --top-k`'s default


def window_options(
    svc: ServiceDep,
    min_len: Annotated[float | None, Query(description="Shortest window, seconds.")] = None,
    max_len: Annotated[float | None, Query(description="Longest window, seconds.")] = None,
    max_fraction: Annotated[float | None, Query(description="Cap without max_len.")] = None,
    nms_iou: Annotated[float | None, Query(description="IoU that suppresses a candidate.")] = None,
    objective: Annotated[str | None, Query(description="balanced, contrast or mean.")] = None,
    method: Annotated[str | None, Query(description="auto, exact, multiscale or brute.")] = None,
    span_mode: Annotated[str | None, Query(description="ordered or mean.")] = None,
    refine: Annotated[bool | None, Query(description="Dense second pass.")] = None,
    refine_fps: Annotated[float | None, Query(description="Rate of that pass.")] = None,
    model: Annotated[str | None, Query(description="Expected model identity.")] = None,
    fps: Annotated[float | None, Query(description="Expected sample rate.")] = None,
    decoder: Annotated[str | None, Query(description="Expected decoder.")] = None,
) -> dict[str, Any]:
    """The window options a request gives (None: the server's); model, fps and decoder are
    checked against the server's, not changed."""
    check_embedding(svc, model, fps, decoder)
    return {
        "min_len_s": min_len, "max_len_s": max_len, "max_fraction": max_fraction,
        "nms_iou": nms_iou, "objective": objective, "method": method, "span_mode": span_mode,
        "refine": refine, "refine_fps": refine_fps,
    }  # fmt: skip


WindowOptions = Annotated[dict[str, Any], Depends(window_options)]


@router.get("/search")
def search(
    svc: ServiceDep,
    options: WindowOptions,
    response: Response,
    text: Texts = [],  # noqa: B006 (FastAPI copies it)
    top_k: Annotated[int, Query(description="Windows reported, across all videos.")] = SEARCH_TOP_K,
    path: Annotated[
        list[str],
        Query(description="Search only the videos under these paths (and wait for them)."),
    ] = [],  # noqa: B006
    exact: Annotated[
        bool, Query(description="Search every video, not the vector index's shortlist.")
    ] = False,
) -> list[dict[str, Any]]:
    """The best windows across the library's videos embedded so far (or across `path`s, embedded
    first), best first: the records of `clipground search`."""
    sentences = clean_query(text)
    videos = svc.library.under(path) if path else None
    answer = svc.search(sentences, ground_options(svc, top_k, options), videos, exact=exact)
    if answer.warnings:
        response.headers["X-Clipground-Warnings"] = json.dumps(answer.warnings[:20])
    response.headers["X-Clipground-Failed"] = str(answer.failed)
    return answer.records


@router.get("/match")
def match(
    svc: ServiceDep,
    video: VideoDep,
    options: WindowOptions,
    text: Texts = [],  # noqa: B006
    top_k: Annotated[int | None, Query(description="Candidate windows reported.")] = None,
) -> dict[str, Any]:
    """Where the text happens in one video: the record of `clipground match` (the video is
    embedded first if the background has not reached it yet)."""
    sentences = clean_query(text)
    return svc.match(video, sentences, ground_options(svc, top_k, options))


class AlignBody(BaseModel):
    """A transcript to align to one video, with `clipground align`'s options."""

    model_config = ConfigDict(extra="forbid")

    video: str | None = Field(None, description="A video id from /api/videos.")
    path: str | None = Field(None, description="Or a video's path.")
    transcript: str = Field(description="Plain text (a sentence a line), SRT or WebVTT.")
    name: str = Field("(request)", description="The transcript's name in error messages.")
    spans: str | None = Field(None, description="Group sentences first: I:J,K,...")
    min_len: float | None = None
    max_len: float | None = None
    gaps: bool = AlignOptions.allow_gaps
    gap_penalty: float = AlignOptions.gap_penalty
    threshold: float = AlignOptions.threshold
    normalise: str = AlignOptions.normalisation
    model: str | None = Field(None, description="Expected model identity.")
    fps: float | None = Field(None, description="Expected sample rate.")
    decoder: str | None = Field(None, description="Expected decoder.")


@router.post("/align")
def align(svc: ServiceDep, body: AlignBody) -> list[dict[str, Any]]:
    """A transcript's sentences placed in order: the records of `clipground align`."""
    check_embedding(svc, body.model, body.fps, body.decoder)
    video = resolve(svc, body.video, body.path)
    options = AlignOptions(
        fps=svc.options.fps, min_len_s=body.min_len, max_len_s=body.max_len,
        allow_gaps=body.gaps, gap_penalty=body.gap_penalty, threshold=body.threshold,
        normalisation=body.normalise, decoder=svc.options.decoder,
        batch_size=svc.options.batch_size,
    )  # fmt: skip
    return svc.align(video, body.transcript, body.name, body.spans, options)


@router.get("/curve")
def curve(svc: ServiceDep, video: VideoDep, text: Texts = []) -> dict[str, Any]:  # noqa: B006
    """The similarity of each sample with the query (and with each sentence of a span): the
    curves under the player."""
    found: Curve = svc.curve(video, clean_query(text))
    return asdict(found)
