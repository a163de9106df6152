"""What every decoding pass over one file shares: the probed file, the output size, how to read
the file (`Readers`) and when seeking, skipping and cutting pay (`DecodeTuning`).

`Readers` and `DecodeTuning` are the sampler's injection points: the defaults are the real
readers and the measured thresholds; tests pass wrappers that count opens, misreport packets or
fail part-way, and smaller thresholds so that short test videos are cut into segments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import av

from clipground.errors import UsageError
from clipground.video.decord_reader import DecordOpener, open_decord
from clipground.video.opening import Opener, open_video
from clipground.video.packets import PacketScan, Scanner, scan_packets
from clipground.video.probe import Probe, Prober, probe_stream


@dataclass(frozen=True)
class DecodeTuning:
    """When the PyAV pass seeks, skips packets or cuts a video into segments decoded at once.

    None of these changes which frames come out, only how much decoding it takes to get them.
    """

    seek_min_s: float = 2.0  # never seek for less; below this, decoding through is cheaper
    seek_min_gops: int = 3  # ...and only when the next target is this many (longest) GOPs on
    seek_retries: int = 3  # earlier keyframes tried when a seek overshoots, then from the start
    skip_min_fraction: float = 0.1  # skip unneeded packets only where this fraction of them are
    segment_min_s: float = 10.0  # segments decoded at once are no shorter (each opens the file)
    release_pictures: bool = True  # give unneeded pictures back to the decoder at once

    def __post_init__(self) -> None:
        for name in ("seek_min_s", "skip_min_fraction", "segment_min_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UsageError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("seek_min_gops", "seek_retries"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {value!r}")


@dataclass(frozen=True)
class Readers:
    """How the package reads a file: each one takes the path (and the PyAV opener to use)."""

    open: Opener = open_video  # a PyAV container with a video stream
    probe: Prober = probe_stream  # (path, opener) -> Probe: the first frames
    scan: Scanner = scan_packets  # (path, opener) -> PacketScan: demuxed, not decoded
    decord: DecordOpener = open_decord  # (path, (width, height)) -> (reader, why there is none)


@dataclass(frozen=True)
class Source:
    """One probed file, and how every pass over it reads and decodes it."""

    path: Path
    probed: Probe
    decode_size: tuple[int, int]  # (width, height) asked of the decoder: stored orientation
    readers: Readers = field(default_factory=Readers)
    tuning: DecodeTuning = field(default_factory=DecodeTuning)
    skip_unneeded: bool = True  # leave packets no sampled frame needs undecoded

    def open(self) -> av.container.InputContainer:
        """The file, opened for reading (the caller closes it)."""
        return self.readers.open(self.path)

    def scan(self) -> PacketScan:
        """A fresh packet scan of the file."""
        return self.readers.scan(self.path, self.readers.open)
