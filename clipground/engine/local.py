"""The local engine: a pool of worker processes on this machine, each embedding one video at a time.

Each worker loads the model once and then embeds the videos it is sent. Workers start from a
forkserver (torch imported there once) where the platform has one, else by spawn. A worker that
crashes, or passes the per-video timeout, is killed and replaced: its video becomes an error
outcome instead of taking the job down.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from clipground.errors import ModelError, UsageError
from clipground.model import ModelSpec, load_encoder
from clipground.options import GroundOptions
from clipground.pipeline import embed_video
from clipground.types import EmbedOutcome, ItemError, VideoEmbedding

DEFAULT_TIMEOUT_S = 600.0
_STARTUP_S = 300.0  # a worker may take this long (at least) to import torch and load the model
_POLL_S = 0.5  # longest wait between timeout checks

FrameProgress = Callable[[str, int], None]  # (video, frames embedded so far in that video)


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs; `load` and `embed` are module-level (picklable) functions."""

    model: ModelSpec
    options: GroundOptions
    load: Callable[[ModelSpec], Any] = load_encoder
    embed: Callable[..., VideoEmbedding] = embed_video  # (video, encoder, options, progress)
    threads: int | None = None  # torch threads per worker; None = the library's default
    log_level: int = logging.WARNING


def default_threads(workers: int, cpu_count: Callable[[], int | None] = os.cpu_count) -> int:
    """Torch threads per worker: its share of the `cpu_count()` cores (at least one).

    The worker's decoders share them: its model runs as two streams (`Encoder.default_streams`)
    where it has two threads or more, so no OpenMP team spins while a decoder holds a core; that
    beat leaving a core to the decoders (`scripts/bench_pipeline.py --parts batch`).
    """
    return max(1, (cpu_count() or 1) // max(1, workers))


def check_pool(workers: int, timeout_s: float) -> None:
    """Reject a worker count or timeout that cannot work."""
    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    if not timeout_s > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout_s}")


# ---------------------------------------------------------------------------------------------
# In the worker process


class _LogToParent(logging.Handler):
    """Hands the worker's log records to the parent, which logs them as its own."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__()
        self.send = send

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.send(("log", record.levelno, record.name, record.getMessage()))


def _worker_main(conn: Connection, setup: WorkerSetup) -> None:
    """A worker: load the model once, then embed each video the parent sends until None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    lock = threading.Lock()  # the decode thread logs too: one message on the pipe at a time

    def send(message: tuple) -> None:
        with lock:
            conn.send(message)

    root = logging.getLogger()
    root.handlers[:] = [_LogToParent(send)]
    root.setLevel(setup.log_level)
    _limit_threads(setup.threads)
    try:
        encoder = setup.load(setup.model)
    except Exception as exc:  # noqa: BLE001 (reported to the parent, which fails the job)
        send(("fatal", ItemError.from_exception(exc)))
        return
    send(("ready",))
    while (video := _next_video(conn)) is not None:
        try:
            embedded = setup.embed(
                video, encoder, setup.options, lambda done, _total: send(("progress", done))
            )
        except Exception as exc:  # noqa: BLE001 (any failure is this video's, not the job's)
            send(("error", ItemError.from_exception(exc)))
            continue
        send(("done", embedded))


def _next_video(conn: Connection) -> str | None:
    """The next video the parent sends; None when it says stop, or is gone."""
    try:
        return conn.recv()
    except (EOFError, OSError):
        return None


def _limit_threads(threads: int | None) -> None:
    """Keep N workers from each using every core (torch is already imported in a forkserver child)."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# In the parent


def _context() -> Any:
    """forkserver (torch preloaded once, workers fork from it cleanly) where there is one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "open_clip"])
        return ctx
    return multiprocessing.get_context("spawn")


class _Worker:
    """One worker process and the pipe to it."""

    def __init__(self, ctx: Any, setup: WorkerSetup) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, setup), daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.video: str | None = None
        self.since = time.monotonic()

    def assign(self, video: str) -> None:
        self.video, self.since = video, time.monotonic()
        self.conn.send(video)

    def release(self) -> tuple[str, float]:
        """Its video and the seconds spent on it; the worker holds none after."""
        assert self.video is not None
        video, self.video = self.video, None
        return video, time.monotonic() - self.since

    def stop(self, graceful: bool) -> None:
        if graceful and self.process.is_alive():
            with contextlib.suppress(OSError):
                self.conn.send(None)
            self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class EmbedPool:
    """N worker processes that embed videos; crashes and hangs become error outcomes."""

    def __init__(
        self,
        setup: WorkerSetup,
        workers: int = 1,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_frames: FrameProgress | None = None,
    ) -> None:
        check_pool(workers, timeout_s)
        self.setup, self.size, self.timeout_s, self.on_frames = setup, workers, timeout_s, on_frames

    def run(self, videos: Iterable[str]) -> Iterator[EmbedOutcome]:
        """Embed `videos`, yielding each outcome as it completes (stop early: workers are killed)."""
        ctx, pending, workers = _context(), deque(videos), []
        graceful = False
        try:
            while pending or any(w.video for w in workers):
                busy = sum(bool(w.video) for w in workers)
                while len(workers) < min(self.size, len(pending) + busy):
                    workers.append(_Worker(ctx, self.setup))
                for w in workers:
                    if w.ready and w.video is None and pending:
                        w.assign(pending.popleft())
                yield from self._step(workers)
            graceful = True
        finally:
            for w in workers:
                w.stop(graceful)

    def _step(self, workers: list[_Worker]) -> Iterator[EmbedOutcome]:
        """Wait for messages, deaths or timeouts; replace workers that died or hung."""
        wait([w.conn for w in workers] + [w.process.sentinel for w in workers], timeout=_POLL_S)
        for w in list(workers):
            outcome = self._drain(w)
            if outcome is None and w.process.is_alive():
                outcome = self._overdue(w)
            if outcome is not None:
                yield outcome
            if not w.process.is_alive():  # crashed, or killed as overdue: a fresh one replaces it
                died = self._drain(w) or self._died(w)  # a result may have come just before the end
                if died is not None:
                    yield died
                workers.remove(w)
                w.stop(graceful=False)

    def _drain(self, w: _Worker) -> EmbedOutcome | None:
        """Handle the messages waiting from `w`; the outcome of its video if one arrived."""
        try:
            while w.conn.poll():
                outcome = self._handle(w, w.conn.recv())
                if outcome is not None:
                    return outcome
        except (EOFError, OSError):
            pass  # it died: `_died` reports it
        return None

    def _handle(self, w: _Worker, message: tuple) -> EmbedOutcome | None:
        """Act on one message from `w`: a log record, progress, readiness, or its video's end."""
        kind = message[0]
        if kind == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])
        elif kind == "progress":
            if self.on_frames and w.video:
                self.on_frames(w.video, message[1])
        elif kind == "ready":
            w.ready = True
        elif kind == "fatal":
            error: ItemError = message[1]
            raise ModelError(
                f"a worker process could not load the model: {error.type}: {error.message}"
            )
        elif kind in ("done", "error") and w.video is not None:
            video, seconds = w.release()
            if kind == "done":
                return EmbedOutcome(video, message[1], seconds=seconds)
            error = message[1]
            text = error.message if video in error.message else f"{video}: {error.message}"
            return EmbedOutcome(video, None, ItemError(error.type, text), seconds=seconds)
        return None

    def _overdue(self, w: _Worker) -> EmbedOutcome | None:
        """Kill a worker past its time limit (loading the model, or on one video); its video fails."""
        if w.ready and w.video is None:  # idle
            return None
        elapsed = time.monotonic() - w.since
        limit = self.timeout_s if w.ready else max(self.timeout_s, _STARTUP_S)
        if elapsed <= limit:
            return None
        w.process.kill()
        w.process.join(timeout=5)
        if w.video is None:
            raise ModelError(f"a worker process did not load the model within {limit:g} s")
        video, _ = w.release()
        message = (
            f"{video}: decoding and embedding took longer than --timeout {self.timeout_s:g} s; killed"
        )
        return EmbedOutcome(video, None, ItemError("Timeout", message), seconds=elapsed)

    def _died(self, w: _Worker) -> EmbedOutcome | None:
        """The outcome of a worker that died on its video (None if it held none)."""
        reason = _exit_reason(w.process.exitcode)
        if not w.ready:
            raise ModelError(f"a worker process died while loading the model ({reason})")
        if w.video is None:
            return None
        video, seconds = w.release()
        message = f"{video}: the decoding process died ({reason}); the file may be corrupt"
        return EmbedOutcome(video, None, ItemError("WorkerDied", message), seconds=seconds)


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"
