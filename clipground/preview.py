"""Browser-playable previews: which videos a browser can play as they are (by container and codecs),
and, for the others (AVI/MPEG-4 ASP, HEVC, WMV, FLV, MJPEG...), an H.264/AAC MP4 transcoded with
PyAV into a folder beside the embedding cache (`cache.PREVIEWS`: `cache info` counts them and
`cache clear` removes them).

A preview's time 0 is the video's first frame, as `Moment` seconds count, so a window found in the
video plays at the same seconds in its preview. Previews are keyed by the video's content and
`PREVIEW_VERSION`, written to a temporary file and renamed into place (readers see a whole file or
none); one transcode per video runs at a time, the other requests for it wait for that one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

from clipground.cache import sampled_digest
from clipground.errors import VideoError

PREVIEW_VERSION = 1  # bump when the transcode changes what a preview holds
MAX_HEIGHT = 720  # previews are scaled down to at most this many lines
# What the browsers this page targets (Chromium, Firefox, Safari) play, by container suffix:
_PLAYABLE = {
    ".mp4": ({"h264", "av1"}, {"aac", "mp3", "opus", "flac"}),
    ".m4v": ({"h264", "av1"}, {"aac", "mp3"}),
    ".mov": ({"h264"}, {"aac", "mp3"}),
    ".webm": ({"vp8", "vp9", "av1"}, {"vorbis", "opus"}),
}
_PIXEL_FORMATS = ("yuv420p", "yuvj420p")  # 8-bit 4:2:0: what hardware and browser decoders take
_X264_OPTIONS = {"preset": "veryfast", "crf": "23"}


def browser_playable(video: str | Path) -> bool:
    """Whether a browser's <video> plays `video` as it is (else it needs a preview)."""
    from clipground.video import open_video

    video = Path(video)
    allowed = _PLAYABLE.get(video.suffix.lower())
    if allowed is None:
        return False
    with open_video(video) as container:
        v = container.streams.video[0]
        audio = {a.codec.canonical_name for a in container.streams.audio}
        pix_fmt = v.codec_context.format.name if v.codec_context.format else ""
        return (
            v.codec.canonical_name in allowed[0]
            and pix_fmt in _PIXEL_FORMATS
            and audio <= allowed[1]
        )


class PreviewCache:
    """A folder of previews: `preview(video)` is the path of a playable MP4 of `video`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def preview(self, video: str | Path) -> Path:
        """The preview of `video`, transcoded first if it is not in the folder yet; marked used
        (its modification time), as `cache clear --older-than` reads it."""
        path = self.root / f"{preview_key(Path(video))}.mp4"
        with self._lock(path.name):
            if not path.is_file():
                self._transcode_atomic(Path(video), path)
            else:
                with contextlib.suppress(OSError):
                    os.utime(path)
        return path

    def _lock(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _transcode_atomic(self, video: Path, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".mp4")
        except OSError as exc:
            raise VideoError(f"{video}: cannot write its preview in {path.parent} ({exc})") from exc
        os.close(fd)
        try:
            transcode(video, Path(tmp))
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def preview_key(video: Path) -> str:
    """The preview's name: a digest of the video's content and of `PREVIEW_VERSION`."""
    try:
        size = video.stat().st_size
        content = sampled_digest(video, size)
    except OSError as exc:
        raise VideoError(f"{video}: cannot be read ({exc})") from exc
    return hashlib.sha256(f"{PREVIEW_VERSION}:{MAX_HEIGHT}:{content}".encode()).hexdigest()[:32]


def transcode(video: Path, out: Path) -> None:
    """Write `video` to `out` as H.264/AAC MP4 (moov first, for playback while loading)."""
    import av

    from clipground.video import open_video, probe

    rotation = probe(video).rotation_deg  # clockwise; the display matrix angle is the opposite
    try:
        with (
            open_video(video) as src,
            av.open(str(out), mode="w", format="mp4", options={"movflags": "+faststart"}) as dst,
        ):
            _copy_streams(src, dst, rotation)
    except av.error.FFmpegError as exc:
        raise VideoError(f"{video}: cannot transcode a preview ({exc})") from exc


def _copy_streams(src, dst, rotation: int) -> None:  # PyAV containers, untyped
    """Decode `src`'s first video (and audio) stream, encode into `dst` from its first frame on."""
    import av

    v = src.streams.video[0]
    a = src.streams.audio[0] if src.streams.audio else None
    writer = _Writer(dst, _video_stream(dst, v, rotation), _audio_stream(dst, a))
    for frame in _frames(src, [v] + ([a] if a else [])):
        if isinstance(frame, av.VideoFrame):
            writer.video(frame)
        else:
            writer.audio(frame)
    writer.flush()


def _frames(src, streams: list) -> Iterator:
    """Decoded frames with a timestamp; a packet that fails to decode is skipped."""
    import av

    for packet in src.demux(*streams):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        yield from (f for f in frames if f.pts is not None)


def _video_stream(dst, v, rotation: int):
    """An H.264 stream at most MAX_HEIGHT lines high, even-sized, in yuv420p."""
    cc = v.codec_context
    scale = min(1.0, MAX_HEIGHT / max(1, cc.height))
    rate = v.average_rate or v.guessed_rate or 25
    stream = dst.add_stream("libx264", rate=rate, options=_X264_OPTIONS)
    stream.width = max(2, round(cc.width * scale / 2) * 2)
    stream.height = max(2, round(cc.height * scale / 2) * 2)
    stream.pix_fmt = "yuv420p"
    stream.codec_context.time_base = Fraction(1, 90000)
    if rotation:
        stream.set_display_rotation(-rotation)
    return stream


def _audio_stream(dst, a):
    return dst.add_stream("aac", rate=a.codec_context.sample_rate or 44100) if a else None


class _Writer:
    """Frames re-timed from the first video frame on (the preview's time 0), then encoded."""

    def __init__(self, dst, video, audio) -> None:
        from av.video.reformatter import VideoReformatter

        self.dst, self.ov, self.oa = dst, video, audio
        self.scaler = VideoReformatter()  # one FFmpeg scaler for the whole video
        self.origin: Fraction | None = None
        self.last_pts = -1  # output pts kept strictly increasing (AVI can repeat one)

    def video(self, frame) -> None:
        time = frame.pts * frame.time_base
        self.origin = time if self.origin is None else self.origin
        tb = self.ov.codec_context.time_base
        pts = max(round((time - self.origin) / tb), self.last_pts + 1)
        out = self.scaler.reformat(frame, self.ov.width, self.ov.height, "yuv420p")
        out.pts, out.time_base, self.last_pts = pts, tb, pts
        self.dst.mux(self.ov.encode(out))

    def audio(self, frame) -> None:
        time = frame.pts * frame.time_base
        if self.oa is None or self.origin is None or time < self.origin:
            return  # sound before the first picture has no place on the preview's timeline
        rate = self.oa.codec_context.sample_rate
        frame.pts, frame.time_base = round((time - self.origin) * rate), Fraction(1, rate)
        self.dst.mux(self.oa.encode(frame))

    def flush(self) -> None:
        self.dst.mux(self.ov.encode())
        if self.oa is not None:
            self.dst.mux(self.oa.encode())
