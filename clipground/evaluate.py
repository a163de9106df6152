"""Grounding accuracy the way the field reports it: R@k at temporal IoU thresholds, and mIoU.

Annotations come in the Charades-STA format (`video_id start end##sentence`) or as JSON lines
(`{"video", "query": [sentences], "start_s", "end_s", "kind"?, "id"?}`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from clipground.errors import ClipgroundError, UsageError
from clipground.numeric import temporal_iou

IOU_THRESHOLDS = (0.3, 0.5, 0.7)
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".3gp", ".gif")


@dataclass(frozen=True)
class Annotation:
    """One query and its ground-truth window."""

    id: str
    video: str  # a file name or id, resolved against the videos folder
    query: tuple[str, ...]
    start_s: float
    end_s: float
    kind: str = "single"

    def __post_init__(self) -> None:
        if not 0 <= self.start_s <= self.end_s:
            raise UsageError(f"annotation {self.id}: bad window {self.start_s}..{self.end_s} s")
        if not self.query:
            raise UsageError(f"annotation {self.id}: empty query")


@dataclass(frozen=True)
class Outcome:
    """What the grounding returned for one annotation: candidate windows (s), best first."""

    annotation: Annotation
    windows_s: tuple[tuple[float, float], ...]  # empty when the video failed
    error: str | None = None

    def ious(self) -> list[float]:
        """IoU of each candidate with the ground truth."""
        gt = (self.annotation.start_s, self.annotation.end_s)
        return [temporal_iou(w, gt) for w in self.windows_s]


def recall_at(outcomes: Sequence[Outcome], k: int, threshold: float) -> float:
    """Fraction of queries with some top-`k` candidate at IoU >= `threshold` (failures count as misses)."""
    if not outcomes:
        return 0.0
    hits = sum(any(iou >= threshold for iou in o.ious()[:k]) for o in outcomes)
    return hits / len(outcomes)


def mean_iou(outcomes: Sequence[Outcome]) -> float:
    """Mean IoU of the top-1 window (failures count as 0)."""
    if not outcomes:
        return 0.0
    return sum((o.ious() or [0.0])[0] for o in outcomes) / len(outcomes)


def summarize(outcomes: Sequence[Outcome]) -> dict[str, float | int]:
    """R@1 at IoU 0.3/0.5/0.7, R@5 at IoU 0.5, mIoU, and counts."""
    metrics: dict[str, float | int] = {"queries": len(outcomes)}
    metrics["failed"] = sum(o.error is not None for o in outcomes)
    for t in IOU_THRESHOLDS:
        metrics[f"R@1,IoU={t}"] = round(recall_at(outcomes, 1, t), 4)
    metrics["R@5,IoU=0.5"] = round(recall_at(outcomes, 5, 0.5), 4)
    metrics["mIoU"] = round(mean_iou(outcomes), 4)
    return metrics


def report(outcomes: Sequence[Outcome]) -> dict[str, object]:
    """Overall and per-kind metrics."""
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_kind[o.annotation.kind].append(o)
    return {"overall": summarize(outcomes), "by_kind": {k: summarize(v) for k, v in sorted(by_kind.items())}}


def read_annotations(path: str | Path) -> list[Annotation]:
    """Read Charades-STA lines or JSON lines (detected from the first non-blank line)."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read annotations {path}: {exc}") from None
    if not lines:
        raise UsageError(f"annotations {path} are empty")
    parse = _parse_json_line if lines[0].lstrip().startswith("{") else _parse_charades_line
    return [parse(line, f"{path.name}:{n}") for n, line in enumerate(lines, 1)]


def _parse_charades_line(line: str, where: str) -> Annotation:
    head, sep, sentence = line.partition("##")
    parts = head.split()
    try:
        if not sep or len(parts) != 3:
            raise ValueError
        video, start, end = parts[0], float(parts[1]), float(parts[2])
    except ValueError:
        raise UsageError(f"{where}: expected 'video_id start end##sentence', got {line[:80]!r}") from None
    return Annotation(id=where, video=video, query=(sentence.strip(),), start_s=start, end_s=end)


def _parse_json_line(line: str, where: str) -> Annotation:
    try:
        item = json.loads(line)
        query = item["query"]
        query = (query,) if isinstance(query, str) else tuple(str(q) for q in query)
        return Annotation(
            id=str(item.get("id", where)),
            video=str(item["video"]),
            query=query,
            start_s=float(item["start_s"]),
            end_s=float(item["end_s"]),
            kind=str(item.get("kind", "single")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"{where}: bad annotation ({exc}); expected JSON with video, query, start_s, end_s") from None


def resolve_video(videos_dir: Path, name: str) -> Path:
    """A file name as given, or a Charades-style id with any video extension."""
    direct = videos_dir / name
    if direct.is_file():
        return direct
    for suffix in VIDEO_SUFFIXES:
        for candidate in (videos_dir / f"{name}{suffix}", videos_dir / f"{name}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return direct  # missing: the decoder's error names it


def by_video(annotations: Iterable[Annotation]) -> dict[str, list[Annotation]]:
    """Group annotations so each video is decoded and embedded once."""
    groups: dict[str, list[Annotation]] = defaultdict(list)
    for a in annotations:
        groups[a.video].append(a)
    return dict(groups)


def evaluate(
    annotations: Sequence[Annotation],
    videos_dir: Path,
    ground_video: Callable[[Path, Sequence[Annotation]], list[tuple[tuple[float, float], ...]]],
) -> list[Outcome]:
    """Run `ground_video` once per video; a video that fails makes its queries misses, not a crash."""
    outcomes = []
    for name, items in by_video(annotations).items():
        try:
            results = ground_video(resolve_video(videos_dir, name), items)
        except ClipgroundError as exc:
            outcomes += [Outcome(a, (), error=str(exc)) for a in items]
            continue
        outcomes += [Outcome(a, windows) for a, windows in zip(items, results)]
    return outcomes
