"""Batch jobs over many videos: find them, embed them in isolated workers, answer every query.

reader (`find_videos`, `read_queries`) -> embedder (`embed_videos`: cache, then `EmbedPool`)
-> mapper (`batch_records`, `search_library`) -> writer (`ResultLog`, one JSON line per record).

Decoding and embedding run in worker processes (forkserver where the platform has it, else spawn),
each loading the model once; a worker that crashes or passes the per-video timeout is killed and
replaced, and its video becomes an error record instead of taking the job down.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TextIO

from clipground.cache import EmbeddingCache
from clipground.errors import ClipgroundError, ModelError, UsageError
from clipground.model import Encoder, ModelSpec, load_encoder
from clipground.output import grounding_record, moment_record
from clipground.pipeline import (
    GroundOptions,
    VideoEmbedding,
    embed_video,
    encode_query,
    ground_embedded,
    ground_samples,
)
from clipground.text import clean_query

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (
    ".mp4",
    ".m4v",
    ".mov",
    ".mkv",
    ".webm",
    ".avi",
    ".wmv",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ts",
    ".3gp",
)
DEFAULT_TIMEOUT_S = 600.0
_STARTUP_S = 300.0  # a worker may take this long (at least) to import torch and load the model
_POLL_S = 0.5  # longest wait between timeout checks

FrameProgress = Callable[[str, int], None]  # (video, frames embedded so far in that video)


# ---------------------------------------------------------------------------------------------
# Readers


def find_videos(paths: Sequence[str], glob: str | None = None) -> list[str]:
    """Files as given, and videos found recursively in folders (by extension, or by `glob`).

    Missing paths are kept: they become error records, like any other video that cannot be read.
    """
    found: list[str] = []
    for raw in paths:
        path = Path(raw)
        if not path.is_dir():
            found.append(raw)
            continue
        matches = sorted(path.rglob(glob)) if glob else sorted(path.rglob("*"))
        videos = [
            str(p)
            for p in matches
            if p.is_file() and (glob or p.suffix.lower() in VIDEO_EXTENSIONS)
        ]
        if not videos:
            log.warning(
                "%s: no video files found (%s)", raw, f"glob {glob!r}" if glob else "by extension"
            )
        found.extend(videos)
    return list(dict.fromkeys(found))  # each file once, in order


@dataclass(frozen=True)
class Query:
    """One question: an id, its sentences (a span), and optionally the one video it is about."""

    id: str
    sentences: tuple[str, ...]
    video: str | None = None  # None: ask every video

    def applies_to(self, video: str) -> bool:
        """Whether this query is asked of `video`."""
        return self.video is None or os.path.normpath(self.video) == os.path.normpath(video)


def text_query(sentences: Sequence[str]) -> Query:
    """The query of `--text` options: one span, id "q0"."""
    return Query("q0", tuple(clean_query(list(sentences))))


def read_queries(source: str, stdin: TextIO | None = None) -> list[Query]:
    """Queries from a text file (one a line, ids q0, q1...) or JSON lines; "-" reads stdin."""
    if source == "-":
        raw = (stdin or sys.stdin).read()
    else:
        try:
            raw = Path(source).read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read --queries {source}: {exc}") from None
    lines = [(n, line.strip()) for n, line in enumerate(raw.splitlines(), 1) if line.strip()]
    if not lines:
        raise UsageError(f"--queries {source} holds no queries")
    if lines[0][1].startswith("{"):
        queries = [_json_query(source, n, line, i) for i, (n, line) in enumerate(lines)]
    else:
        queries = [Query(f"q{i}", tuple(clean_query([line]))) for i, (_, line) in enumerate(lines)]
    _check_unique(source, queries)
    return queries


def _json_query(source: str, line_no: int, line: str, position: int) -> Query:
    """One JSON-lines query: {"id"?, "query": str | [str], "video"?}."""
    where = f"--queries {source} line {line_no}"
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(item, dict) or "query" not in item:
        raise UsageError(f'{where}: expected an object with "query" (and optional "id", "video")')
    sentences = [item["query"]] if isinstance(item["query"], str) else item["query"]
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise UsageError(f'{where}: "query" must be a string or a list of strings')
    try:
        cleaned = tuple(clean_query(sentences))
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    video = item.get("video")
    return Query(
        str(item.get("id", f"q{position}")), cleaned, str(video) if video is not None else None
    )


def _check_unique(source: str, queries: list[Query]) -> None:
    seen: set[tuple[str, str | None]] = set()
    for q in queries:
        if (q.id, q.video) in seen:
            raise UsageError(f"--queries {source}: id {q.id!r} appears twice; ids must be unique")
        seen.add((q.id, q.video))


def job_videos(
    paths: Sequence[str], queries: Sequence[Query], glob: str | None = None
) -> list[str]:
    """The videos of PATHs, plus those named by queries that are not among them."""
    videos = find_videos(paths, glob)
    known = {os.path.normpath(v) for v in videos}
    for q in queries:
        if q.video is not None and os.path.normpath(q.video) not in known:
            known.add(os.path.normpath(q.video))
            videos.append(q.video)
    return videos


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class ItemError:
    """Why one video (or one pair) failed: an exception type name and a one-line message."""

    type: str
    message: str


def error_record(video: str, error: ItemError, query: Query | None = None) -> dict[str, Any]:
    """The JSON record of a failure; with a query when only that pair failed."""
    record: dict[str, Any] = {"video": video}
    if query is not None:
        record.update(id=query.id, query=list(query.sentences))
    record["error"] = {"type": error.type, "message": error.message}
    return record


PairKey = tuple[str, str, tuple[str, ...]]  # (video, query id, query sentences)


def pair_key(video: str, query: Query) -> PairKey:
    """What identifies a finished (video, query) pair in an output file."""
    return video, query.id, query.sentences


def _record_key(record: dict[str, Any]) -> PairKey | None:
    try:
        return str(record["video"]), str(record["id"]), tuple(record["query"])
    except (KeyError, TypeError):
        return None


class ResultLog:
    """An append-only JSON-lines output; on resume, finished pairs are read back and skipped.

    Error records are not "finished": resuming drops them from the file and retries the pair.
    A torn last line (a killed writer) is cut away.
    """

    def __init__(self, path: str | None, resume: bool = False) -> None:
        if resume and path is None:
            raise UsageError(
                "--resume needs --output FILE: the finished pairs are read back from it"
            )
        self.path = Path(path) if path else None
        self.resume = resume
        self.done: set[PairKey] = self._recover() if resume and self.path else set()

    def _recover(self) -> set[PairKey]:
        """Keys of the file's result records; rewrite it (atomically) without what is retried."""
        assert self.path is not None
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return set()
        except OSError as exc:
            raise UsageError(f"cannot read --output {self.path} to resume: {exc}") from None
        lines = data.split(b"\n")
        torn = lines.pop()  # b"" when the file ends with a newline
        kept, done = [], set()
        for number, line in enumerate(lines, 1):
            record = _parse_record(line)
            if record is None:
                raise UsageError(
                    f"--output {self.path} line {number} is not a clipground record: refusing to "
                    "resume into (and rewrite) a file this command did not write"
                )
            key = _record_key(record)
            if key is not None and "error" not in record:
                kept.append(line)
                done.add(key)
        if torn or len(kept) != len(lines):
            log.info(
                "%s: resuming from %d finished pairs (%d lines dropped to retry)",
                self.path,
                len(kept),
                len(lines) - len(kept) + bool(torn),
            )
            self._rewrite(kept)
        return done

    def _rewrite(self, lines: list[bytes]) -> None:
        assert self.path is not None
        tmp = self.path.with_name(f".{self.path.name}.resume-{os.getpid()}")
        tmp.write_bytes(b"".join(line + b"\n" for line in lines))
        os.replace(tmp, self.path)

    @contextlib.contextmanager
    def writer(self) -> Iterator[Callable[[dict[str, Any]], None]]:
        """A function that writes one record: to the file (appending on resume), else to stdout."""
        if self.path is None:
            yield lambda record: _write_line(sys.stdout, record)
            return
        try:
            out = open(self.path, "a" if self.resume else "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write --output {self.path}: {exc}") from None
        with out:
            yield lambda record: _write_line(out, record)


def _write_line(out: TextIO, record: dict[str, Any]) -> None:
    """One line, written whole and flushed, so a kill leaves at most this line torn."""
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
    out.flush()


def _parse_record(line: bytes) -> dict[str, Any] | None:
    """A line of a batch output as a dict with a "video", or None if it is not one."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and "video" in record else None


# ---------------------------------------------------------------------------------------------
# Worker processes


@dataclass(frozen=True)
class WorkerSetup:
    """What a worker process needs; `load` and `embed` are module-level (picklable) functions."""

    model: ModelSpec
    options: GroundOptions
    load: Callable[[ModelSpec], Any] = load_encoder
    embed: Callable[..., VideoEmbedding] = embed_video  # (video, encoder, options, progress)
    threads: int | None = None  # torch threads per worker; None = the library's default
    log_level: int = logging.WARNING


@dataclass(frozen=True)
class Outcome:
    """One video's embedding, or why there is none."""

    video: str
    embedded: VideoEmbedding | None
    error: ItemError | None = None
    cached: bool = False
    seconds: float = 0.0


class _LogToParent(logging.Handler):
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
        send(("fatal", type(exc).__name__, _one_line(exc)))
        return
    send(("ready",))
    while True:
        try:
            video = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if video is None:
            return
        try:
            embedded = setup.embed(
                video, encoder, setup.options, lambda done, _total: send(("progress", done))
            )
        except Exception as exc:  # noqa: BLE001 (any failure is this video's, not the job's)
            send(("error", type(exc).__name__, _one_line(exc)))
            continue
        send(("done", embedded))


def default_threads(workers: int) -> int:
    """Torch threads per worker: its share of the cores (at least one).

    The worker's decoders share them: its model runs as two streams (`Encoder.default_streams`)
    where it has two threads or more, so no OpenMP team spins while a decoder holds a core. On 2
    cores, one worker embedding 1080p video with ViT-B-32 took 19.6-21.1 s with 2 threads against
    33.3-33.8 s with 1 (`python scripts/bench_pipeline.py --parts batch`).
    """
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def _limit_threads(threads: int | None) -> None:
    """Keep N workers from each using every core (torch is already imported in a forkserver child)."""
    if not threads:
        return
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] or type(exc).__name__


def _context() -> Any:
    """forkserver (torch preloaded once, workers fork from it cleanly) where there is one, else spawn."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["clipground.batch", "open_clip"])
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

    def run(self, videos: Iterable[str]) -> Iterator[Outcome]:
        """Embed `videos`, yielding each outcome as it completes (stop early: workers are killed)."""
        ctx, pending, workers = _context(), deque(videos), []
        graceful = False
        try:
            while pending or any(w.video for w in workers):
                while len(workers) < min(
                    self.size, len(pending) + sum(bool(w.video) for w in workers)
                ):
                    workers.append(_Worker(ctx, self.setup))
                for w in workers:
                    if w.ready and w.video is None and pending:
                        w.assign(pending.popleft())
                yield from self._step(workers)
            graceful = True
        finally:
            for w in workers:
                w.stop(graceful)

    def _step(self, workers: list[_Worker]) -> Iterator[Outcome]:
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

    def _drain(self, w: _Worker) -> Outcome | None:
        """Handle the messages waiting from `w`; the outcome of its video if one arrived."""
        try:
            while w.conn.poll():
                message = w.conn.recv()
                outcome = self._handle(w, message)
                if outcome is not None:
                    return outcome
        except (EOFError, OSError):
            pass  # it died: `_died` reports it
        return None

    def _handle(self, w: _Worker, message: tuple) -> Outcome | None:
        kind = message[0]
        if kind == "log":
            logging.getLogger(message[2]).log(message[1], "%s", message[3])
        elif kind == "progress":
            if self.on_frames and w.video:
                self.on_frames(w.video, message[1])
        elif kind == "ready":
            w.ready = True
        elif kind == "fatal":
            raise ModelError(
                f"a worker process could not load the model: {message[1]}: {message[2]}"
            )
        elif kind in ("done", "error") and w.video is not None:
            video, seconds = w.video, time.monotonic() - w.since
            w.video = None
            if kind == "done":
                return Outcome(video, message[1], seconds=seconds)
            text = message[2] if video in message[2] else f"{video}: {message[2]}"
            return Outcome(video, None, ItemError(message[1], text), seconds=seconds)
        return None

    def _overdue(self, w: _Worker) -> Outcome | None:
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
        video, w.video = w.video, None
        message = f"{video}: decoding and embedding took longer than --timeout {self.timeout_s:g} s; killed"
        return Outcome(video, None, ItemError("Timeout", message), seconds=elapsed)

    def _died(self, w: _Worker) -> Outcome | None:
        """The outcome of a worker that died on its video (None if it held none)."""
        if not w.ready:
            raise ModelError(
                f"a worker process died while loading the model ({_exit_reason(w.process.exitcode)})"
            )
        if w.video is None:
            return None
        video, w.video = w.video, None
        message = f"{video}: the decoding process died ({_exit_reason(w.process.exitcode)}); the file may be corrupt"
        return Outcome(
            video, None, ItemError("WorkerDied", message), seconds=time.monotonic() - w.since
        )


def check_pool(workers: int, timeout_s: float) -> None:
    """Reject a worker count or timeout that cannot work."""
    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    if not timeout_s > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, got {timeout_s}")


def _exit_reason(code: int | None) -> str:
    if code is not None and code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


# ---------------------------------------------------------------------------------------------
# The embedder: cache first, workers for the rest


@dataclass
class Embedder:
    """Embeds videos through the cache; what is missing goes to an `EmbedPool`."""

    encoder: Encoder  # the parent's model: text queries and cache keys
    setup: WorkerSetup
    cache: EmbeddingCache | None
    workers: int = 1
    timeout_s: float = DEFAULT_TIMEOUT_S
    on_frames: FrameProgress | None = None
    spawned: int = field(default=0, init=False)  # videos that went to a worker

    def __post_init__(self) -> None:
        check_pool(self.workers, self.timeout_s)

    def run(self, videos: Sequence[str]) -> Iterator[Outcome]:
        """Cache hits first (in order), then the rest as workers finish them."""
        keys, misses = {}, []
        for video in videos:
            started = time.perf_counter()
            key = self.cache.key(video, self.encoder, self.setup.options) if self.cache else None
            hit = self.cache.get(key, video) if self.cache else None
            if hit is not None:
                yield Outcome(video, hit, cached=True, seconds=time.perf_counter() - started)
            else:
                keys[video] = key
                misses.append(video)
        if not misses:
            return
        self.spawned += len(misses)
        pool = EmbedPool(self.setup, self.workers, self.timeout_s, self.on_frames)
        for outcome in pool.run(misses):
            if outcome.embedded is not None and self.cache is not None:
                self.cache.put(keys[outcome.video], outcome.embedded)
            yield outcome


# ---------------------------------------------------------------------------------------------
# Mappers


def embed_record(outcome: Outcome) -> dict[str, Any]:
    """The `embed` command's line for one video."""
    if outcome.error is not None:
        return error_record(outcome.video, outcome.error)
    assert outcome.embedded is not None
    return {
        "video": outcome.video,
        "frames": len(outcome.embedded.indices),
        "cached": outcome.cached,
        "seconds": round(outcome.seconds, 3),
    }


@dataclass(frozen=True)
class EncodedQuery:
    """A query and its text embeddings (K, D)."""

    query: Query
    text: Any  # np.ndarray (K, D) float32


def encode_queries(encoder: Encoder, queries: Sequence[Query]) -> list[EncodedQuery]:
    """Embed every query's sentences once."""
    return [EncodedQuery(q, encode_query(encoder, q.sentences)) for q in queries]


def pending_pairs(
    videos: Sequence[str], queries: Sequence[Query], done: set[PairKey]
) -> dict[str, list[Query]]:
    """For each video, the queries still to answer (videos with none are left out)."""
    todo = {}
    for video in videos:
        asked = [q for q in queries if q.applies_to(video) and pair_key(video, q) not in done]
        if asked:
            todo[video] = asked
    return todo


def batch_records(
    outcome: Outcome, queries: Sequence[EncodedQuery], options: GroundOptions, encoder: Encoder
) -> Iterator[dict[str, Any]]:
    """The result records of one embedded video: one per query, or its error record. Boundaries are
    refined as `match` refines them (`pipeline.wants_refinement`), with `encoder`, in this process."""
    if outcome.error is not None or outcome.embedded is None:
        yield error_record(outcome.video, outcome.error or ItemError("Error", "not embedded"))
        return
    for eq in queries:
        try:
            g = ground_embedded(outcome.embedded, eq.query.sentences, eq.text, encoder, options)
        except ClipgroundError as exc:
            yield error_record(
                outcome.video, ItemError(type(exc).__name__, _one_line(exc)), eq.query
            )
            continue
        yield {"id": eq.query.id, **grounding_record(g)}


def is_error(record: dict[str, Any]) -> bool:
    """Whether a record reports a failure."""
    return "error" in record


@dataclass(frozen=True)
class Hit:
    """One window of one video, in a ranking across the library."""

    video: str
    record: dict[str, Any]  # moment_record fields
    score: float

    @property
    def rank_key(self) -> tuple[float, str, int]:
        """Best first; ties broken by video path, then start frame."""
        return -self.score, self.video, int(self.record["start_frame"])


class LibrarySearch:
    """The best windows across many videos, holding at most `top_k` embeddings at a time.

    A video's best window is computed for every video; only the `top_k` videos whose best windows
    rank highest can hold any of the `top_k` best windows overall (any other video has `top_k`
    better windows ahead of its best), so only those are searched fully at the end; the j-th of
    them (from 0) for its best `top_k - j` windows (greedy NMS picks are a prefix of a longer list).
    """

    def __init__(
        self, sentences: Sequence[str], text: Any, options: GroundOptions, top_k: int
    ) -> None:
        self.sentences, self.text, self.options, self.top_k = list(sentences), text, options, top_k
        self._kept: list[
            tuple[tuple[float, str, int], int, VideoEmbedding]
        ] = []  # sorted, best first

    def add(self, embedded: VideoEmbedding) -> None:
        """Score `embedded`'s best window; keep the video if it can still reach the top k."""
        from dataclasses import replace

        g = ground_samples(embedded, self.sentences, self.text, replace(self.options, top_k=1))
        key = Hit(embedded.video, moment_record(g.best), g.best.score).rank_key
        bisect.insort(self._kept, (key, len(self._kept), embedded), key=lambda item: item[0])
        del self._kept[self.top_k :]

    def hits(self, encoder: Encoder | None = None) -> list[Hit]:
        """The `top_k` best windows over every video added, best first.

        With `encoder`, each kept video's windows are refined as `match` refines them
        (`pipeline.wants_refinement`) and ranked again by their refined scores; the videos
        searched are those the first-pass scores kept.
        """
        from dataclasses import replace

        found = []
        for ahead, (_, _, embedded) in enumerate(
            self._kept
        ):  # `ahead` videos each beat all of its windows
            options = replace(self.options, top_k=self.top_k - ahead)
            if encoder is None:
                g = ground_samples(embedded, self.sentences, self.text, options)
            else:
                g = ground_embedded(embedded, self.sentences, self.text, encoder, options)
            found += [Hit(g.video, moment_record(m), m.score) for m in g.candidates]
        return sorted(found, key=lambda h: h.rank_key)[: self.top_k]


def hit_record(
    rank: int, hit: Hit, sentences: Sequence[str], options: GroundOptions, model: str
) -> dict[str, Any]:
    """A `search` result line."""
    return {
        "rank": rank,
        "video": hit.video,
        "query": list(sentences),
        **hit.record,
        "objective": options.objective,
        "model": model,
    }
