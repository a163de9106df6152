"""Tests for iterators run in background threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from clipground.workers import Overdue, background, mapped


def test_one_source_keeps_its_order() -> None:
    assert list(background([iter(range(100))], depth=3)) == list(range(100))


def test_several_sources_give_every_item_once() -> None:
    sources = [iter(range(k * 1000, k * 1000 + 50)) for k in range(4)]
    items = list(background(sources, depth=4))
    assert sorted(items) == [k * 1000 + i for k in range(4) for i in range(50)]


def test_an_error_in_one_source_is_raised_and_stops_the_others() -> None:
    stopped = threading.Event()

    def failing() -> Iterator[int]:
        yield 1
        raise ValueError("bad packet")

    def endless() -> Iterator[int]:
        try:
            while True:
                yield 0
        finally:
            stopped.set()

    with pytest.raises(ValueError, match="bad packet"):
        list(background([failing(), endless()], depth=2))
    assert stopped.wait(5)  # the endless source was closed, not left running


def counting(n: int, made: list[int]) -> Iterator[int]:
    """0..n-1, each noted in `made` as it is taken."""
    for i in range(n):
        made.append(i)
        yield i


def test_no_more_than_depth_items_are_made_ahead() -> None:
    """After the consumer has taken k items, the source has made exactly k + depth + 1: `depth`
    waiting, and one held while it is blocked on the full buffer. Each step waits (without a clock)
    until the source has made that many, so the bound is reached every time, then checks it was not
    passed; the consumer takes nothing meanwhile, so no more can have been made."""
    depth, total = 2, 30
    made = 0
    changed = threading.Condition()

    def source() -> Iterator[int]:
        nonlocal made
        for i in range(total):
            with changed:
                made += 1
                changed.notify_all()
            yield i

    items = background([source()], depth=depth)
    for taken in range(1, total + 1):
        assert next(items) == taken - 1
        bound = min(total, taken + depth + 1)
        with changed:
            assert changed.wait_for(lambda b=bound: made >= b, timeout=30), (taken, made)
            assert made == bound, (taken, made)
    assert list(items) == []


def test_past_the_deadline_waiting_raises_overdue() -> None:
    """Without the deadline the slow source would end normally (after 2 s), raising nothing."""

    def slow() -> Iterator[int]:
        yield 1
        time.sleep(2)
        yield 2

    with pytest.raises(Overdue):
        list(background([slow()], deadline=time.monotonic() + 0.3))


def test_mapped_gives_every_result_with_its_item() -> None:
    for threads in (1, 2, 3):
        pairs = list(mapped(lambda x: x * x, iter(range(50)), threads))
        assert sorted(pairs) == [(x, x * x) for x in range(50)]


def test_mapped_in_one_thread_keeps_order_in_the_callers_thread() -> None:
    caller = threading.get_ident()
    seen = list(mapped(lambda x: (x, threading.get_ident()), iter(range(10)), 1, setup=pytest.fail))
    assert [item for item, _ in seen] == list(range(10))
    assert {ident for _, (_, ident) in seen} == {caller}


def test_mapped_runs_setup_in_each_thread_and_works_at_once() -> None:
    local = threading.local()
    both = threading.Barrier(2, timeout=5)  # passes only if two items run at the same time

    def setup() -> None:
        local.ready = True

    def work(x: int) -> int:
        assert getattr(local, "ready", False)
        if x < 2:
            both.wait()
        return x

    assert sorted(x for x, _ in mapped(work, iter(range(6)), 2, setup)) == list(range(6))


def test_mapped_takes_no_more_items_than_threads_ahead() -> None:
    taken: list[int] = []
    for done, _ in enumerate(mapped(lambda x: x, counting(20, taken), 3), start=1):
        assert len(taken) <= done + 3


def test_mapped_raises_the_first_error_and_stops_taking_items() -> None:
    taken: list[int] = []

    def work(x: int) -> int:
        if x == 5:
            raise ValueError("bad chunk")
        return x

    with pytest.raises(ValueError, match="bad chunk"):
        list(mapped(work, counting(100, taken), 2))
    assert len(taken) < 10
