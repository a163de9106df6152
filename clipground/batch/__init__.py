"""Jobs over many videos: read the videos and queries, embed each video once, answer every pair.

readers (`find_videos`, `read_queries`) -> embedder (`Embedder`: the cache, then an engine)
-> answers (`answer_video`) or library search (`LibrarySearch`) -> result log (`ResultLog`).
Each stage hands the next typed records (`EmbedOutcome`, `PairAnswer`, `Hit`); `clipground.output`
turns them into JSON.
"""

from clipground.batch.answers import (
    EncodedQuery,
    PairAnswer,
    answer_video,
    encode_queries,
    pending_pairs,
)
from clipground.batch.embedder import Embedder
from clipground.batch.library import Hit, LibrarySearch
from clipground.batch.readers import (
    VIDEO_EXTENSIONS,
    Query,
    find_videos,
    job_videos,
    read_queries,
    text_query,
)
from clipground.batch.results import PairKey, ResultLog, pair_key
from clipground.types import EmbedOutcome, ItemError

__all__ = [
    "VIDEO_EXTENSIONS",
    "EmbedOutcome",
    "Embedder",
    "EncodedQuery",
    "Hit",
    "ItemError",
    "LibrarySearch",
    "PairAnswer",
    "PairKey",
    "Query",
    "ResultLog",
    "answer_video",
    "encode_queries",
    "find_videos",
    "job_videos",
    "pair_key",
    "pending_pairs",
    "read_queries",
    "text_query",
]
