"""Library search: the best windows for one query across many videos, best first.

Videos are added one at a time as they are embedded; only those that can still hold one of the
`top_k` best windows are kept, so memory holds at most `top_k` embeddings whatever the library size.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from clipground.model import Encoder
from clipground.options import GroundOptions
from clipground.pipeline import SpanEmbedder, ground_embedded, ground_samples, wants_refinement
from clipground.types import Moment, VideoEmbedding

RankKey = tuple[float, str, int]  # (-score, video, start frame): sorts best first


@dataclass(frozen=True)
class Hit:
    """One window of one video, in a ranking across the library."""

    video: str
    moment: Moment

    @property
    def score(self) -> float:
        """The window's score."""
        return self.moment.score

    @property
    def rank_key(self) -> RankKey:
        """Best first; ties broken by video path, then start frame."""
        return -self.moment.score, self.video, self.moment.start_frame


class LibrarySearch:
    """The best windows across many videos, holding at most `top_k` embeddings at a time.

    A video's best window is computed for every video; only the `top_k` videos whose best windows
    rank highest can hold any of the `top_k` best windows overall (any other video has `top_k`
    better windows ahead of its best), so only those are searched further at the end.
    """

    def __init__(
        self,
        sentences: Sequence[str],
        query_embeddings: np.ndarray,
        options: GroundOptions,
        top_k: int,
    ) -> None:
        self.sentences, self.query_embeddings = list(sentences), query_embeddings  # (K, D)
        self.options, self.top_k = options, top_k
        self._kept: list[tuple[RankKey, Hit, VideoEmbedding]] = []  # sorted, best first

    def add(self, embedded: VideoEmbedding) -> None:
        """Score `embedded`'s best window; keep the video if it can still reach the top k."""
        options = replace(self.options, top_k=1)
        g = ground_samples(embedded, self.sentences, self.query_embeddings, options)
        best = Hit(embedded.video, g.best)
        bisect.insort(self._kept, (best.rank_key, best, embedded), key=lambda item: item[0])
        del self._kept[self.top_k :]

    def hits(
        self,
        encoder: Encoder | None = None,
        refine_frames: Callable[[VideoEmbedding], SpanEmbedder | None] | None = None,
    ) -> list[Hit]:
        """The `top_k` best windows over every video added, best first.

        With `encoder`, each kept video's windows are refined as `match` refines them
        (`pipeline.ground_embedded`) and ranked again by their refined scores; the videos
        searched are those the first-pass scores kept. `refine_frames` gives, per video, where
        that pass takes its frames from (None: decoded; a server's memo passes its own).
        """
        if encoder is None or not any(wants_refinement(e, self.options) for *_, e in self._kept):
            return self._first_pass_hits()
        found = []
        for ahead, (_, _, embedded) in enumerate(self._kept):  # `ahead` videos beat all its windows
            options = replace(self.options, top_k=self.top_k - ahead)
            embed = refine_frames(embedded) if refine_frames is not None else None
            g = ground_embedded(
                embedded, self.sentences, self.query_embeddings, encoder, options, embed=embed
            )
            found += [Hit(g.video, m) for m in g.candidates]
        return sorted(found, key=lambda h: h.rank_key)[: self.top_k]

    def _first_pass_hits(self) -> list[Hit]:
        """The `top_k` best first-pass windows, merged lazily: a video's next window (the next
        greedy NMS pick) is searched only when its previous one has made the list, so most kept
        videos are searched for their best window alone, which `add` found."""
        heap = [(key, order, 1, hit, e) for order, (key, hit, e) in enumerate(self._kept)]
        found: list[Hit] = []
        while heap and len(found) < self.top_k:
            _, order, count, hit, embedded = heapq.heappop(heap)
            found.append(hit)
            if len(found) == self.top_k:
                break
            options = replace(self.options, top_k=count + 1)  # picks are a prefix of a longer list
            g = ground_samples(embedded, self.sentences, self.query_embeddings, options)
            if len(g.candidates) > count:
                following = Hit(g.video, g.candidates[count])
                heapq.heappush(heap, (following.rank_key, order, count + 1, following, embedded))
        return found
