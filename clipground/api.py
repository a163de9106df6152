"""Requests as the CLI and batch jobs state them, resolved into library calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from clipground.errors import UsageError
from clipground.model import Encoder, ModelSpec, load_encoder
from clipground.pipeline import GroundOptions, Progress, ground
from clipground.results import Grounding
from clipground.text import clean_query, parse_span, read_transcript


@dataclass(frozen=True)
class MatchRequest:
    """One video and one query, given as sentences or as a transcript span."""

    video: str
    text: tuple[str, ...] = ()  # the query's sentences, in order
    transcript: str | None = None  # a transcript file instead of `text`
    span: str | None = None  # "I:J" sentences of the transcript; None = all of it
    options: GroundOptions = field(default_factory=GroundOptions)
    model: ModelSpec = field(default_factory=ModelSpec)

    def sentences(self) -> list[str]:
        """The query's sentences, validated."""
        if self.text and self.transcript:
            raise UsageError("give either --text or --transcript, not both")
        if self.span is not None and not self.transcript:
            raise UsageError("--span selects sentences of a --transcript: pass --transcript FILE")
        if not self.transcript:
            return clean_query(self.text)
        cues = read_transcript(self.transcript)
        i, j = parse_span(self.span, len(cues)) if self.span is not None else (0, len(cues) - 1)
        return clean_query([c.text for c in cues[i : j + 1]])


def match(
    request: MatchRequest, encoder: Encoder | None = None, progress: Progress | None = None
) -> Grounding:
    """Resolve `request`, load the model unless given one, and ground the query in the video."""
    from clipground.video import probe

    sentences = request.sentences()
    probe(request.video)  # a bad video fails before the (slow) model load
    encoder = encoder or load_encoder(request.model)
    return ground(request.video, sentences, encoder, request.options, progress)


__all__ = ["GroundOptions", "MatchRequest", "ModelSpec", "match"]
