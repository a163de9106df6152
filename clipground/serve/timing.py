"""`Server-Timing: app;dur=MS` on every answer: how long the server took, apart from the network
(what scripts/bench_serve.py reports, and what a browser's developer tools show)."""

from __future__ import annotations

import time

from clipground.serve.security import ASGIApp, Message, Receive, Scope, Send


class ServerTiming:
    """Adds the time from the request's arrival to the start of its answer, in milliseconds."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - started) * 1000
                message["headers"] = [
                    *message.get("headers", []),
                    (b"server-timing", f"app;dur={ms:.1f}".encode()),
                ]
            await send(message)

        await self.app(scope, receive, sending)
