"""The public search: validate, run the chosen method, score the windows it picks.

Methods: "exact" (exact.py, the default), "brute" (brute.py, every window: the reference) and
"multiscale" (multiscale.py, a coarse-to-fine heuristic for long sequences). All take the top-k
by the same greedy NMS (nms.py) and break ties alike: the earliest start, then the shortest.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from clipground.errors import UsageError
from clipground.options import METHODS, OBJECTIVES
from clipground.search.brute import search_brute
from clipground.search.exact import ENUMERATE_UP_TO, search_exact
from clipground.search.inputs import as_int, check_choice, check_lengths, make_problem
from clipground.search.multiscale import search_multiscale
from clipground.search.objectives import Window, score_window

# choose_method picks multiscale for contrast and balanced from here on, where
# scripts/bench_search.py measures it close to always exact and many times faster; below,
# exactness is cheap.
_AUTO_MIN_SAMPLES = 500_000


def best_window(
    scores: ArrayLike,
    *,
    min_len: int,
    max_len: int | None = None,
    objective: str = "balanced",
    method: str = "exact",
    enumerate_up_to: int = ENUMERATE_UP_TO,
) -> Window:
    """The best window with min_len <= length <= max_len (None: the whole sequence)."""
    found = best_windows(
        scores, min_len=min_len, max_len=max_len, objective=objective, top_k=1, method=method,
        enumerate_up_to=enumerate_up_to,
    )
    return found[0]


def best_windows(
    scores: ArrayLike,
    *,
    min_len: int,
    max_len: int | None = None,
    objective: str = "balanced",
    top_k: int = 5,
    nms_iou: float = 0.3,
    method: str = "exact",
    enumerate_up_to: int = ENUMERATE_UP_TO,
) -> list[Window]:
    """Up to top_k windows, best first, none overlapping an earlier one by IoU above nms_iou.

    enumerate_up_to: "exact" scores every window of problems with at most this many (samples x
    lengths), which is faster there than branch and bound; 0 runs branch and bound always."""
    problem = make_problem(scores, min_len, max_len, objective)
    check_choice("method", method, METHODS)
    top_k = as_int("top_k", top_k)
    if top_k < 1:
        raise UsageError(f"top_k must be >= 1, got {top_k}")
    if not isinstance(nms_iou, (int, float, np.number)) or not 0.0 <= nms_iou <= 1.0:
        raise UsageError(f"nms_iou must be a number in [0, 1], got {nms_iou!r}")
    enumerate_up_to = as_int("enumerate_up_to", enumerate_up_to)
    if method == "multiscale":
        picks = search_multiscale(problem, top_k, float(nms_iou))
    elif method == "brute":
        picks = search_brute(problem, top_k, float(nms_iou))
    else:
        picks = search_exact(problem, top_k, float(nms_iou), enumerate_up_to=enumerate_up_to)
    return [score_window(problem, start, length) for start, length in picks]


def choose_method(
    n_samples: int, *, min_len: int, max_len: int | None = None, objective: str = "balanced"
) -> str:
    """"multiscale" where the bench measured it >= 99% exact and far faster, else "exact"."""
    check_choice("objective", objective, OBJECTIVES)
    check_lengths(n_samples, min_len, max_len)  # the same errors best_window would raise
    if objective != "mean" and n_samples >= _AUTO_MIN_SAMPLES:
        return "multiscale"
    return "exact"  # exact mean is O(m); exact contrast below the cut takes well under a second
