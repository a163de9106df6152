"""What the routes take from a request: the service, the video it names, and its options (the
server's own, with the query's values in their place)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from clipground.errors import UsageError
from clipground.options import GroundOptions
from clipground.serve.library import Video
from clipground.serve.media import MediaFiles
from clipground.serve.service import Service


def service(request: Request) -> Service:
    """The app's service (made when the server started)."""
    return request.app.state.service


def media(request: Request) -> MediaFiles:
    """The app's media files (videos, or their previews)."""
    return request.app.state.media


ServiceDep = Annotated[Service, Depends(service)]
MediaDep = Annotated[MediaFiles, Depends(media)]


def target(
    svc: ServiceDep,
    video: Annotated[str | None, Query(description="A video id from /api/videos.")] = None,
    path: Annotated[
        str | None, Query(description="Or a video's path, absolute (or from the server's folder).")
    ] = None,
) -> Video:
    """The video a request names, by id or by path (strictly inside PATHS)."""
    return resolve(svc, video, path)


def resolve(svc: Service, video: str | None, path: str | None) -> Video:
    """The video named by id or path; a usage error for both or neither."""
    if (video is None) == (path is None):
        raise UsageError("name the video: give video=ID (see /api/videos) or path=PATH")
    return svc.library.get(video) if video is not None else svc.library.find(path or "")


VideoDep = Annotated[Video, Depends(target)]


def check_embedding(
    svc: Service, model: str | None, fps: float | None, decoder: str | None
) -> None:
    """Refuse a request that expects another model, sample rate or decoder than the server's:
    its answers would not be the ones the request expects."""
    mine = {"model": svc.encoder.identity, "fps": svc.options.fps, "decoder": svc.options.decoder}
    asked = {"model": model, "fps": fps, "decoder": decoder}
    for name, value in asked.items():
        if value is not None and value != mine[name]:
            raise UsageError(
                f"this server embeds with --{name} {mine[name]}, not {value}: "
                f"ask without --{name}, or run a server with --{name} {value}"
            )


def ground_options(svc: Service, top_k: int | None, given: dict[str, Any]) -> GroundOptions:
    """The server's options with the request's values (None: not given) in their place."""
    chosen = {k: v for k, v in given.items() if v is not None}
    return replace(svc.options, top_k=top_k if top_k is not None else svc.options.top_k, **chosen)
