"""Embed query text: one unit vector per sentence, long sentences chunked and averaged."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from clipground.model import Encoder
from clipground.numeric import unit
from clipground.text import as_sentences, chunk_text

log = logging.getLogger(__name__)


def encode_query(encoder: Encoder, sentences: str | Sequence[str]) -> np.ndarray:
    """Embed each sentence (K, D; a string is one sentence); a sentence longer than the context is
    chunked and averaged."""
    rows = []
    for sentence in as_sentences(sentences):
        chunks = chunk_text(sentence, encoder.context_length, encoder.count_tokens)
        if len(chunks) > 1:
            log.warning(
                "query text of %d words is longer than the model's %d-token context: "
                "split into %d chunks whose embeddings are averaged",
                len(sentence.split()),
                encoder.context_length,
                len(chunks),
            )
        rows.append(unit(encoder.encode_texts(chunks).mean(axis=0)))
    return np.stack(rows).astype(np.float32)
