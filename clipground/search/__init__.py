"""Window search: the best [start, end] windows of a per-sample similarity sequence.

Pure numpy: no I/O, logging, clock or torch. `similarity` turns embeddings into scores;
`best_windows` finds the top-k windows under one of OBJECTIVES (objectives.py) by one of METHODS
(windows.py); `refine_window` re-solves a window's boundaries on irregular samples (refine.py).
"""

from __future__ import annotations

from clipground.options import OBJECTIVES
from clipground.search.exact import ENUMERATE_UP_TO
from clipground.search.inputs import similarity
from clipground.search.nms import NESTED
from clipground.search.objectives import BALANCE, TIE_RTOL, Window, size_factor
from clipground.search.refine import Curve, TimedWindow, refine_window
from clipground.search.windows import METHODS, best_window, best_windows, choose_method

__all__ = [
    "BALANCE",
    "ENUMERATE_UP_TO",
    "METHODS",
    "NESTED",
    "OBJECTIVES",
    "TIE_RTOL",
    "Curve",
    "TimedWindow",
    "Window",
    "best_window",
    "best_windows",
    "choose_method",
    "refine_window",
    "similarity",
    "size_factor",
]
