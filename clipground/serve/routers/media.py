"""/media/ID: the video (or its browser-playable preview) with HTTP range requests, so that a
player can seek: 206 with Content-Range for a range, 416 for one past the end."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from clipground.serve.deps import MediaDep, ServiceDep

router = APIRouter(tags=["media"])


@router.get("/media/{video_id}", response_class=FileResponse)
def media(video_id: str, svc: ServiceDep, files: MediaDep) -> FileResponse:
    """The video by id (ids only: no path is ever read from the URL)."""
    path, kind = files.playable(svc.library.get(video_id))
    return FileResponse(path, media_type=kind, headers={"Cache-Control": "no-cache"})
