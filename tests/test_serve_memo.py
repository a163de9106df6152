"""The server's memo of the second pass's frames (`RefineMemo`): a repeated question embeds no new
frame, the fill makes any question about the video embed none, the answers are those without the
memo (and the CLI's), the frames picked from a whole table are those a pass over the spans decodes,
and tables are dropped least recently used first within the byte limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import make_video, real_videos_dir
from fakes import ColourEncoder
from fastapi.testclient import TestClient

from clipground.options import GroundOptions
from clipground.output import grounding_record
from clipground.pipeline import embed_spans, ground
from clipground.serve import Library, RefineMemo, create_app
from clipground.video import FrameSampler

RGB = {"blue": (0, 0, 255), "red": (255, 0, 0), "green": (0, 255, 0)}
# the server's options: a coarse pass at 1 frame/s, then the dense pass at 25 frames/s
OPTIONS = GroundOptions(fps=1, refine=True)
QUESTIONS = [
    {"text": "red"},
    {"text": "green", "top_k": 2},
    {"text": ["red", "green"]},  # an ordered span: each sentence refined on its own curve
    {"text": "red", "objective": "contrast", "refine_fps": 5},
    {"text": "blue", "min_len": 3},
]


def colours(*runs: tuple[str, int]) -> list[np.ndarray]:
    return [np.full((32, 48, 3), RGB[name], np.uint8) for name, n in runs for _ in range(n)]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 s at 25 frames/s: blue, red from 7.36 s, blue from 12.68 s, green 16-19 s, blue."""
    runs = (("blue", 184), ("red", 133), ("blue", 83), ("green", 75), ("blue", 125))
    return make_video(tmp_path_factory.mktemp("memo") / "v.mp4", colours(*runs), fps=25, b_frames=2)


def served(video: Path, encoder: ColourEncoder, memo: RefineMemo) -> TestClient:
    app = create_app(Library([str(video)]), encoder, OPTIONS, None, background=False, memo=memo)
    return TestClient(app)


def video_id(client: TestClient) -> str:
    return client.get("/api/videos").json()[0]["id"]


def ask(client: TestClient, question: dict) -> dict:
    answer = client.get("/api/match", params={"video": video_id(client), **question})
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_filled(client: TestClient, timeout_s: float = 60.0) -> dict:
    """The memo's entry for the one video once its fill has ended (bounded)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        held = client.get("/api/refine-memo").json()["videos"]
        if held and held[0]["fill"] not in ("queued", "filling"):
            return held[0]
        time.sleep(0.05)
    raise AssertionError(f"the fill did not end within {timeout_s} s: {held}")


def test_a_repeated_question_embeds_no_new_frame(video: Path) -> None:
    encoder = ColourEncoder()
    with served(video, encoder, RefineMemo(prefill=False)) as client:
        first = ask(client, {"text": "red"})
        seen = encoder.frames_seen
        again = ask(client, {"text": "red"})
        assert encoder.frames_seen == seen and again == first
        held = client.get("/api/refine-memo").json()["videos"]
        assert [(h["complete"], h["fill"]) for h in held] == [(False, "none")]
        assert held[0]["frames"] == first["frames_embedded"] - first["num_sampled"] > 0
    expected = ground(video, "red", ColourEncoder(), OPTIONS)  # what `clipground match` runs
    assert first == grounding_record(expected)
    assert (first["start_frame"], first["end_frame"]) == (184, 316)  # refined to the frame


def test_a_nearby_question_embeds_only_the_frames_it_lacks(video: Path) -> None:
    encoder = ColourEncoder()
    with served(video, encoder, RefineMemo(prefill=False)) as client:
        ask(client, {"text": "red", "top_k": 1})
        seen = encoder.frames_seen
        wider = ask(client, {"text": "red", "top_k": 3})  # the same window, and two more
        added = encoder.frames_seen - seen
    alone = ground(video, "red", ColourEncoder(), GroundOptions(fps=1, refine=True, top_k=3))
    assert wider == grounding_record(alone)
    dense = alone.frames_embedded - alone.num_sampled
    assert 0 < added < dense  # the first question's spans were not embedded again


def test_answers_with_and_without_the_memo_are_the_same(video: Path) -> None:
    """Every question three ways: decoded into the memo, answered from the spans asked before,
    and picked from the whole table after the fill; and once more with no memo at all."""
    remembering, plain = ColourEncoder(), ColourEncoder()
    with (
        served(video, remembering, RefineMemo()) as client,
        served(video, plain, RefineMemo(0)) as without,
    ):
        expected = [ask(without, q) for q in QUESTIONS]
        first = [ask(client, q) for q in QUESTIONS]
        again = [ask(client, q) for q in QUESTIONS]
        held = wait_filled(client)
        seen = remembering.frames_seen
        filled = [ask(client, q) for q in QUESTIONS]
        assert remembering.frames_seen == seen  # no question embedded a frame after the fill
        assert client.get("/api/refine-memo").json()["videos"] == [held]
    assert first == expected and again == expected and filled == expected
    assert held["complete"] and held["fill"] == "done" and held["frames"] == 600


def test_after_the_fill_a_new_question_embeds_nothing(video: Path) -> None:
    encoder = ColourEncoder()
    with served(video, encoder, RefineMemo()) as client:
        ask(client, {"text": "red"})  # the first refined question queues the fill
        wait_filled(client)
        seen = encoder.frames_seen
        answer = ask(client, {"text": "green"})  # windows the first question never came near
        assert encoder.frames_seen == seen
    assert answer == grounding_record(ground(video, "green", ColourEncoder(), OPTIONS))


def test_a_refined_search_takes_its_frames_from_the_memo(video: Path) -> None:
    encoder, plain = ColourEncoder(), ColourEncoder()
    question = {"text": "green", "top_k": 2, "path": str(video)}
    with (
        served(video, encoder, RefineMemo()) as client,
        served(video, plain, RefineMemo(0)) as without,
    ):
        expected = without.get("/api/search", params=question).json()
        ask(client, {"text": "red"})
        wait_filled(client)
        seen = encoder.frames_seen
        found = client.get("/api/search", params=question).json()
        assert encoder.frames_seen == seen  # refined from memory: no frame decoded again
    assert found == expected and len(found) == 2
    assert (found[0]["start_frame"], found[0]["end_frame"]) == (400, 474)  # refined to the frame


def test_the_fill_waits_while_a_question_is_answered(video: Path) -> None:
    encoder, memo = ColourEncoder(), RefineMemo(patience_s=60)
    embed = memo.embedder("key", "v", str(video))
    with memo.answering():
        embed(str(video), [(7.0, 8.0)], encoder, OPTIONS, FrameSampler)  # queues the fill
        seen = encoder.frames_seen
        time.sleep(0.5)
        assert encoder.frames_seen == seen and memo.stats().videos[0].fill == "filling"
    deadline = time.monotonic() + 60
    while memo.stats().videos[0].fill == "filling" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert memo.stats().videos[0].complete and encoder.frames_seen == 600
    memo.close()


def test_the_fill_ends_under_a_steady_load(video: Path) -> None:
    encoder, memo = ColourEncoder(), RefineMemo(patience_s=0.01)
    embed = memo.embedder("key", "v", str(video))
    with memo.answering():  # a question always in progress
        embed(str(video), [(7.0, 8.0)], encoder, OPTIONS, FrameSampler)
        deadline = time.monotonic() + 60
        while memo.stats().videos[0].fill in ("queued", "filling"):
            assert time.monotonic() < deadline, "the fill did not end"
            time.sleep(0.05)
        assert memo.stats().videos[0].complete
    memo.close()


def test_closing_stops_the_fill(video: Path) -> None:
    slow = SlowEncoder()
    memo = RefineMemo()
    embed = memo.embedder("key", "v", str(video))
    embed(str(video), [(7.0, 8.0)], slow, GroundOptions(batch_size=4), FrameSampler)
    started = time.monotonic()
    memo.close(timeout_s=10)
    assert time.monotonic() - started < 5
    assert memo.stats().videos[0].fill == "none" and not memo.stats().videos[0].complete


class SlowEncoder(ColourEncoder):
    """The colour encoder at 20 ms a frame: a fill of 600 frames would take 12 s."""

    def encode_frames(self, pixels: np.ndarray) -> np.ndarray:
        time.sleep(0.02 * len(pixels))
        return super().encode_frames(pixels)


def test_least_recently_used_tables_go_first(tmp_path: Path) -> None:
    videos = [make_video(tmp_path / f"{n}.mp4", colours(("red", 50)), fps=25) for n in "abc"]
    encoder = ColourEncoder()
    one_table = _table_bytes(videos[0], encoder)
    memo = RefineMemo(limit_bytes=int(one_table * 2.5), prefill=False)
    spans = [(0.0, 2.0)]
    for v in (*videos, videos[1]):  # a, b, c, then b again: a is the least recently used
        memo.embedder(v.name, v.name, str(v))(str(v), spans, encoder, OPTIONS, FrameSampler)
    assert [t.video for t in memo.stats().videos] == ["c.mp4", "b.mp4"]
    assert memo.stats().bytes <= memo.limit_bytes
    seen = encoder.frames_seen
    a = videos[0]
    memo.embedder(a.name, a.name, str(a))(str(a), spans, encoder, OPTIONS, FrameSampler)
    assert encoder.frames_seen == seen + 50  # decoded and embedded again
    assert [t.video for t in memo.stats().videos] == ["b.mp4", "a.mp4"]


def _table_bytes(video: Path, encoder: ColourEncoder) -> int:
    memo = RefineMemo(prefill=False)
    memo.embedder("k", "k", str(video))(str(video), [(0.0, 2.0)], encoder, OPTIONS, FrameSampler)
    return memo.stats().bytes


def test_a_video_too_big_for_the_memo_is_not_filled(video: Path) -> None:
    encoder = ColourEncoder()
    memo = RefineMemo(limit_bytes=4096)
    fine = memo.embedder("k", "v", str(video))(
        str(video), [(7.0, 8.0)], encoder, OPTIONS, FrameSampler
    )
    deadline = time.monotonic() + 30
    while memo.stats().videos and memo.stats().videos[0].fill in ("queued", "filling"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert [v.fill for v in memo.stats().videos] == ["too big"]
    assert fine.count == 25  # 7.00 to 7.96 s at 25 frames/s


def test_no_memo_without_bytes(video: Path) -> None:
    encoder, memo = ColourEncoder(), RefineMemo(0)
    embed = memo.embedder("k", "v", str(video))
    for _ in range(2):
        embed(str(video), [(7.0, 8.0)], encoder, OPTIONS, FrameSampler)
    assert encoder.frames_seen == 2 * 25 and memo.stats().videos == []


# ------------------------------------------------------------------ frames picked from a whole table


def filled_memo(path: Path) -> tuple[RefineMemo, object]:
    memo = RefineMemo()
    embed = memo.embedder("k", "v", str(path))
    embed(str(path), [(0.0, 0.5)], ColourEncoder(), GroundOptions(), FrameSampler)
    deadline = time.monotonic() + 120
    while memo.stats().videos[0].fill in ("queued", "filling"):
        assert time.monotonic() < deadline, "the fill did not end"
        time.sleep(0.05)
    return memo, embed


def random_spans(rng: np.random.Generator, duration_s: float, fps: float) -> list[tuple]:
    """1-3 disjoint spans anywhere in (and a little past) the video; or one on a frame's start."""
    if rng.random() < 0.25:
        start = int(rng.integers(0, max(1, int(duration_s * fps)))) / fps
        return [(start, start + 1.0)]
    cuts = np.sort(rng.uniform(0, duration_s * 1.05, 2 * int(rng.integers(1, 4))))
    spans: list[tuple] = []
    for a, b in zip(cuts[::2], cuts[1::2]):
        if b - a > 1e-3 and (not spans or a > spans[-1][1]):
            spans.append((float(a), float(b)))
    return spans or [(0.0, duration_s)]


def check_picked(path: Path, trials: int, seed: int) -> int:
    """Frames from the complete table against a pass over the same spans; the checks made."""
    memo, embed = filled_memo(path)
    held = memo.stats().videos[0]
    if held.fill != "done":
        return 0  # a table that is not exact is never picked from
    info = FrameSampler(path, fps=None, short_side=16).info
    rng, checked = np.random.default_rng(seed), 0
    for _ in range(trials):
        spans = random_spans(rng, info.duration_s or held.frames / info.avg_fps, info.avg_fps)
        for rate in (None, 5.0, 12.5):
            options = GroundOptions(refine_fps=rate)
            want = embed_spans(str(path), spans, ColourEncoder(), options)
            got = embed(str(path), spans, ColourEncoder(), options, FrameSampler)
            order = np.argsort(want.indices)
            assert np.array_equal(got.indices, want.indices[order]), (path.name, spans, rate)
            assert np.array_equal(got.times_s, want.times_s[order]), (path.name, spans, rate)
            if want.count:
                assert np.array_equal(got.embeddings, want.embeddings[order])
            checked += 1
    memo.close()
    return checked


def test_picked_frames_are_those_a_pass_decodes(video: Path, tmp_path: Path) -> None:
    vfr_pts = np.cumsum(np.random.default_rng(3).integers(1, 5, 120))  # 1-4 ticks apart, 1/50 s
    from fractions import Fraction

    vfr = make_video(
        tmp_path / "vfr.mp4", colours(("red", 60), ("blue", 60)), pts=list(vfr_pts),
        time_base=Fraction(1, 50), fps=25,
    )  # fmt: skip
    assert check_picked(video, 30, seed=1) == 90
    assert check_picked(vfr, 30, seed=2) == 90


def test_picked_frames_are_those_a_pass_decodes_on_real_videos() -> None:
    checked = [check_picked(p, 4, seed=i) for i, p in enumerate(_real_videos())]
    assert sum(c > 0 for c in checked) >= 10  # most of the corpus has exact tables


def _real_videos() -> Iterator[Path]:
    for path in sorted(real_videos_dir().iterdir()):
        if path.suffix.lower() not in (".md", ".txt"):
            yield path


def test_concurrent_questions_about_one_video_agree(video: Path) -> None:
    encoder = ColourEncoder()
    with served(video, encoder, RefineMemo(prefill=False)) as client:
        results: list[dict] = []

        def asking() -> None:
            results.append(ask(client, {"text": "red"}))

        threads = [threading.Thread(target=asking) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    expected = grounding_record(ground(video, "red", ColourEncoder(), OPTIONS))
    assert results == [expected] * 4


def test_serve_takes_the_memo_options(video: Path) -> None:
    from typer.testing import CliRunner

    from clipground.cli import app
    from clipground.cli.serve import DEFAULT_LIMIT_MB
    from clipground.serve import memo

    assert DEFAULT_LIMIT_MB == memo.DEFAULT_LIMIT_MB  # the CLI spells it without importing numpy
    shown = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert "--refine-memory" in shown.stdout and "--no-refine-prefill" in shown.stdout
    refused = CliRunner().invoke(app, ["serve", str(video), "--refine-memory", "-1"])
    assert refused.exit_code == 2 and "--refine-memory must be >= 0" in refused.stderr
