"""A client of a running `clipground serve`, with the standard library only (no torch, no av): the
CLI's `--server URL` sends its question here and prints the answer as it would its own.

An error answer (`{"error": {"type", "message"}}`) is raised as the clipground error class of that
name, so the command exits with the code the standalone command would; a server that cannot be
reached, or that wants a token it was not given, is a `ServerError`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clipground import errors
from clipground.errors import ClipgroundError, ServerError

ENV_SERVER = "CLIPGROUND_SERVER"  # the default --server
ENV_TOKEN = "CLIPGROUND_TOKEN"  # the token a server beyond loopback wants
TIMEOUT_S = 3600.0  # a question about a video not embedded yet waits for its embedding

Params = Sequence[tuple[str, str]]


@dataclass(frozen=True)
class Answer:
    """A successful answer: its JSON body and its headers."""

    body: Any
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case


@dataclass(frozen=True)
class Client:
    """Requests to the server at `url` (http://host:port), with `token` if it wants one."""

    url: str
    token: str | None = None
    timeout_s: float = TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise errors.UsageError(
                f"--server {self.url!r} is not a server URL: give http://HOST:PORT"
            )

    def get(self, path: str, params: Params = ()) -> Answer:
        """GET `path` with query `params` (a name may repeat)."""
        query = urllib.parse.urlencode(list(params))
        return self._send(urllib.request.Request(self._endpoint(path) + f"?{query}"))

    def post(self, path: str, body: dict[str, Any]) -> Answer:
        """POST `body` as JSON to `path`."""
        data = json.dumps(body).encode()
        request = urllib.request.Request(
            self._endpoint(path), data=data, headers={"Content-Type": "application/json"}
        )
        return self._send(request)

    def _endpoint(self, path: str) -> str:
        return self.url.rstrip("/") + path

    def _send(self, request: urllib.request.Request) -> Answer:
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to it
        try:
            with opener.open(request, timeout=self.timeout_s) as response:
                headers = {k.lower(): v for k, v in response.headers.items()}
                return Answer(json.load(response), headers)
        except urllib.error.HTTPError as exc:
            raise self._error(exc) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ServerError(
                f"cannot reach the server at {self.url} ({reason}): start one with "
                "'clipground serve PATHS', or drop --server (and unset $CLIPGROUND_SERVER)"
            ) from None
        except ValueError as exc:  # not JSON: not a clipground server
            raise ServerError(f"{self.url} did not answer as a clipground server ({exc})") from None

    def _error(self, exc: urllib.error.HTTPError) -> ClipgroundError:
        """The clipground error an error answer names."""
        kind, message = _error_body(exc)
        if exc.code == 401:
            return ServerError(
                f"the server at {self.url} wants a token: set ${ENV_TOKEN} to the token it printed"
            )
        cls = getattr(errors, kind, None)
        if isinstance(cls, type) and issubclass(cls, ClipgroundError) and cls is not ServerError:
            return cls(message)
        return ServerError(f"the server at {self.url} answered {exc.code}: {message}")


def _error_body(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """(type, message) of an error answer; its HTTP reason when the body is not ours."""
    try:
        error = json.loads(exc.read())["error"]
        return str(error["type"]), str(error["message"])
    except (ValueError, KeyError, TypeError, OSError):
        return "", f"{exc.code} {exc.reason}"
