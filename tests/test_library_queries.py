"""The library's query arguments: a string is one sentence, never a span of one-letter sentences."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clipground import pipeline
from clipground.api import MatchRequest, match
from clipground.errors import UsageError
from clipground.pipeline import GroundOptions
from conftest import make_video
from fakes import ColourEncoder

OPTIONS = GroundOptions(fps=5, refine=False, top_k=1)


@pytest.fixture(scope="module")
def red_then_blue(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 10 fps: black, red (frames 10-29), black, blue (frames 40-59)."""
    colours = [(0, 0, 0)] * 10 + [(200, 0, 0)] * 20 + [(0, 0, 0)] * 10 + [(0, 0, 200)] * 20
    frames = [np.full((32, 48, 3), c, np.uint8) for c in colours]
    return make_video(tmp_path_factory.mktemp("queries") / "red_blue.mp4", frames, fps=10)


def test_encode_query_takes_a_string_as_one_sentence() -> None:
    encoder = ColourEncoder()
    one = pipeline.encode_query(encoder, "red")
    assert one.shape == (1, encoder.embed_dim)
    np.testing.assert_array_equal(one, pipeline.encode_query(encoder, ["red"]))


def test_ground_embedded_takes_a_string_as_one_sentence(red_then_blue: Path) -> None:
    encoder = ColourEncoder()
    embedded = pipeline.embed_video(red_then_blue, encoder, OPTIONS)
    text = pipeline.encode_query(encoder, ["red"])
    as_string = pipeline.ground_samples(embedded, "red", text, OPTIONS)
    assert as_string == pipeline.ground_samples(embedded, ["red"], text, OPTIONS)
    assert as_string.query == ("red",) and as_string.sentences == ()
    assert (as_string.best.start_frame, as_string.best.end_frame) == (10, 29)


def test_ground_queries_takes_each_string_as_one_query(red_then_blue: Path) -> None:
    red, blue = pipeline.ground_queries(red_then_blue, ["red", "blue"], ColourEncoder(), OPTIONS)
    assert (red.query, blue.query) == (("red",), ("blue",))
    assert (red.best.start_frame, red.best.end_frame) == (10, 29)
    assert (blue.best.start_frame, blue.best.end_frame) == (40, 59)
    (span,) = pipeline.ground_queries(red_then_blue, [["red", "blue"]], ColourEncoder(), OPTIONS)
    assert span.query == ("red", "blue")
    assert (span.best.start_frame, span.best.end_frame) == (10, 59)


def test_match_request_takes_a_string_as_one_sentence(red_then_blue: Path) -> None:
    g = match(MatchRequest(str(red_then_blue), text="  red "), ColourEncoder())
    assert g.query == ("red",) and (g.best.start_frame, g.best.end_frame) == (10, 29)


def test_ground_embedded_refuses_embeddings_of_other_sentences(red_then_blue: Path) -> None:
    encoder = ColourEncoder()
    embedded = pipeline.embed_video(red_then_blue, encoder, OPTIONS)
    with pytest.raises(UsageError, match="2 sentence"):
        text = pipeline.encode_query(encoder, "red")
        pipeline.ground_samples(embedded, ["red", "blue"], text, OPTIONS)


def test_top_k_candidates_are_distinct_moments_and_as_many_as_asked(red_then_blue: Path) -> None:
    # windows inside the best one pass an IoU test (a short one in a long one has a small IoU), so
    # NMS also suppresses windows sharing over half of the shorter; the candidates are then k
    # different stretches, not the best one and slivers of it
    g = pipeline.ground(red_then_blue, "red", ColourEncoder(), GroundOptions(fps=10, refine=False))
    assert len(g.candidates) == 5
    assert (g.best.start_frame, g.best.end_frame) == (10, 29)
    for i, a in enumerate(g.candidates):
        for b in g.candidates[i + 1 :]:
            shared = min(a.end_frame, b.end_frame) - max(a.start_frame, b.start_frame) + 1
            shorter = min(a.end_frame - a.start_frame, b.end_frame - b.start_frame) + 1
            assert shared <= 0.5 * shorter


@pytest.mark.parametrize("query", [["red"], ["red", "blue"]])
def test_embed_then_ground_embedded_gives_grounds_answer(red_then_blue: Path, query) -> None:
    """The many-questions recipe (embed once, then ground_embedded) answers as `ground` does, the
    second pass included; `ground_samples` is the first pass alone and says so by its name."""
    encoder = ColourEncoder()
    options = GroundOptions(fps=1, refine=True, top_k=2)
    direct = pipeline.ground(red_then_blue, query, encoder, options)
    embedded = pipeline.embed_video(red_then_blue, encoder, options)
    text = pipeline.encode_query(encoder, query)
    assert pipeline.ground_embedded(embedded, query, text, encoder, options) == direct
    first_pass = pipeline.ground_samples(embedded, query, text, options)
    assert first_pass.frames_embedded < direct.frames_embedded  # the refined answer decoded more
