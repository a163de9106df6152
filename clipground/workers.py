"""Iterators run in background threads, so that decoding overlaps the model's work."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Overdue(Exception):
    """A deadline passed while waiting for the next item (see `background`)."""


def background(
    sources: Sequence[Iterator[T]], depth: int = 2, deadline: float | None = None
) -> Iterator[T]:
    """Run each of `sources` in its own thread and yield their items as they come.

    One source keeps its order; the items of several interleave. At most `depth` items wait. The
    first exception a source raises is raised here, and the other sources stop at their next item.
    Past `deadline` (time.monotonic()) waiting for an item raises `Overdue`, also when a thread is
    stuck inside the decoder: the threads are daemons, left behind.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce(items: Iterator[T]) -> None:
        try:
            for item in items:
                if not _put(buffer, item, stop):
                    return
            _put(buffer, done, stop)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            _put(buffer, exc, stop)
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator stopped early closes its file here, in its own thread

    threads = [
        threading.Thread(target=produce, args=(items,), name="clipground-decode", daemon=True)
        for items in sources
    ]
    for thread in threads:
        thread.start()
    running = len(threads)
    try:
        while running:
            item = _get(buffer, deadline)
            if item is done:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item  # type: ignore[misc]
    finally:
        stop.set()
        overdue = deadline is not None and time.monotonic() > deadline
        for thread in threads:
            thread.join(timeout=0 if overdue else 5)  # a stuck thread is not waited for again


def _get(buffer: queue.Queue, deadline: float | None) -> object:
    if deadline is None:
        return buffer.get()
    try:
        return buffer.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise Overdue from None


def _put(buffer: queue.Queue, item: object, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            buffer.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def mapped(
    fn: Callable[[T], R],
    items: Iterator[T],
    threads: int,
    setup: Callable[[], None] | None = None,
) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for each of `items`, computed in `threads` threads at once and yielded as
    each finishes (one thread: in order, in the caller's thread, without `setup`).

    Each of the threads runs `setup` first. At most `threads` items are taken from `items` before
    their results are yielded. The first exception `fn` raises is raised here; items not started
    are dropped, and those running finish before it propagates.
    """
    if threads <= 1:
        for item in items:
            yield item, fn(item)
        return
    pool = ThreadPoolExecutor(threads, thread_name_prefix="clipground-model", initializer=setup)
    running: dict[Future[R], T] = {}
    try:
        for item in items:
            running[pool.submit(fn, item)] = item
            if len(running) >= threads:
                yield from _first_finished(running)
        while running:
            yield from _first_finished(running)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _first_finished(running: dict[Future[R], T]) -> Iterator[tuple[T, R]]:
    done, _ = wait(running, return_when=FIRST_COMPLETED)
    for future in done:
        item = running.pop(future)
        yield item, future.result()
