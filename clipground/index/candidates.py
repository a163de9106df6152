"""Stage 1 of an index-backed `search`: which of the videos under PATHS to search exactly.

The indexed videos the query's nearest segments name, plus every video the index does not hold
(new, or changed since it was indexed), so that no video is silently left out. Stage 2 is today's
exact search (`batch.LibrarySearch`) over these videos' cached embeddings.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from clipground.cache import EmbeddingCache, setting_parts
from clipground.errors import VectorIndexError
from clipground.index.store import IndexStore, LoadedIndexes
from clipground.index.vectors import Importer, require_faiss

RANKED_BY_CONTRAST = ("balanced", "contrast")  # the objectives whose windows stage 1 can shortlist
log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from clipground.model import Encoder
    from clipground.options import GroundOptions


@dataclass(frozen=True)
class Candidates:
    """The videos stage 2 searches, and how they were chosen."""

    videos: tuple[str, ...]  # the shortlisted indexed videos, nearest first, then those not indexed
    indexed: int  # videos under PATHS that the index holds
    shortlisted: int  # of those, how many stage 1 kept


def index_candidates(
    videos: Sequence[str],
    cache: EmbeddingCache,
    encoder: Encoder,
    options: GroundOptions,
    query_embeddings: np.ndarray,
    top_k: int,
    importer: Importer = importlib.import_module,
    loaded: LoadedIndexes | None = None,
) -> Candidates | None:
    """The videos to search for the `top_k` best windows; None when there is no index for this
    model and rate, or the objective is `mean` (stage 1 ranks segments by their contrast with
    their video, as `balanced` and `contrast` rank windows). A VectorIndexError when the index is
    unsound; a UsageError without faiss. `loaded` keeps the index between calls (a server's)."""
    store = IndexStore(cache.root, setting_parts(encoder, options))
    if not store.exists():
        return None
    if options.objective not in RANKED_BY_CONTRAST:
        log.info("the index ranks by contrast: --objective %s scans", options.objective)
        return None
    faiss = require_faiss(importer)
    index = loaded.load(store, faiss) if loaded is not None else store.load(faiss)
    if index.dim != np.shape(query_embeddings)[-1]:
        raise VectorIndexError(
            f"the index at {store.folder} holds {index.dim}-dimensional vectors, the model "
            f"{np.shape(query_embeddings)[-1]}-dimensional ones"
        )
    indexed, others = {}, []
    for video in videos:
        held = index.videos.get(os.path.abspath(video))
        if held is not None and cache.key(video, encoder, options) == held.key:
            indexed.setdefault(held.path, video)
        else:
            others.append(video)
    among = set(indexed) if len(indexed) < len(index.videos) else None
    chosen = [indexed[p] for p in index.shortlist(query_embeddings, top_k, among) if p in indexed]
    return Candidates(tuple(chosen + others), len(indexed), len(chosen))
