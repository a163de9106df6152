"""Boundary refinement: the time-weighted objective, and frame-accurate answers from a coarse pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipground import search
from clipground.pipeline import GroundOptions, ground
from clipground.search import Curve, refine_window
from clipground.search.refine import window_scores
from conftest import make_video
from fakes import ColourEncoder


@pytest.mark.parametrize("objective", search.OBJECTIVES)
def test_regular_grid_equals_the_per_sample_objective(objective: str) -> None:
    values = np.random.default_rng(1).normal(size=40)
    step = 0.5  # seconds per sample: balanced's size factor is in seconds here, in samples there
    curve = Curve(np.arange(40.0) * step, 20.0, values)
    best = search.best_window(values, min_len=3, max_len=40, objective=objective, method="brute")
    scores = window_scores(curve, np.arange(40), np.arange(40), objective)
    lengths = np.arange(40)[None, :] - np.arange(40)[:, None] + 1
    scores[lengths < 3] = np.nan
    unit = step ** (1 - search.BALANCE) if objective == "balanced" else 1.0
    assert np.nanmax(scores) == pytest.approx(best.score * unit, abs=1e-9)
    first, last = np.unravel_index(int(np.nanargmax(scores)), scores.shape)
    assert (first, last) == (best.start_sample, best.end_sample)


def test_weights_follow_time_not_sample_count() -> None:
    # one long low sample and many short high ones: time, not count, decides the mean
    curve = Curve(np.array([0.0, 9.0, 9.5]), 10.0, np.array([0.0, 1.0, 1.0]))
    scores = window_scores(curve, np.array([0]), np.array([2]), "mean")
    assert scores[0, 0] == pytest.approx(0.1)


def test_refine_finds_the_planted_edge_between_coarse_samples() -> None:
    times = np.concatenate([np.arange(0, 20.0, 1.0), np.arange(6.0, 8.0, 0.04), np.arange(12.0, 14.0, 0.04)])
    times = np.unique(np.round(times, 6))
    values = ((times >= 7.36) & (times < 12.68)).astype(float)
    w = refine_window(Curve(times, 20.0, values), 7.0, 13.0, 1.0, "contrast", min_len_s=1.0)
    assert w is not None
    assert times[w.first] == pytest.approx(7.36) and np.append(times, 20.0)[w.last + 1] == pytest.approx(12.68)


def test_refine_respects_length_limits() -> None:
    times = np.arange(0, 10.0, 0.1)
    values = ((times >= 3) & (times < 7)).astype(float)
    w = refine_window(Curve(times, 10.0, values), 3.0, 7.0, 1.0, "mean", max_len_s=2.0)
    assert w is not None and np.append(times, 10.0)[w.last + 1] - times[w.first] <= 2.0 + 1e-9
    assert refine_window(Curve(times, 10.0, values), 3.0, 7.0, 0.5, "mean", min_len_s=9.0) is None


@pytest.fixture(scope="module")
def red_segment(tmp_path_factory) -> Path:
    """20 s at 25 fps: black, red from frame 184 (7.36 s) to 316 (12.68 s exclusive), black."""
    frames = [np.full((32, 48, 3), (200, 0, 0) if 184 <= i <= 316 else (0, 0, 0), np.uint8) for i in range(500)]
    return make_video(tmp_path_factory.mktemp("refine") / "red.mp4", frames, fps=25)


def test_two_pass_is_frame_accurate_with_far_fewer_frames(red_segment: Path) -> None:
    encoder = ColourEncoder()
    coarse = ground(red_segment, "red", encoder, GroundOptions(fps=1, refine=False))
    assert (coarse.best.start_frame, coarse.best.end_frame) != (184, 316)  # 1 fps cannot see the edges
    encoder = ColourEncoder()
    fine = ground(red_segment, "red", encoder, GroundOptions(fps=1, refine=True, top_k=1))
    assert (fine.best.start_frame, fine.best.end_frame) == (184, 316)
    assert fine.best.start_s == pytest.approx(7.36) and fine.best.end_s == pytest.approx(12.68)
    assert fine.frames_embedded == encoder.frames_seen
    # 20 coarse samples, then every frame within two coarse steps (2 s) of the two coarse boundaries
    assert fine.frames_embedded <= 20 + 2 * (4 * 25 + 1)


@pytest.mark.parametrize("objective", search.OBJECTIVES)
def test_two_pass_agrees_with_dense(red_segment: Path, objective: str) -> None:
    dense = ground(red_segment, "red", ColourEncoder(), GroundOptions(25, refine=False, objective=objective))
    fine = ground(red_segment, "red", ColourEncoder(), GroundOptions(1, refine=True, objective=objective))
    if objective != "mean":  # mean's best window is a sliver anywhere in the segment
        assert (dense.best.start_frame, dense.best.end_frame) == (fine.best.start_frame, fine.best.end_frame)
    # scores in the same units, whatever the rate and whether refined: candidates of both kinds
    # are ranked together (balanced's size factor is taken in seconds)
    assert fine.best.score == pytest.approx(dense.best.score, rel=1e-6)


def test_auto_refines_only_long_videos(red_segment: Path) -> None:
    auto = ground(red_segment, "red", ColourEncoder(), GroundOptions(fps=1))
    assert auto.frames_embedded == auto.num_sampled == 20  # 20 s is short: one pass


def test_ordered_span_refines_each_sentence_on_its_own_curve(tmp_path: Path) -> None:
    colours = [(0, 0, 0)] * 93 + [(200, 0, 0)] * 117 + [(0, 0, 200)] * 131 + [(0, 0, 0)] * 159
    frames = [np.full((32, 48, 3), c, np.uint8) for c in colours]
    video = make_video(tmp_path / "red_blue.mp4", frames, fps=25)
    g = ground(video, ["red", "blue"], ColourEncoder(), GroundOptions(fps=1, refine=True, span_mode="ordered"))
    red, blue = g.sentences
    assert (red.start_frame, red.end_frame) == (93, 209)
    assert (blue.start_frame, blue.end_frame) == (210, 340)
    assert (g.best.start_frame, g.best.end_frame) == (93, 340)


def test_ordered_refinement_solves_the_same_objective_as_dense(tmp_path: Path) -> None:
    # Blue fades out over 4 s. Ordered search scores "blue" against the stretch after "red" only, so
    # where the fade stops counting as blue depends on that stretch; refinement must use it too.
    fade = [(0, 0, round(200 * (1 - i / 100))) for i in range(100)]
    colours = [(0, 0, 0)] * 60 + [(200, 0, 0)] * 240 + [(0, 0, 200)] * 90 + fade + [(0, 0, 0)] * 110
    video = make_video(tmp_path / "fade.mp4", [np.full((32, 48, 3), c, np.uint8) for c in colours], fps=25)
    options = {"span_mode": "ordered", "min_len_s": 1.0}
    dense = ground(video, ["red", "blue"], ColourEncoder(), GroundOptions(fps=25, refine=False, **options))
    two = ground(video, ["red", "blue"], ColourEncoder(), GroundOptions(fps=1, refine=True, **options))
    assert two.frames_embedded < dense.frames_embedded
    for d, t in zip(dense.sentences, two.sentences):
        assert abs(d.start_frame - t.start_frame) <= 1 and abs(d.end_frame - t.end_frame) <= 1


def test_each_ordered_sentence_keeps_its_best_refined_alternative() -> None:
    from clipground.pipeline.refine import refine_in_order
    from clipground.types import Moment

    def at(start_s: float, end_s: float, score: float = 0.0) -> Moment:
        return Moment(round(start_s * 10), round(end_s * 10) - 1, start_s, end_s, score)

    calls = []

    def refine(m: Moment, query: np.ndarray, from_s: float, to_s: float) -> Moment | None:
        calls.append((m.start_s, from_s, to_s))
        if m.start_s >= 50:  # nothing near this coarse window fits: no refined window
            return None
        return at(m.start_s + 0.3, m.end_s + 0.3, score=m.end_s - m.start_s)  # longer scores higher

    first = [at(0, 10), at(20, 22)]
    second = [at(11, 13), at(14, 30), at(50, 55)]  # coarse best first, as `_ordered_alternatives` lists
    parts = refine_in_order([first, second], np.zeros((2, 3)), refine, duration_s=60.0, min_len_s=1.0)
    assert parts is not None
    assert [(p.start_s, p.end_s) for p in parts] == [(0.3, 10.3), (14.3, 30.3)]
    # the first sentence leaves room for the second; the second starts after the refined first
    assert calls[:2] == [(0, 0.0, 59.0), (20, 0.0, 59.0)]
    assert [c[1:] for c in calls[2:]] == [(10.3, 60.0)] * 3
    assert refine_in_order([[at(50, 55)]], np.zeros((1, 3)), refine, 60.0, 1.0) is None


def test_a_refine_pass_that_cannot_decode_keeps_the_coarse_answer(red_segment: Path, caplog) -> None:
    from clipground import pipeline
    from clipground.errors import VideoError

    options = GroundOptions(fps=1, refine=True)
    embedded = pipeline.embed_video(red_segment, ColourEncoder(), options)
    text = pipeline.encode_query(ColourEncoder(), ["red"])
    coarse = pipeline.ground_samples(embedded, ["red"], text, options)

    def gone(*args, **kwargs):
        raise VideoError(f"{red_segment}: no such file")

    g = pipeline.ground_embedded(embedded, ["red"], text, ColourEncoder(), options, sampler=gone)
    assert g == coarse
    assert "boundaries not refined" in caplog.text


def test_each_decoding_pass_probes_the_file_once(red_segment: Path) -> None:
    from clipground.video import FrameSampler, Readers, probe_stream

    calls = []

    def counted(path, opener):
        calls.append(path)
        return probe_stream(path, opener)

    def sampler(*args, **kwargs) -> FrameSampler:
        return FrameSampler(*args, readers=Readers(probe=counted), **kwargs)

    ground(red_segment, "red", ColourEncoder(), GroundOptions(fps=1, refine=False), sampler=sampler)
    assert len(calls) == 1


def test_the_refine_pass_decodes_every_span_in_one_pass(red_segment: Path) -> None:
    """Several candidates give several boundary spans: one sampler (one probe, one packet scan,
    one pass, seeking or skipping between spans) embeds them all, and the answer is the same as
    embedding each span with a pass of its own."""
    from clipground.video import FrameSampler

    options = GroundOptions(fps=1, refine=True, top_k=3, nms_iou=0.0)
    made = []

    def recorded(*args, **kwargs) -> FrameSampler:
        made.append(kwargs)
        return FrameSampler(*args, **kwargs)

    one_pass = ground(red_segment, "red", ColourEncoder(), options, sampler=recorded)
    spans = made[-1]["ranges"]
    assert len(made) == 2 and len(spans) >= 3  # the first pass, then one pass over every span

    class PassPerSpan:
        """The frames of each span from a sampler of its own, one after the other."""

        def __init__(self, *args, ranges=None, **kwargs) -> None:
            self.passes = [FrameSampler(*args, ranges=[r], **kwargs) for r in ranges or [None]]
            self.info = self.passes[0].info

        def chunks_unordered(self, workers: int):
            for one in self.passes:
                yield from one.chunks_unordered(workers)

        def summary(self):
            return self.passes[0].summary()

    def per_span(*args, ranges=None, **kwargs):
        return FrameSampler(*args, **kwargs) if ranges is None else PassPerSpan(*args, ranges=ranges, **kwargs)

    assert ground(red_segment, "red", ColourEncoder(), options, sampler=per_span) == one_pass


def test_a_refine_pass_past_its_time_limit_keeps_the_coarse_answer(red_segment: Path, caplog) -> None:
    """`refine_timeout_s` (batch's and search's --timeout): a second pass stuck inside the decoder
    is given up at the deadline, with a warning, and the first pass's answer stands."""
    import threading
    import time

    from clipground import pipeline

    options = GroundOptions(fps=1, refine=True, refine_timeout_s=0.5)
    embedded = pipeline.embed_video(red_segment, ColourEncoder(), options)
    text = pipeline.encode_query(ColourEncoder(), ["red"])
    coarse = pipeline.ground_samples(embedded, ["red"], text, options)
    release = threading.Event()

    class Stuck:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def chunks_unordered(self, workers: int):
            release.wait(30)  # a decoder that never returns (until the test lets it go)
            yield from ()

    start = time.monotonic()
    try:
        g = pipeline.ground_embedded(embedded, ["red"], text, ColourEncoder(), options, sampler=Stuck)
    finally:
        release.set()
    assert g == coarse and time.monotonic() - start < 10
    assert "boundaries not refined" in caplog.text and "longer than --timeout 0.5 s" in caplog.text


def test_the_refine_time_limit_must_be_positive() -> None:
    from clipground.errors import UsageError

    with pytest.raises(UsageError, match="--timeout"):
        GroundOptions(refine_timeout_s=0)
