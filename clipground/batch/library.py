"""Library search: the best windows for one query across many videos, best first.

Videos are added one at a time as they are embedded; only those that can still hold one of the
`top_k` best windows are kept, so memory holds at most `top_k` embeddings whatever the library size.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from clipground.model import Encoder
from clipground.options import GroundOptions
from clipground.pipeline import ground_embedded, ground_samples
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
    better windows ahead of its best), so only those are searched fully at the end; the j-th of
    them (from 0) for its best `top_k - j` windows (greedy NMS picks are a prefix of a longer list).
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
        self._kept: list[tuple[RankKey, int, VideoEmbedding]] = []  # sorted, best first

    def add(self, embedded: VideoEmbedding) -> None:
        """Score `embedded`'s best window; keep the video if it can still reach the top k."""
        options = replace(self.options, top_k=1)
        g = ground_samples(embedded, self.sentences, self.query_embeddings, options)
        key = Hit(embedded.video, g.best).rank_key
        bisect.insort(self._kept, (key, len(self._kept), embedded), key=lambda item: item[0])
        del self._kept[self.top_k :]

    def hits(self, encoder: Encoder | None = None) -> list[Hit]:
        """The `top_k` best windows over every video added, best first.

        With `encoder`, each kept video's windows are refined as `match` refines them
        (`pipeline.ground_embedded`) and ranked again by their refined scores; the videos
        searched are those the first-pass scores kept.
        """
        found = []
        for ahead, (_, _, embedded) in enumerate(self._kept):  # `ahead` videos beat all its windows
            options = replace(self.options, top_k=self.top_k - ahead)
            if encoder is None:
                g = ground_samples(embedded, self.sentences, self.query_embeddings, options)
            else:
                g = ground_embedded(embedded, self.sentences, self.query_embeddings, encoder, options)
            found += [Hit(g.video, m) for m in g.candidates]
        return sorted(found, key=lambda h: h.rank_key)[: self.top_k]
