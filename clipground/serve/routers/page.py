"""The page: / is the static index.html; its scripts and styles are under /static."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["page"])


@router.get("/", response_class=FileResponse, include_in_schema=False)
def index() -> FileResponse:
    """The single page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")
