"""The vector index over cached embeddings (`clipground index`), the only place that imports faiss.

segments (pool each video's samples into 2-s segment vectors) -> vectors (a faiss index of them,
its type chosen by size) and exact (beside product codes, the exact vectors on disk) -> library
(which video and samples each id stands for; stage 1: `shortlist`) -> store (a folder beside the
cache, written atomically) -> maintain (`update_index`: add new videos, remove stale vectors) and
candidates (what an index-backed `search` scans).
"""

from clipground.index.candidates import Candidates, index_candidates
from clipground.index.library import (
    SEGMENTS_PER_HIT,
    VIDEOS_PER_HIT,
    IndexedVideo,
    LibraryIndex,
    Pooled,
)
from clipground.index.maintain import IndexReport, stale_videos, update_index
from clipground.index.segments import SEGMENT_S, segment_bounds, segment_samples, segment_vectors
from clipground.index.store import INDEX_DIR, IndexInfo, IndexStore, LoadedIndexes, stores
from clipground.index.vectors import INSTALL_HINT, SegmentVectors, choose_factory, require_faiss

__all__ = [
    "INDEX_DIR",
    "INSTALL_HINT",
    "SEGMENTS_PER_HIT",
    "SEGMENT_S",
    "VIDEOS_PER_HIT",
    "Candidates",
    "IndexInfo",
    "IndexReport",
    "IndexStore",
    "IndexedVideo",
    "LibraryIndex",
    "LoadedIndexes",
    "Pooled",
    "SegmentVectors",
    "choose_factory",
    "index_candidates",
    "require_faiss",
    "segment_bounds",
    "segment_samples",
    "segment_vectors",
    "stale_videos",
    "stores",
    "update_index",
]
