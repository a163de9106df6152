"""Pictures of results: the similarity curve over time with the chosen window(s) shaded.

matplotlib is an optional extra (`pip install 'clipground[plot]'`); it is imported only here, only
when a plot is asked for, and drawn on a standalone Figure (no pyplot, no global backend switch).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clipground.errors import UsageError
from clipground.types import Grounding

_WIDTH_IN, _HEIGHT_IN, _DPI = 11.0, 4.2, 110
_MAX_LEGEND = 12  # sentences listed in an alignment's legend; more would cover the curves


def plot_grounding(
    path: str | Path,
    times_s: np.ndarray,
    curve: np.ndarray,
    grounding: Grounding,
    sentence_curves: Sequence[np.ndarray] = (),
) -> Path:
    """Similarity `curve` (N,) at `times_s` (N,) with the best window shaded, and below it a lane
    with every candidate (rank, best first) as a bar; a PNG."""
    fig, (ax, lane) = _figure(rows=2)
    duration = grounding.duration_s
    for i, sentence in enumerate(sentence_curves):
        _steps(
            ax,
            times_s,
            sentence,
            duration,
            color=f"C{i % 10}",
            lw=0.8,
            alpha=0.7,
            label=f"sentence {i}",
        )
    label = "similarity" if len(sentence_curves) < 2 else "mean query"
    _steps(ax, times_s, curve, duration, color="black", lw=1.4, label=label, zorder=3)
    best = grounding.best
    ax.axvspan(
        best.start_s, best.end_s, color="tab:orange", alpha=0.3, label="best window", zorder=1
    )
    for i, m in enumerate(grounding.sentences):  # span mode "ordered": each sentence's own window
        ax.axvspan(m.start_s, m.end_s, ymax=0.04, color=f"C{i % 10}", alpha=0.9)
    ax.set_title(_title(" / ".join(grounding.query)), fontsize=11)
    _finish(ax, duration, "cosine similarity", xlabel=False)
    _candidates(lane, grounding)
    return _save(fig, path)


def _candidates(lane: Any, grounding: Grounding) -> None:
    """One bar per candidate window, rank 1 (the answer) on top, with its score."""
    ranks = range(1, len(grounding.candidates) + 1)
    for rank, m in zip(ranks, grounding.candidates):
        colour = "tab:orange" if rank == 1 else "tab:gray"
        lane.barh(rank, m.end_s - m.start_s, left=m.start_s, height=0.6, color=colour)
        lane.annotate(
            f"{m.score:.3g}",
            (m.end_s, rank),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=7,
            color="dimgray",
        )
    lane.set_yticks(list(ranks), [f"#{r}" for r in ranks], fontsize=7)
    lane.set_ylim(len(grounding.candidates) + 0.6, 0.4)
    lane.set_ylabel("candidates", fontsize=8)
    _finish(lane, grounding.duration_s, None)


def _steps(
    ax: Any, times_s: np.ndarray, values: np.ndarray, duration_s: float, **style: Any
) -> None:
    """A sample's value holds until the next sample (as its window does), the last until the end."""
    t = np.append(times_s, max(duration_s, float(times_s[-1])))
    ax.plot(t, np.append(values, values[-1]), drawstyle="steps-post", **style)


def plot_alignment(
    path: str | Path,
    times_s: np.ndarray,
    curves: np.ndarray,
    texts: Sequence[str],
    windows_s: Sequence[tuple[float, float]],
    duration_s: float,
    title: str,
) -> Path:
    """Each sentence's curve (K, N) in its colour, its aligned segment shaded in the same; a PNG."""
    fig, ax = _figure()
    colours = _colours(len(texts))
    for i, (curve, text, (start, end)) in enumerate(zip(curves, texts, windows_s)):
        label = f"{i}: {textwrap.shorten(text, 50)}" if len(texts) <= _MAX_LEGEND else None
        _steps(ax, times_s, curve, duration_s, color=colours[i], lw=1.1, label=label, zorder=3)
        ax.axvspan(start, end, color=colours[i], alpha=0.22, zorder=1)
        ax.text(
            (start + end) / 2,
            1.0,
            str(i),
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
            color=colours[i],
        )
    ax.set_title(_title(title), fontsize=11, pad=14)
    _finish(ax, duration_s, "cosine similarity")
    return _save(fig, path)


def check_target(path: str | Path) -> Path:
    """Refuse early (before any decoding) a plot that cannot be drawn or saved."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise UsageError(f"--plot {path}: give a file name ending in .png")
    if not path.parent.is_dir():
        raise UsageError(f"--plot {path}: folder {path.parent} does not exist")
    _matplotlib()
    return path


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise UsageError(
            "--plot needs matplotlib, which is not installed: pip install 'clipground[plot]'"
        ) from None
    return Figure


def _figure(rows: int = 1) -> tuple[Any, Any]:
    fig = _matplotlib()(
        figsize=(_WIDTH_IN, _HEIGHT_IN + 1.2 * (rows - 1)), dpi=_DPI, layout="constrained"
    )
    if rows == 1:
        return fig, fig.add_subplot()
    return fig, fig.subplots(
        rows, 1, sharex=True, gridspec_kw={"height_ratios": [4] + [1.3] * (rows - 1)}
    )


def _colours(k: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if k <= 10 else "tab20" if k <= 20 else "hsv"]
    return [cmap(i % cmap.N) if k <= 20 else cmap(i / k) for i in range(k)]


def _title(text: str) -> str:
    return "\n".join(textwrap.wrap(text, 110)[:2]) or "(no text)"


def _finish(ax: Any, duration_s: float, ylabel: str | None, xlabel: bool = True) -> None:
    ax.set_xlim(0.0, duration_s)
    if xlabel:
        ax.set_xlabel("time (s)")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.tick_params(labelbottom=True)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)


def _save(fig: Any, path: str | Path) -> Path:
    path = check_target(path)
    try:
        fig.savefig(path)
    except OSError as exc:
        raise UsageError(f"--plot {path}: cannot write the picture ({exc})") from None
    return path
