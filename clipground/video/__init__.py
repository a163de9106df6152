"""Video decoding: a cheap probe, then frames sampled by presentation time, in bounded chunks.

Two backends share one interface. PyAV (the default) demuxes and decodes itself, skips undecodable
packets, decodes only the packets that sampled frames need and converts only the sampled frames.
decord is an alternative that is checked against PyAV's packet scan first and falls back to PyAV
(with a warning) where it would return wrong frames. This package is the only place that imports
`av` (to read; `export` writes clips with it) or `decord` (lazily, in `decord_reader`).

Modules, from the file up: `opening` (open a file, demux), `decoding` (packets -> frames),
`timing` (frame times), `probe`, `packets` (the packet scan), `head`, `plan` (which frames),
`convert` (pixels, chunks), `source` (readers and tuning), `pyav_pass`, `segments`,
`decord_reader` and `decord_backend`, `sampler` (`FrameSampler`, the entry point), `truncation`
(frames that end before the declared duration) and `still` (one frame as a picture: thumbnails).
"""

from clipground.video.opening import open_video
from clipground.video.packets import PacketScan, scan_packets
from clipground.video.probe import Probe, probe, probe_stream
from clipground.video.sampler import DECODERS, FrameSampler
from clipground.video.source import DecodeTuning, Readers
from clipground.video.still import frame_at, jpeg_bytes
from clipground.video.truncation import cut_short, warn_if_cut_short

__all__ = [
    "DECODERS",
    "DecodeTuning",
    "FrameSampler",
    "PacketScan",
    "Probe",
    "Readers",
    "cut_short",
    "frame_at",
    "jpeg_bytes",
    "open_video",
    "probe",
    "probe_stream",
    "scan_packets",
    "warn_if_cut_short",
]
