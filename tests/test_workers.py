"""Tests for iterators run in background threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from clipground.workers import Overdue, background


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


def test_no_more_than_depth_items_are_made_ahead() -> None:
    made = []

    def counting() -> Iterator[int]:
        for i in range(100):
            made.append(i)
            yield i

    items = background([counting()], depth=2)
    assert next(items) == 0
    time.sleep(0.3)
    assert len(made) <= 4  # the one taken, `depth` waiting, one blocked on the full buffer
    items.close()


def test_past_the_deadline_waiting_raises_overdue() -> None:
    """Without the deadline the slow source would end normally (after 2 s), raising nothing."""

    def slow() -> Iterator[int]:
        yield 1
        time.sleep(2)
        yield 2

    with pytest.raises(Overdue):
        list(background([slow()], deadline=time.monotonic() + 0.3))
