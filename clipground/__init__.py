"""clipground: zero-shot video-text temporal grounding with CLIP.

The public API is imported lazily so that `import clipground` (and `clipground --help`) stays fast.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ground": "clipground.pipeline",
    "ground_embedded": "clipground.pipeline",
    "ground_samples": "clipground.pipeline",
    "ground_queries": "clipground.pipeline",
    "embed_video": "clipground.pipeline",
    "encode_query": "clipground.pipeline",
    "GroundOptions": "clipground.options",
    "VideoEmbedding": "clipground.types",
    "load_encoder": "clipground.model",
    "ModelSpec": "clipground.options",
    "Encoder": "clipground.model",
    "MatchRequest": "clipground.api",
    "match": "clipground.api",
    "Grounding": "clipground.types",
    "Moment": "clipground.types",
    "ClipgroundError": "clipground.errors",
    "UsageError": "clipground.errors",
    "VideoError": "clipground.errors",
    "ModelError": "clipground.errors",
    "CacheError": "clipground.errors",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'clipground' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)
