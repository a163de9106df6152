"""The library: /api/videos, /api/jobs (background embedding), /api/refine-memo (the second pass's
frames kept), /api/frame (thumbnails) and /api/export (a moment cut into a clip)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from clipground.export import ClipWriters, Cut, cut_clip
from clipground.serve.deps import ServiceDep, VideoDep
from clipground.serve.memo import MemoStats
from clipground.video import frame_at, jpeg_bytes

router = APIRouter(prefix="/api", tags=["library"])


@dataclass(frozen=True)
class VideoItem:
    """One served video."""

    id: str
    path: str
    duration_s: float | None  # known once embedded
    embedded: bool


@dataclass(frozen=True)
class JobItem:
    """Where the background embedding of one video stands."""

    video: str  # its id
    state: str  # queued, embedding, done or failed
    frames_done: int
    frames_total: int | None
    error: str | None


@router.get("/videos")
def videos(svc: ServiceDep) -> list[VideoItem]:
    """The videos under the server's PATHS, with their ids."""
    items = []
    for v in svc.library.videos():
        embedded = svc.store.peek(v)
        duration = round(embedded.summary.duration_s, 6) if embedded else None
        items.append(VideoItem(v.id, v.path, duration, embedded is not None))
    return items


@router.get("/jobs")
def jobs(svc: ServiceDep) -> list[JobItem]:
    """The background embedding of each video: queued, embedding (frames so far), done or failed."""
    return [
        JobItem(
            j.video, j.state, j.frames_done, j.frames_total, j.error.message if j.error else None
        )
        for j in svc.store.jobs()
    ]


@router.get("/refine-memo")
def refine_memo(svc: ServiceDep) -> MemoStats:
    """What the server remembers of the second pass: per video, the native frames embedded,
    whether every one is (any question is then refined from memory) and the fill's state."""
    return svc.memo.stats()


@router.get("/frame", response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
def frame(
    video: VideoDep,
    t: Annotated[float, Query(description="Seconds after the first frame.")] = 0.0,
    width: Annotated[int, Query(description="Width in pixels (height keeps the aspect).")] = 160,
) -> Response:
    """The frame shown at `t`, as a JPEG (thumbnails for the result cards)."""
    picture = jpeg_bytes(frame_at(video.real, t, width))
    return Response(picture, media_type="image/jpeg", headers={"Cache-Control": "max-age=3600"})


@router.get("/export", response_class=FileResponse)
def export(
    video: VideoDep,
    start_s: Annotated[float, Query(description="Start of the moment, seconds.")],
    end_s: Annotated[float, Query(description="End of the moment, seconds.")],
    padding: Annotated[float, Query(description="Seconds added before and after.")] = 0.0,
    reencode: Annotated[bool, Query(description="Re-encode, exact to the frame.")] = False,
) -> FileResponse:
    """The moment cut into a clip file (as `--export` cuts it), as a download."""
    from clipground.errors import UsageError

    if not padding >= 0:
        raise UsageError(f"--padding must be seconds >= 0, got {padding}")
    folder = Path(tempfile.mkdtemp(prefix="clipground-export-"))
    try:
        suffix = ".mp4" if reencode else (video.real.suffix or ".mp4")
        name = f"{Path(video.path).stem}_{start_s:.2f}-{end_s:.2f}s{suffix}"
        cut = Cut(max(0.0, start_s - padding), end_s + padding, folder / name)
        clip = cut_clip(video.real, cut, reencode, ClipWriters())
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    cleanup = BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
    return FileResponse(clip, filename=clip.name, background=cleanup)
