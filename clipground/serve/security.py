"""Who may ask and how much: the token (when the server listens beyond loopback) and a cap on the
size of a request body. Both are plain ASGI middleware, so they guard every route, static files and
the API docs included.

The token is accepted as `Authorization: Bearer TOKEN`, as `?token=TOKEN` (what a `<video src>` or
a link can carry), or as the cookie the server sets when a page is opened with `?token=`, so that
the page's own requests carry it without the page knowing it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

from clipground.serve.errors import error_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

COOKIE = "clipground_token"
MAX_BODY_BYTES = 2 << 20  # a transcript of a few hours is well under 1 MB


def new_token() -> str:
    """A random token for a server that listens beyond loopback."""
    return secrets.token_urlsafe(24)


class TokenGuard:
    """401 for any request that does not carry `token`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given, from_query = _given_token(scope)
        if given is None or not secrets.compare_digest(given.encode(), self.token.encode()):
            response = error_response(
                401,
                "Unauthorized",
                "a token is needed: pass it as 'Authorization: Bearer TOKEN' or ?token=TOKEN",
            )
            response.headers["WWW-Authenticate"] = "Bearer"
            await response(scope, receive, send)
            return
        await self.app(scope, receive, _with_cookie(send, self.token) if from_query else send)


def _given_token(scope: Scope) -> tuple[str | None, bool]:
    """(the token the request carries, whether it came in the query string)."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[len("bearer ") :].strip(), False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    if query:
        return query[-1], True
    cookie = SimpleCookie(headers.get("cookie", "")).get(COOKIE)
    return (cookie.value, False) if cookie is not None else (None, False)


def _with_cookie(send: Send, token: str) -> Send:
    """`send`, adding the token cookie to the response (SameSite=Strict, HttpOnly)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            value = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict"
            message["headers"] = [*message.get("headers", []), (b"set-cookie", value.encode())]
        await send(message)

    return sending


class BodyLimit:
    """413 for a request body over `limit` bytes (by Content-Length, or counted as it streams)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > self.limit:
            await self._refuse(scope, receive, send)
            return
        await self.app(scope, self._counted(receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"the request body is over {self.limit} bytes: send a shorter transcript"
        await error_response(413, "UsageError", message)(scope, receive, send)

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def receiving() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                from starlette.exceptions import HTTPException

                raise HTTPException(413, f"the request body is over {self.limit} bytes")
            return message

        return receiving
