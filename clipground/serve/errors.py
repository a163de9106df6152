"""Errors as HTTP answers: a status and one line of JSON, `{"error": {"type", "message"}}`.

The type is the name of the clipground error class (see clipground.errors), so a client maps it
back to the exit code the standalone command would give.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from clipground import errors
from clipground.errors import (
    CacheError,
    ClipgroundError,
    ModelError,
    NotServedError,
    UsageError,
    VideoError,
)

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[ClipgroundError], int], ...] = (  # first match wins
    (NotServedError, 404),
    (UsageError, 400),
    (VideoError, 422),  # the video is there but cannot be decoded
    (ModelError, 503),
    (CacheError, 500),
    (ClipgroundError, 500),
)
HTTP_TYPES = {401: "Unauthorized", 404: "NotServedError", 405: "UsageError", 413: "UsageError"}


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """The JSON error answer (the message on one line)."""
    body = {"error": {"type": kind, "message": " ".join(str(message).split())}}
    return JSONResponse(body, status_code=status)


def install(app: FastAPI) -> None:
    """Answer every error with `error_response`: ours, FastAPI's validation, HTTP and bugs."""
    app.add_exception_handler(ClipgroundError, _clipground)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)


async def _clipground(request: Request, exc: Exception) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    return error_response(status, public_type(exc), str(exc))


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "bad request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
    return error_response(400, "UsageError", f"{where or 'request'}: {first.get('msg')}")


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    kind = HTTP_TYPES.get(exc.status_code, "HTTPError")
    response = error_response(exc.status_code, kind, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.exception("internal error answering %s", request.url.path)
    return error_response(500, "InternalError", f"internal error: {type(exc).__name__}: {exc}")


def public_type(exc: ClipgroundError) -> str:
    """The name of the nearest class of clipground.errors that `exc` is an instance of."""
    return next(c.__name__ for c in type(exc).__mro__ if getattr(errors, c.__name__, None) is c)
