"""Cut a video at keyframes into segments of about equal decoding work, so that several PyAV
passes can decode it at once and hand out exactly the frames one pass would.

A cut must be clean (no frame on one side refers to the other) and every segment long enough to
pay for its own open file and decoder (`DecodeTuning.segment_min_s`).
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np

from clipground.video.head import head_enough, matches, pyav_head
from clipground.video.packets import PacketScan, unneeded_mask
from clipground.video.plan import Plan, wanted
from clipground.video.probe import rel_s
from clipground.video.pyav_pass import PyAVPass
from clipground.video.source import Source

log = logging.getLogger(__name__)

Ranges = tuple[tuple[float, float], ...]  # sorted, disjoint [start_s, end_s) stretches


def segment_passes(source: Source, plan: Plan, workers: int) -> tuple[list[PyAVPass], PacketScan]:
    """One pass per segment of the video cut at keyframes, all given one packet scan checked
    against the first frames; and that scan. No passes where the video is not cut (the one
    decoder then decodes the first frames once and checks the scan itself) or where the scan
    does not match them."""
    probed, scan = source.probed, source.scan()
    min_ticks = max(1, math.ceil(source.tuning.segment_min_s / probed.time_base))
    at = cuts(scan, wanted(plan, probed, scan), workers, min_ticks)
    segments = split(plan.ranges, [rel_s(probed, pts) for pts in at])
    if len(segments) < 2:
        return [], scan
    head, _ = pyav_head(source)
    if not (matches(scan, head) and head_enough(scan, head)):
        log.debug("%s: the packet scan does not match the frames; one decoder", source.path)
        return [], scan
    log.debug("%s: decoding %d segments at once", source.path, len(segments))
    passes = [PyAVPass(source, Plan(plan.fps, ranges), scan, head) for ranges in segments]
    return passes, scan


def cuts(scan: PacketScan, wanted: np.ndarray, parts: int, min_ticks: int) -> list[int]:
    """Keyframe pts that cut the video into up to `parts` segments of about equal decoding work
    (the packets wanted frames need; `wanted` over `scan.pts`), each at least `min_ticks` long.

    A cut must be clean: every packet before it in decode order is shown before the keyframe and
    every packet after it at or after, so no frame of one segment refers to the other.
    """
    pts, n = scan.decode_pts, len(scan.decode_pts)
    if n < 2 or len(np.unique(pts)) != n or len(wanted) != n:
        return []
    clean = scan.decode_key.copy()
    clean[0] = False
    clean[1:] &= np.maximum.accumulate(pts)[:-1] < pts[1:]
    clean &= np.minimum.accumulate(pts[::-1])[::-1] >= pts
    work = np.cumsum(~unneeded_mask(scan, wanted))  # needed packets up to each position
    found: list[int] = []
    for part in range(1, parts):
        last = found[-1] if found else int(scan.pts[0])
        fits = (pts >= last + min_ticks) & (pts <= scan.end_pts - min_ticks)
        where = np.flatnonzero(clean & fits)
        if len(where) == 0:
            break
        goal = work[-1] * part / parts
        cut = int(pts[where[np.argmin(np.abs(work[where - 1] - goal))]])
        if cut not in found:
            found.append(cut)
    return found


def split(ranges: Ranges, cuts_s: list[float]) -> list[Ranges]:
    """`ranges` cut at the times `cuts_s` (s, increasing): one tuple of ranges per segment that has
    any."""
    bounds = [0.0, *cuts_s, math.inf]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        piece = tuple((max(a, lo), min(b, hi)) for a, b in ranges if max(a, lo) < min(b, hi))
        if piece:
            pieces.append(piece)
    return pieces
