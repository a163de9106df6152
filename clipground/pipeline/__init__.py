"""Wiring only: video -> model -> cache -> search, into `Grounding`s and `Alignment`s.

`ground` takes a file; `embed_video` (or `embed_cached`) then `ground_embedded` give the same answer
for many questions about one video; `ground_samples` is the first pass alone (no second decoding).
"""

from clipground.options import AlignOptions, GroundOptions
from clipground.pipeline.align import (
    AlignedSpan,
    Alignment,
    Span,
    align_embedded,
    align_video,
    similarity_rows,
    span_embeddings,
    spans_from_cues,
)
from clipground.pipeline.embed import decode_workers, embed_cached, embed_video, model_streams
from clipground.pipeline.ground import ground, ground_embedded, ground_queries
from clipground.pipeline.query import encode_query
from clipground.pipeline.refine import (
    FineFrames,
    SpanEmbedder,
    embed_spans,
    refine_grounding,
    wants_refinement,
)
from clipground.pipeline.windows import ground_samples, max_len_s
from clipground.types import Progress, VideoEmbedding

__all__ = [
    "AlignOptions",
    "AlignedSpan",
    "Alignment",
    "FineFrames",
    "GroundOptions",
    "Progress",
    "Span",
    "SpanEmbedder",
    "VideoEmbedding",
    "align_embedded",
    "align_video",
    "decode_workers",
    "embed_cached",
    "embed_spans",
    "embed_video",
    "encode_query",
    "ground",
    "ground_embedded",
    "ground_queries",
    "ground_samples",
    "max_len_s",
    "model_streams",
    "refine_grounding",
    "similarity_rows",
    "span_embeddings",
    "spans_from_cues",
    "wants_refinement",
]
