"""Cut found moments out of a video into clip files, with their audio.

Stream copy (the default) is fast and lossless but a clip can only start on a keyframe: it starts at
the last keyframe at or before the padded window, so it may begin up to one GOP early (and, with
B-frames, end a few frames late: the reference frames the last shown frames need are kept).
`reencode=True` decodes and encodes the padded window exactly (H.264 and AAC in MP4), to the frame.

PyAV does the work. A stream copy that fails (a codec the container will not take as it is, such as
AMR in 3GP) is re-encoded instead, with a warning; where PyAV cannot write a clip at all and an
`ffmpeg` binary is on PATH, that is tried last. (Like `clipground.video`, this module imports
`av`: it writes clips; the video package reads frames, and opens the source video for both.)
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from clipground.errors import UsageError, VideoError
from clipground.types import Moment

log = logging.getLogger(__name__)

_EPS_S = 1e-6  # float noise allowed when comparing frame times with the cut points
_VIDEO_CODECS = ("libx264", "mpeg4")  # re-encode: the first one this FFmpeg build has
_SEEK_BACK_S = 2  # a seek that lands after its target is retried this much (then 8x) earlier


@dataclass(frozen=True)
class Cut:
    """One clip to write: seconds relative to the video's first frame, as Moment has them."""

    start_s: float
    end_s: float
    path: Path

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_s) and self.start_s < self.end_s):
            raise UsageError(f"bad cut {self.start_s}..{self.end_s} s for {self.path}")


@dataclass(frozen=True)
class ClipWriters:
    """How clips get written: PyAV stream copy, PyAV re-encode, then the ffmpeg binary if found."""

    copy: Callable[[Path, Cut], None] = field(default_factory=lambda: copy_clip)
    reencode: Callable[[Path, Cut], None] = field(default_factory=lambda: reencode_clip)
    which: Callable[[str], str | None] = shutil.which
    run_ffmpeg: Callable[[list[str], Cut], None] = field(default_factory=lambda: run_ffmpeg)


def export_moments(
    video: str | Path,
    moments: Sequence[Moment],
    out_dir: str | Path,
    padding_s: float = 0.0,
    reencode: bool = False,
    stem: str | None = None,
    writers: ClipWriters | None = None,
) -> list[Path]:
    """Write each moment of `video` (padded by `padding_s` each side) to `out_dir`; their paths.

    `writers` are the ways a clip gets written, in the order they are tried (tests pass failing
    ones to reach the fallbacks)."""
    if not (math.isfinite(padding_s) and padding_s >= 0):
        raise UsageError(f"--padding must be a number of seconds >= 0, got {padding_s}")
    video = Path(video)
    out = _out_dir(out_dir)
    suffix = ".mp4" if reencode else (video.suffix or ".mp4")
    cuts = [
        Cut(
            max(0.0, m.start_s - padding_s),
            m.end_s + padding_s,
            out / f"{stem or video.stem}_{i:03d}_{m.start_s:.2f}-{m.end_s:.2f}s{suffix}",
        )
        for i, m in enumerate(moments)
    ]
    return [cut_clip(video, cut, reencode, writers or ClipWriters()) for cut in cuts]


def _out_dir(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--export {out}: cannot create the folder ({exc})") from None
    return out


def cut_clip(video: Path, cut: Cut, reencode: bool, writers: ClipWriters) -> Path:
    """Write one clip with PyAV: a stream copy unless `reencode`, or when copying fails (a codec
    the container cannot take as is); then, as asked, the ffmpeg binary if there is one. The path
    written (a re-encoded fallback is an .mp4)."""
    import av

    written = cut
    try:
        if not reencode:
            try:
                writers.copy(video, cut)
                return cut.path
            except (av.error.FFmpegError, ValueError) as exc:
                cut.path.unlink(missing_ok=True)
                log.warning("%s: cannot stream-copy a clip (%s); re-encoding it", video, exc)
                written = Cut(cut.start_s, cut.end_s, cut.path.with_suffix(".mp4"))
        writers.reencode(video, written)
        return written.path
    except (av.error.FFmpegError, ValueError) as exc:
        binary = writers.which("ffmpeg")
        if binary is None:
            raise VideoError(f"{video}: cannot write clip {written.path} ({exc})") from exc
        written.path.unlink(missing_ok=True)
        log.warning("PyAV could not write %s (%s); trying %s", cut.path, exc, binary)
        writers.run_ffmpeg(ffmpeg_command(binary, video, cut, reencode), cut)
        return cut.path


def ffmpeg_command(binary: str, video: Path, cut: Cut, reencode: bool) -> list[str]:
    """The ffmpeg argv that writes `cut` (input seeking; copy or H.264/AAC)."""
    codecs = "-c:v libx264 -c:a aac" if reencode else "-c copy"
    return [
        binary, "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{cut.start_s:.6f}",
        "-i", str(video), "-t", f"{cut.end_s - cut.start_s:.6f}",
        "-map", "0:v:0", "-map", "0:a?", *codecs.split(), str(cut.path),
    ]  # fmt: skip


def run_ffmpeg(command: list[str], cut: Cut) -> None:
    """Run the ffmpeg binary's `command`; a `VideoError` with its last words if it fails."""
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise VideoError(f"ffmpeg could not write {cut.path}: {done.stderr.strip()[-300:]}")


# ---------------------------------------------------------------- stream copy


def copy_clip(video: Path, cut: Cut) -> None:
    """Write `cut` by copying packets (from the keyframe before its start): fast, no quality loss."""
    import av

    from clipground.video import open_video

    with open_video(video) as src, av.open(str(cut.path), mode="w") as dst:
        v, a = src.streams.video[0], _audio(src)
        origin = _first_pts(src, v)  # Moment seconds count from the first frame
        key = _keyframe_at_or_before(src, v, origin + _ticks(cut.start_s, v.time_base))
        end = origin + _ticks(cut.end_s, v.time_base)
        ov = dst.add_stream_from_template(v)
        oa = dst.add_stream_from_template(a) if a is not None else None
        shift_s = key * v.time_base  # Fraction: clip time 0 is the keyframe
        _seek_at_or_before(src, v, key)
        streams = [v] + ([a] if a is not None else [])
        outputs = {v.index: ov, **({a.index: oa} if a is not None else {})}
        for packet in _packets_to_copy(
            src.demux(*streams), v.index, len(streams), shift_s, end * v.time_base
        ):
            offset = round(shift_s / packet.time_base)
            packet.pts -= offset
            packet.dts -= offset
            packet.stream = outputs[packet.stream.index]
            dst.mux(packet)


def _packets_to_copy(packets, video_index: int, streams: int, start: Fraction, end: Fraction):
    """Packets shown in [start, end), in decode order, plus the later-shown reference frames
    (B-frame streams) that a frame shown before `end` needs: kept only if one follows them."""
    pending: list = []  # video packets shown at or after end, decoded before frames shown earlier
    done: set[int] = set()
    started = False  # video is copied from the keyframe packet on, in decode order
    for packet in packets:
        index = packet.stream.index
        if packet.pts is None or packet.dts is None or index in done:
            continue
        tb = packet.time_base
        if index == video_index and packet.dts * tb >= end:
            done.add(index)  # decode order: every later packet is shown at or after end
        elif index != video_index and packet.pts * tb >= end:
            done.add(index)
        elif packet.pts * tb < start or (index == video_index and not started):
            # before the keyframe (or an open-GOP leading frame it cannot decode)
            started = started or (
                index == video_index and packet.is_keyframe and packet.pts * tb == start
            )
            if not started:
                continue
            yield packet
        elif index == video_index and packet.pts * tb >= end:
            pending.append(packet)
        else:
            if index == video_index:
                yield from pending
                pending.clear()
            yield packet
        if len(done) == streams:
            return


def _keyframe_at_or_before(src, stream, target: int) -> int:
    """pts of the last keyframe at or before `target` (ticks), from a demux-only scan."""
    best = None
    src.seek(0, stream=stream, backward=True, any_frame=False)
    for packet in src.demux(stream):
        if packet.pts is None:
            continue
        if packet.is_keyframe and packet.pts <= target:
            best = packet.pts if best is None else max(best, packet.pts)
        if packet.dts is not None and packet.dts > target and best is not None:
            break
    if best is None:
        raise VideoError(f"{src.name}: no keyframe before {target} ticks; use --reencode")
    return best


# ---------------------------------------------------------------- re-encode


def reencode_clip(video: Path, cut: Cut) -> None:
    """Write `cut` re-encoded to H.264/AAC MP4, exact to the frame."""
    import av
    from av.video.reformatter import VideoReformatter

    from clipground.video import open_video, probe

    with open_video(video) as src, av.open(str(cut.path), mode="w") as dst:
        v, a = src.streams.video[0], _audio(src)
        origin = _first_pts(src, v) * v.time_base  # Fraction seconds
        t0, t1 = origin + Fraction(cut.start_s), origin + Fraction(cut.end_s)
        ov = _video_encoder(dst, v)
        rotation = probe(video).rotation_deg  # clockwise; the display matrix angle is the opposite
        if rotation:
            ov.set_display_rotation(-rotation)
        oa = dst.add_stream("aac", rate=a.codec_context.sample_rate) if a is not None else None
        _seek_at_or_before(src, v, math.floor(t0 / v.time_base))
        last_pts = [-1]  # output pts written so far: kept strictly increasing
        scaler = VideoReformatter()  # one FFmpeg scaler per clip, not one per frame as `reformat`
        for frame in src.decode(*([v] + ([a] if a is not None else []))):
            if frame.pts is None:
                continue
            time = frame.pts * frame.time_base
            if isinstance(frame, av.VideoFrame):
                _encode_video(dst, ov, scaler, frame, time, (t0, t1), last_pts)
            elif oa is not None and t0 - Fraction(_EPS_S) <= time < t1:
                frame.pts = round((time - t0) * oa.codec_context.sample_rate)
                frame.time_base = Fraction(1, oa.codec_context.sample_rate)
                dst.mux(oa.encode(frame))
            if time >= t1 + 1 and isinstance(frame, av.VideoFrame):
                break  # a second past the end in output order: B-frame reordering is done
        dst.mux(ov.encode())
        if oa is not None:
            dst.mux(oa.encode())


def _video_encoder(dst, v):
    import av

    for name in _VIDEO_CODECS:
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        rate = v.average_rate or v.guessed_rate or Fraction(25)
        stream = dst.add_stream(name, rate=rate)
        cc = v.codec_context
        stream.width, stream.height = cc.width - cc.width % 2, cc.height - cc.height % 2
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = v.time_base
        return stream
    raise VideoError(f"this FFmpeg build has none of {', '.join(_VIDEO_CODECS)} to re-encode with")


def _encode_video(
    dst, ov, scaler, frame, time: Fraction, span: tuple[Fraction, Fraction], last_pts: list[int]
) -> None:
    t0, t1 = span
    if not (t0 - Fraction(_EPS_S) <= time < t1 - Fraction(_EPS_S)):
        return
    pts = max(round((time - t0) / ov.codec_context.time_base), last_pts[0] + 1)
    out = scaler.reformat(frame, ov.width, ov.height, "yuv420p")
    out.pts, out.time_base = pts, ov.codec_context.time_base
    last_pts[0] = pts  # packed B-frames (AVI) can repeat a pts; encoders refuse that
    dst.mux(ov.encode(out))


# ---------------------------------------------------------------- shared


def _audio(src):
    return src.streams.audio[0] if src.streams.audio else None


def _seek_at_or_before(src, stream, target: int) -> None:
    """Seek so that demuxing starts on a keyframe at or before pts `target` (ticks). Some
    demuxers (MPEG-TS) land after the target or off a keyframe: then try further back, and at
    last from the start."""
    back = round(Fraction(_SEEK_BACK_S) / stream.time_base)
    for offset in (target, target - back, target - 8 * back):
        src.seek(offset, stream=stream, backward=True, any_frame=False)
        first = next((p for p in src.demux(stream) if p.pts is not None), None)
        if first is not None and first.is_keyframe and first.pts <= target:
            src.seek(offset, stream=stream, backward=True, any_frame=False)
            return
    src.seek(0, backward=True, any_frame=False)  # the container's start


def _first_pts(src, stream) -> int:
    """The smallest pts among the first packets: time 0 of Moment's seconds."""
    src.seek(0, stream=stream, backward=True, any_frame=False)
    pts = []
    for packet in src.demux(stream):
        if packet.pts is not None:
            pts.append(packet.pts)
        if len(pts) >= 16:
            break
    if not pts:
        raise VideoError(f"{src.name}: no video packet with a timestamp; use --reencode")
    return min(pts)


def _ticks(seconds: float, time_base: Fraction) -> int:
    return round(Fraction(seconds) / time_base)
