"""Tests for clipground.search: every method against the brute-force reference."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clipground import search
from clipground.errors import UsageError
from clipground.search import (
    BALANCE,
    ENUMERATE_UP_TO,
    METHODS,
    NESTED,
    OBJECTIVES,
    Window,
    choose_method,
    similarity,
)
from clipground.search.bounds import Search, allowed_starts
from clipground.search.inputs import make_problem
from clipground.search.nms import (
    ALL_AT_ONCE,
    compatible,
    compatible_each,
    incompatible_starts,
    merged_cuts,
)
from clipground.search.ranges import sliding_min

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOL = 1e-9


# Small inputs normally take the enumeration shortcut; test the exact solver itself on them.
best_window = functools.partial(search.best_window, enumerate_up_to=0)
best_windows = functools.partial(search.best_windows, enumerate_up_to=0)


# ---------------------------------------------------------------- sequences


def _shape(draw: st.DrawFn, m: int) -> np.ndarray:
    kind = draw(st.sampled_from(
        ["floats", "small ints", "constant", "negative", "spikes", "plateaus"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "floats":
        return rng.uniform(-1, 1, m)
    if kind == "small ints":  # heavy ties
        return rng.integers(-2, 3, m).astype(float)
    if kind == "constant":
        return np.full(m, draw(st.sampled_from([0.0, 0.3, -2.0, 7.0])))
    if kind == "negative":
        return -rng.uniform(0.1, 1, m)
    if kind == "spikes":
        s = np.zeros(m)
        s[rng.integers(0, m, size=1 + m // 50)] = rng.choice([1.0, 3.0], size=1 + m // 50)
        return s
    return np.repeat(rng.integers(0, 4, m), rng.integers(1, 20))[:m].astype(float)


@st.composite
def problems(draw: st.DrawFn, max_m: int = 400) -> tuple[np.ndarray, int, int | None]:
    """(scores, min_len, max_len): lengths 1..max_m, L <= U, U = L, U = m, U > m, None."""
    m = draw(st.integers(1, max_m))
    s = _shape(draw, m)
    lo = draw(st.integers(1, m))
    hi = draw(st.one_of(st.just(lo), st.just(m), st.integers(m + 1, m + 50),
                        st.integers(lo, m), st.none()))
    return s, lo, hi


def _is_integral(s: np.ndarray) -> bool:
    return bool(np.all(s == np.round(s)))


def _direct_score(s: np.ndarray, start: int, end: int, objective: str) -> float:
    inside = s[start : end + 1]
    if objective == "mean":
        return float(inside.mean())
    outside = np.concatenate((s[:start], s[end + 1 :]))
    if not outside.size:
        return 0.0
    contrast = float(inside.mean() - outside.mean())
    if objective == "contrast":
        return contrast
    size = inside.size * outside.size / s.size  # balanced: times the effective size ** (1 - p)
    return contrast * size ** (1 - BALANCE)


def _shared(a: Window, b: Window) -> float:
    """The samples two windows share, as a fraction of the shorter."""
    return max(0, min(a.end_sample, b.end_sample) - max(a.start_sample, b.start_sample) + 1) / min(a.length, b.length)


def _iou(a: Window, b: Window) -> float:
    inter = max(0, min(a.end_sample, b.end_sample) - max(a.start_sample, b.start_sample) + 1)
    return inter / (a.length + b.length - inter)


def _assert_valid(found: Window, s: np.ndarray, lo: int, hi: int | None, objective: str) -> None:
    hi = s.size if hi is None else min(hi, s.size)
    assert 0 <= found.start_sample <= found.end_sample < s.size
    assert lo <= found.length <= hi
    assert found.score == pytest.approx(_direct_score(s, found.start_sample, found.end_sample, objective),
                                        abs=TOL)


# ---------------------------------------------------------------- exact == brute


@PROPERTY
@given(problems(), st.sampled_from(OBJECTIVES))
def test_exact_matches_brute_force(problem, objective):
    s, lo, hi = problem
    exact = best_window(s, min_len=lo, max_len=hi, objective=objective)
    brute = best_window(s, min_len=lo, max_len=hi, objective=objective, method="brute")
    _assert_valid(exact, s, lo, hi, objective)
    _assert_valid(brute, s, lo, hi, objective)
    assert exact.score == pytest.approx(brute.score, abs=TOL)
    if _is_integral(s):  # ties are exact there, so the tie rule must pick the same window
        assert exact == brute


@FEW
@given(problems(max_m=120), st.sampled_from(OBJECTIVES), st.integers(2, 4),
       st.sampled_from([0.0, 0.3, 0.7, 1.0]))
def test_exact_top_k_matches_brute_force(problem, objective, top_k, nms_iou):
    s, lo, hi = problem
    kwargs = {"min_len": lo, "max_len": hi, "objective": objective, "top_k": top_k,
              "nms_iou": nms_iou}
    exact = best_windows(s, **kwargs)
    brute = best_windows(s, **kwargs, method="brute")
    assert [w.score for w in exact] == pytest.approx([w.score for w in brute], abs=TOL)
    if _is_integral(s):
        assert exact == brute


def test_brute_force_scores_every_window():
    rng = np.random.default_rng(0)
    s = rng.normal(size=30)
    for objective in OBJECTIVES:
        scores = {(b, e): _direct_score(s, b, e, objective)
                  for b, e in itertools.product(range(30), repeat=2) if 3 <= e - b + 1 <= 11}
        best = max(scores.values())
        found = best_window(s, min_len=3, max_len=11, objective=objective, method="brute")
        assert found.score == pytest.approx(best, abs=TOL)
        assert scores[(found.start_sample, found.end_sample)] == pytest.approx(best, abs=TOL)


# ---------------------------------------------------------------- behaviour choices


@pytest.mark.parametrize("method", ["exact", "brute"])
def test_ties_go_to_the_earliest_then_the_shortest(method):
    s = np.array([0, 5, 5, 0, 5, 5, 5, 0], dtype=float)
    # mean 5 is reached by [1,2], [4,5], [5,6], [4,6]: earliest start wins
    assert best_window(s, min_len=2, objective="mean", method=method) == Window(1, 2, 5.0)
    # a constant: every window ties; the first window of min_len wins
    for objective in OBJECTIVES:
        found = best_window(np.full(10, 0.25), min_len=3, objective=objective, method=method)
        assert (found.start_sample, found.end_sample) == (0, 2)


@pytest.mark.parametrize("method", METHODS)
def test_contrast_of_the_whole_sequence_is_zero(method):
    s = np.array([0.1, 0.2, 0.3])
    assert best_window(s, min_len=3, method=method) == Window(0, 2, 0.0)
    # every proper window stands out negatively here, so the whole sequence wins
    s = np.array([1.0, 0.0, 1.0])
    assert best_window(s, min_len=2, method=method) == Window(0, 2, 0.0)


def test_contrast_is_mean_inside_minus_mean_outside():
    s = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 0.0])
    found = best_window(s, min_len=1, objective="contrast")
    assert found == Window(2, 3, 1.0)
    found = best_window(s, min_len=1, objective="mean")
    assert found == Window(2, 2, 1.0)  # shortest among the ties


def test_max_len_beyond_the_sequence_is_clamped_and_none_means_all():
    s = np.array([0.0, 1.0, 1.0, 1.0, 0.0])
    assert best_window(s, min_len=3, max_len=100) == best_window(s, min_len=3, max_len=5)
    assert best_window(s, min_len=3) == best_window(s, min_len=3, max_len=5)


def test_max_len_caps_the_window():
    s = np.array([0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    assert best_window(s, min_len=1, max_len=2, objective="contrast") == Window(1, 2, 1.0 - 2 / 4)
    size = 2 * 4 / 6  # balanced (the default): contrast times (n (m - n) / m) ** (1 - BALANCE)
    balanced = (1.0 - 2 / 4) * size ** (1 - BALANCE)
    assert best_window(s, min_len=1, max_len=2) == Window(1, 2, balanced)


def test_balanced_prefers_the_whole_moment_where_contrast_drifts_to_a_sliver():
    # a long sequence with one planted moment and noise: outside a long video one moment barely
    # moves the mean, so contrast takes the moment's best couple of samples; balanced takes it whole
    rng = np.random.default_rng(3)
    s = rng.normal(0.0, 0.03, 14_400)
    s[4800:4872] += 0.2
    contrast = best_window(s, min_len=2, max_len=7200, objective="contrast")
    assert contrast.length <= 4 and 4800 <= contrast.start_sample <= 4871
    assert best_window(s, min_len=2, max_len=7200) == best_window(
        s, min_len=2, max_len=7200, objective="balanced", method="brute"
    )
    found = best_window(s, min_len=2, max_len=7200)
    assert (found.start_sample, found.end_sample) == (4800, 4871)


def test_scale_and_offset_do_not_change_the_window():
    rng = np.random.default_rng(1)
    s = rng.normal(size=300)
    base = best_window(s, min_len=7, max_len=90)
    for scaled in (s * 1e-200, s * 1e200, s + 1e3):
        found = best_window(scaled, min_len=7, max_len=90)
        assert (found.start_sample, found.end_sample) == (base.start_sample, base.end_sample)
        assert np.isfinite(found.score)


def test_results_are_deterministic():
    rng = np.random.default_rng(2)
    s = rng.normal(size=2000)
    for method in METHODS:
        first = best_windows(s, min_len=5, max_len=400, method=method)
        assert best_windows(s, min_len=5, max_len=400, method=method) == first


# ---------------------------------------------------------------- top-k and NMS


@PROPERTY
@given(problems(max_m=200), st.sampled_from(OBJECTIVES), st.sampled_from(METHODS),
       st.integers(1, 6), st.sampled_from([0.0, 0.1, 0.3, 0.5, 1.0]))
def test_nms_invariants(problem, objective, method, top_k, nms_iou):
    s, lo, hi = problem
    found = best_windows(s, min_len=lo, max_len=hi, objective=objective, top_k=top_k,
                         nms_iou=nms_iou, method=method)
    assert 1 <= len(found) <= top_k
    assert found[0] == best_window(s, min_len=lo, max_len=hi, objective=objective,
                                   method=method)
    for w in found:
        _assert_valid(w, s, lo, hi, objective)
    assert all(a.score >= b.score - TOL for a, b in itertools.pairwise(found))
    for a, b in itertools.combinations(found, 2):
        assert a != b and _iou(a, b) <= nms_iou and _shared(a, b) <= NESTED


@FEW
@given(problems(max_m=40), st.sampled_from(OBJECTIVES), st.sampled_from([0.0, 0.3]))
def test_exact_top_k_stops_only_when_nothing_fits(problem, objective, nms_iou):
    s, lo, hi = problem
    found = best_windows(s, min_len=lo, max_len=hi, objective=objective, top_k=40,
                         nms_iou=nms_iou)
    if len(found) == 40:
        return
    top = s.size if hi is None else min(hi, s.size)
    starts, ends = np.array([(b, e) for b in range(s.size)
                             for e in range(b + lo - 1, min(s.size, b + top))]).T
    blocked = np.zeros(starts.size, dtype=bool)
    for c in found:
        inter = np.clip(np.minimum(ends, c.end_sample) - np.maximum(starts, c.start_sample) + 1, 0, None)
        union = (ends - starts + 1) + c.length - inter
        shorter = np.minimum(ends - starts + 1, c.length)
        blocked |= (inter / union > nms_iou) | (inter / shorter > NESTED)
    assert blocked.all()  # every window overlaps a chosen one too much, or mostly lies in it


def test_top_k_skips_windows_inside_a_chosen_one():
    # one wide bump with a peak in it, far from a second bump: under a low IoU threshold the
    # slivers of the first bump would pass NMS (a 3-sample window in a 40-sample one has IoU
    # 0.075), but they are not other moments: the second candidate is the second bump
    s = np.zeros(400)
    s[100:140] = 1.0
    s[118:121] = 1.3
    s[300:320] = 0.6
    for method in METHODS:
        found = best_windows(s, min_len=3, max_len=200, objective="balanced", top_k=2,
                             nms_iou=0.3, method=method)
        assert (found[1].start_sample, found[1].end_sample) == (300, 319), method
        assert _shared(found[0], found[1]) == 0


def test_top_k_separates_two_peaks():
    s = np.zeros(100)
    s[10:20] = 1.0
    s[60:70] = 0.8
    found = best_windows(s, min_len=10, max_len=10, objective="mean", top_k=2, nms_iou=0.0)
    assert [(w.start_sample, w.end_sample) for w in found] == [(10, 19), (60, 69)]


# ---------------------------------------------------------------- multiscale


@PROPERTY
@given(problems(), st.sampled_from(OBJECTIVES))
def test_multiscale_is_valid_and_never_beats_exact(problem, objective):
    s, lo, hi = problem
    multi = best_window(s, min_len=lo, max_len=hi, objective=objective, method="multiscale")
    exact = best_window(s, min_len=lo, max_len=hi, objective=objective)
    _assert_valid(multi, s, lo, hi, objective)
    assert multi.score <= exact.score + TOL


def _planted(m: int, rng: np.random.Generator) -> tuple[np.ndarray, int, int]:
    min_len = int(rng.choice([5, 20, 60]))
    rho = 0.9
    noise = np.convolve(rng.normal(0, 0.02 * np.sqrt(1 - rho**2), m), rho ** np.arange(60))[:m]
    s = 0.2 + noise
    for _ in range(3):
        n = int(rng.integers(min_len, m // 4))
        start = int(rng.integers(0, m - n))
        s[start : start + n] += rng.uniform(0.01, 0.08)
    return s, min_len, int(rng.choice([m // 4, m]))


def test_multiscale_finds_the_optimum_of_realistic_sequences():
    # scripts/bench_search.py measures this at scale; here a fixed sample keeps it honest
    rng = np.random.default_rng(3)
    hits = 0
    for _ in range(60):
        s, lo, hi = _planted(3000, rng)
        exact = best_window(s, min_len=lo, max_len=hi)
        multi = best_window(s, min_len=lo, max_len=hi, method="multiscale")
        hits += abs(exact.score - multi.score) <= TOL
    assert hits >= 57  # 95%; measured 100% on this sample


def test_choose_method_keeps_exact_where_multiscale_is_not_proven():
    assert choose_method(10**6, min_len=1000, objective="mean") == "exact"  # exact is O(m)
    assert choose_method(10**5, min_len=100, max_len=25_000) == "exact"  # ~0.1 s exactly
    assert choose_method(10**6, min_len=1000) == "multiscale"  # ~1 s exactly, ~17x faster
    assert choose_method(10**6, min_len=1000, objective="contrast") == "multiscale"  # ~25x
    with pytest.raises(UsageError, match="min_len=20"):
        choose_method(10, min_len=20)


# ---------------------------------------------------------------- internals


@PROPERTY
@given(st.lists(st.floats(-10, 10), min_size=1, max_size=300), st.integers(1, 300))
def test_sliding_min_matches_naive(values, width):
    x = np.array(values)
    width = min(width, x.size)
    expected = [min(values[i : i + width]) for i in range(x.size - width + 1)]
    assert sliding_min(x, width).tolist() == expected


@PROPERTY
@given(st.integers(0, 60), st.integers(1, 40), st.sampled_from([0.0, 0.2, 0.3, 0.5, 0.99, 1.0]))
def test_incompatible_starts_are_exactly_the_windows_nms_forbids(start, length, nms_iou):
    ends = np.arange(0, 120)
    lo, hi = incompatible_starts(ends, start, length, nms_iou)
    for end, a, b in zip(ends, lo, hi, strict=True):
        starts = np.arange(end + 1)
        bad = ~compatible(starts, end - starts + 1, [(start, length)], nms_iou)
        expected = set(np.flatnonzero(bad).tolist())
        assert expected == set(range(a, b + 1))


CHOSEN = st.lists(st.tuples(st.integers(0, 50), st.integers(1, 30)), min_size=2, max_size=6)


@PROPERTY
@given(CHOSEN, st.sampled_from([0.0, 0.3, 0.7, 1.0]))
def test_compatible_checks_all_chosen_at_once_as_one_at_a_time(chosen, nms_iou):
    starts, lengths = np.arange(60)[:, None], np.arange(1, 5)[None, :]  # 240: all at once
    assert 240 <= ALL_AT_ONCE
    expected = compatible_each(starts, lengths, chosen, nms_iou)
    assert np.array_equal(compatible(starts, lengths, chosen, nms_iou), expected)
    for start, length in [(0, 1), (10, 20), *chosen]:
        one = compatible(np.array(start), length, chosen, nms_iou)
        assert one == compatible_each(np.array(start), length, chosen, nms_iou)


@PROPERTY
@given(CHOSEN, st.sampled_from([0.0, 0.3, 0.7, 1.0]), st.integers(1, 80), st.integers(0, 80))
def test_allowed_starts_are_the_compatible_ones(chosen, nms_iou, end, back):
    problem = make_problem(np.zeros(90), 1, None, "mean")
    known: dict = {}
    run = Search(problem, chosen, nms_iou, known_cuts=known)
    first = max(0, end - back)
    starts = np.arange(first, end)
    expected = compatible(starts, end - starts, chosen, nms_iou)
    assert allowed_starts(run, first, end - 1, end).tolist() == expected.tolist()
    assert set(known) == set(chosen)  # the cuts made are kept for the next greedy step


@PROPERTY
@given(st.lists(st.lists(st.tuples(st.integers(0, 30), st.integers(-3, 30)),
                         min_size=5, max_size=5), min_size=1, max_size=6))
def test_merged_cuts_forbid_the_same_starts_in_fewer_rows(rows):
    # rows of (lo, hi) cuts over 5 ends; lo > hi is an empty cut, stored as search makes them
    never = np.iinfo(np.int64).max // 4
    lows = np.array([[lo if lo <= hi else never for lo, hi in row] for row in rows])
    highs = np.array([[hi if lo <= hi else never - 1 for lo, hi in row] for row in rows])
    order = np.argsort(lows, axis=0, kind="stable")
    lows, highs = np.take_along_axis(lows, order, 0), np.take_along_axis(highs, order, 0)
    merged_lows, merged_highs = merged_cuts(lows, highs)
    assert merged_lows.shape[0] <= max(1, len(rows))
    for col in range(5):
        def starts(lo, hi, col=col):
            return {i for a, b in zip(lo[:, col], hi[:, col]) if a <= b for i in range(a, b + 1)}
        assert starts(merged_lows, merged_highs) == starts(lows, highs)
        real = [(a, b) for a, b in zip(merged_lows[:, col], merged_highs[:, col]) if a <= b]
        assert all(b1 + 1 < a2 for (_, b1), (a2, _) in itertools.pairwise(real))  # apart, in order
        rest = zip(merged_lows[len(real) :, col], merged_highs[len(real) :, col])
        assert all(a > b for a, b in rest)  # then only empty rows


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("scores", "kwargs", "message"),
    [
        ([], {"min_len": 1}, "empty"),
        ([[1.0, 2.0]], {"min_len": 1}, "1-D"),
        ([0.1, float("nan")], {"min_len": 1}, "nan"),
        ([0.1, float("inf")], {"min_len": 1}, "inf"),
        (["a"], {"min_len": 1}, "numeric"),
        ([0.1, 0.2], {"min_len": 0}, "min_len must be >= 1"),
        ([0.1, 0.2], {"min_len": 3}, "min_len=3"),
        ([0.1, 0.2], {"min_len": 2, "max_len": 1}, "max_len=1"),
        ([0.1, 0.2], {"min_len": 1.5}, "1.5"),
        ([0.1, 0.2], {"min_len": True}, "True"),
        ([0.1, 0.2], {"min_len": 1, "objective": "median"}, "median"),
        ([0.1, 0.2], {"min_len": 1, "method": "fast"}, "fast"),
        ([0.1, 0.2], {"min_len": 1, "top_k": 0}, "top_k"),
        ([0.1, 0.2], {"min_len": 1, "nms_iou": 1.5}, "1.5"),
        ([0.1, 0.2], {"min_len": 1, "enumerate_up_to": 0.5}, "enumerate_up_to"),
    ],
)
def test_bad_input_raises_usage_error_naming_the_value(scores, kwargs, message):
    with pytest.raises(UsageError, match=message):
        best_windows(scores, **kwargs)
    assert issubclass(UsageError, ValueError)


def test_window_validates_itself():
    assert Window(2, 4, 0.5).length == 3
    with pytest.raises(UsageError, match="start_sample=-1"):
        Window(-1, 3, 0.0)
    with pytest.raises(UsageError, match="end_sample=2"):
        Window(3, 2, 0.0)


def test_similarity_is_cosine_and_safe():
    frames = np.array([[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0], [1e200, 1e200]])
    query = np.array([2.0, 0.0])
    got = similarity(frames, query)
    assert got.dtype == np.float64 and got.shape == (4,)
    assert got == pytest.approx([0.6, 0.0, -1.0, np.sqrt(0.5)])
    with pytest.raises(UsageError, match="sizes differ"):
        similarity(frames, np.ones(3))
    with pytest.raises(UsageError, match="2-D"):
        similarity(np.ones(3), query)
    with pytest.raises(UsageError, match="nan"):
        similarity(np.array([[np.nan, 1.0]]), query)



def test_small_inputs_take_the_enumeration_shortcut_with_the_same_answers():
    s = np.random.default_rng(5).normal(size=300)
    assert s.size * (60 - 4 + 1) <= ENUMERATE_UP_TO  # what callers get by default: enumeration
    slow = best_windows(s, min_len=4, max_len=60, top_k=5)  # branch and bound
    fast = search.best_windows(s, min_len=4, max_len=60, top_k=5)
    assert [(w.start_sample, w.end_sample) for w in fast] == [(w.start_sample, w.end_sample) for w in slow]
    assert [w.score for w in fast] == pytest.approx([w.score for w in slow], abs=1e-12)
