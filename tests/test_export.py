"""export.py: clips cut by stream copy (to a GOP) or by re-encoding (to a frame), with audio."""

from __future__ import annotations

from pathlib import Path

import av
import pytest
from conftest import index_from_pixels, make_video, solid_frames

from clipground import export as E
from clipground.errors import UsageError, VideoError
from clipground.types import Moment

FPS, GOP = 25, 25
FRAME_S = 1 / FPS


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """6 s at 25 fps, a keyframe every second, B-frames, silent AAC audio; frame i coloured i."""
    folder = tmp_path_factory.mktemp("export")
    return make_video(
        folder / "src.mp4", solid_frames(150), fps=FPS, gop=GOP, b_frames=2, audio=True
    )


def window(first: int, last: int) -> Moment:
    return Moment(first, last, first * FRAME_S, (last + 1) * FRAME_S, 1.0)


def read_clip(path: Path) -> tuple[list[int], float, float | None]:
    """(frame indices shown, video duration from frame times, audio duration or None)."""
    with av.open(str(path)) as clip:
        frames = [
            (f.time, index_from_pixels(f.to_ndarray(format="rgb24"))) for f in clip.decode(video=0)
        ]
    with av.open(str(path)) as clip:
        audio = (
            [(f.time, f.samples / f.sample_rate) for f in clip.decode(audio=0)]
            if clip.streams.audio
            else []
        )
    video_s = frames[-1][0] + FRAME_S - frames[0][0]
    audio_s = audio[-1][0] + audio[-1][1] - audio[0][0] if audio else None
    return [i for _, i in frames], video_s, audio_s


def test_reencode_is_exact_to_the_frame_and_keeps_audio(source: Path, tmp_path: Path) -> None:
    (path,) = E.export_moments(source, [window(40, 89)], tmp_path, reencode=True)
    indices, video_s, audio_s = read_clip(path)
    assert indices == list(range(40, 90))  # frame 40 is mid-GOP: only re-encoding starts there
    assert video_s == pytest.approx(2.0, abs=FRAME_S)
    assert audio_s == pytest.approx(2.0, abs=FRAME_S)
    assert path.suffix == ".mp4" and path.parent == tmp_path


def test_padding_widens_the_clip_on_both_sides(source: Path, tmp_path: Path) -> None:
    (path,) = E.export_moments(source, [window(40, 89)], tmp_path, padding_s=0.4, reencode=True)
    indices, video_s, _ = read_clip(path)
    assert indices == list(range(30, 100))
    assert video_s == pytest.approx(2.8, abs=FRAME_S)


def test_padding_stops_at_the_start_of_the_video(source: Path, tmp_path: Path) -> None:
    (path,) = E.export_moments(source, [window(5, 20)], tmp_path, padding_s=1.0, reencode=True)
    assert read_clip(path)[0] == list(range(46))


def test_stream_copy_starts_on_the_keyframe_before_and_ends_on_the_window(
    source: Path, tmp_path: Path
) -> None:
    (path,) = E.export_moments(source, [window(40, 89)], tmp_path)
    indices, video_s, audio_s = read_clip(path)
    assert indices == list(range(25, 90))  # from keyframe 25, up to the window's last frame
    assert 2.0 <= video_s <= 2.0 + GOP * FRAME_S  # within a GOP of the window
    assert audio_s is not None and audio_s == pytest.approx(video_s, abs=0.1)


def test_stream_copy_is_exact_when_the_window_starts_on_a_keyframe(
    source: Path, tmp_path: Path
) -> None:
    (path,) = E.export_moments(source, [window(50, 74)], tmp_path)
    indices, video_s, _ = read_clip(path)
    assert indices == list(range(50, 75))
    assert video_s == pytest.approx(1.0, abs=FRAME_S)


def test_several_moments_give_several_named_clips(source: Path, tmp_path: Path) -> None:
    paths = E.export_moments(source, [window(0, 24), window(125, 149)], tmp_path / "new", stem="q7")
    assert [p.name for p in paths] == ["q7_000_0.00-1.00s.mp4", "q7_001_5.00-6.00s.mp4"]
    assert read_clip(paths[1])[0] == list(range(125, 150))  # the window that ends the video


def test_video_without_audio(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", solid_frames(30), fps=FPS)
    (path,) = E.export_moments(silent, [window(10, 19)], tmp_path / "re", reencode=True)
    assert read_clip(path)[0] == list(range(10, 20)) and read_clip(path)[2] is None


def test_stream_copy_keeps_the_references_that_b_frames_in_the_window_need(tmp_path: Path) -> None:
    # x264's default B-pyramid: frame 19 is coded after (and predicted from) frames 20 and 22
    silent = make_video(tmp_path / "silent.mp4", solid_frames(30), fps=FPS)
    (path,) = E.export_moments(silent, [window(10, 19)], tmp_path / "copy")
    indices, _, audio_s = read_clip(path)
    assert indices[: indices.index(19) + 1] == list(range(20))  # one GOP: from keyframe 0
    assert indices[-1] <= 19 + 3 and audio_s is None  # at most a B-frame run past the window


def test_bad_inputs(source: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--padding"):
        E.export_moments(source, [window(0, 1)], tmp_path, padding_s=-1.0)
    with pytest.raises(VideoError, match="no such file"):
        E.export_moments(tmp_path / "missing.mp4", [window(0, 1)], tmp_path)
    (tmp_path / "file").write_text("")
    with pytest.raises(UsageError, match="cannot create"):
        E.export_moments(source, [window(0, 1)], tmp_path / "file" / "sub")


def test_a_failed_stream_copy_falls_back_to_reencoding(source: Path, tmp_path: Path, caplog) -> None:
    def broken(video, cut):
        cut.path.write_bytes(b"half a clip")
        raise av.error.PermissionError(1, "simulated: codec not allowed in this container")

    (path,) = E.export_moments(source, [window(40, 89)], tmp_path, writers=E.ClipWriters(copy=broken))
    assert path.suffix == ".mp4" and read_clip(path)[0] == list(range(40, 90))
    assert "re-encoding it" in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the broken copy is gone


def test_ffmpeg_binary_is_the_last_resort(source: Path, tmp_path: Path) -> None:
    def broken(video, cut):
        raise av.error.InvalidDataError(22, "simulated muxer failure")

    calls = []
    no_ffmpeg = E.ClipWriters(copy=broken, reencode=broken, which=lambda name: None)
    with pytest.raises(VideoError, match="simulated muxer failure"):
        E.export_moments(source, [window(40, 89)], tmp_path, writers=no_ffmpeg)
    ffmpeg = E.ClipWriters(
        copy=broken,
        reencode=broken,
        which=lambda name: "/opt/bin/ffmpeg",
        run_ffmpeg=lambda command, cut: calls.append(command),
    )
    E.export_moments(source, [window(40, 89)], tmp_path, padding_s=0.5, writers=ffmpeg)
    (command,) = calls
    assert command[0] == "/opt/bin/ffmpeg" and command[command.index("-ss") + 1] == "1.100000"
    assert command[command.index("-t") + 1] == "3.000000" and command[-3:-1] == ["-c", "copy"]


def test_reencoding_keeps_the_display_rotation(tmp_path: Path) -> None:
    turned = make_video(tmp_path / "turned.mp4", solid_frames(20), fps=FPS, rotation=-90)
    (path,) = E.export_moments(turned, [window(5, 14)], tmp_path / "re", reencode=True)
    with av.open(str(path)) as clip:
        assert next(clip.decode(video=0)).rotation == -90


@pytest.mark.parametrize(
    "name",
    ["sony_a7m3_interlaced.mts", "mpeg4asp_mp3.avi", "mpeg4sp_amrnb.3gp", "hevc10_dv_iphone.mov",
     "vp9_odd_161x121.webm"],
)
def test_awkward_real_videos(name: str, tmp_path: Path) -> None:
    """MPEG-TS seeks that land late, AVI packed B-frames repeating a pts, AMR that MP4 cannot copy;
    10-bit HEVC and an odd frame size, which re-encoding converts (one scaler for the clip)."""
    from conftest import real_videos_dir

    video = real_videos_dir() / name
    with av.open(str(video)) as src:
        times = [f.time for f in src.decode(video=0)]
    first, last = len(times) // 3, 2 * len(times) // 3
    moment = Moment(first, last - 1, times[first] - times[0], times[last] - times[0], 1.0)
    for reencode in (False, True):
        (path,) = E.export_moments(video, [moment], tmp_path / str(reencode), reencode=reencode)
        with av.open(str(path)) as clip:
            shown = [f.time for f in clip.decode(video=0)]
        if reencode:  # to a frame: this AVI's packed B-frames blur its own pts by one
            assert abs(len(shown) - (last - first)) <= 1
        else:
            assert len(shown) >= last - first  # from a keyframe: at least the window


def test_ffmpeg_command_reencodes_with_h264_and_aac(tmp_path: Path) -> None:
    cut = E.Cut(1.0, 2.5, tmp_path / "c.mp4")
    command = E.ffmpeg_command("ffmpeg", Path("in.mkv"), cut, reencode=True)
    assert ["-c:v", "libx264", "-c:a", "aac"] == command[-5:-1]
    assert command[-1] == str(cut.path)
