"""`match`, `search` and `align` with `--server URL`: the question goes to a running `clipground serve`,
and the answer is printed as the standalone command prints its own (same records, same exit codes).

Nothing here loads a model or opens a video (no torch, open_clip or av is imported): the options
are checked here as the standalone command checks them, the question is sent (`clipground.client`),
and the server's names for the videos (the absolute paths sent) are put back as they were typed.
Options given on the command line are sent; the others take the server's values. The model, the
sample rate and the decoder are the server's: asking for others is refused.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer

from clipground.cli.options import model_spec
from clipground.client import Answer, Client
from clipground.errors import ClipgroundError, UsageError
from clipground.options import AlignOptions, GroundOptions

log = logging.getLogger(__name__)

# CLI parameter -> GroundOptions field: how the standalone commands build their options
GROUND_FIELDS = {
    "fps": "fps", "min_len": "min_len_s", "max_len": "max_len_s", "max_fraction": "max_fraction",
    "objective": "objective", "method": "method", "span_mode": "span_mode", "top_k": "top_k",
    "nms_iou": "nms_iou", "decoder": "decoder", "batch_size": "batch_size", "refine": "refine",
    "refine_fps": "refine_fps", "decode_workers": "decode_workers",
    "model_streams": "model_streams", "timeout": "refine_timeout_s",
}  # fmt: skip
ALIGN_FIELDS = {
    "fps": "fps", "min_len": "min_len_s", "max_len": "max_len_s", "gaps": "allow_gaps",
    "gap_penalty": "gap_penalty", "threshold": "threshold", "normalise": "normalisation",
    "decoder": "decoder", "batch_size": "batch_size",
}  # fmt: skip
# The window options a server takes per question (the others are the server's own).
WINDOW = (
    "top_k", "min_len", "max_len", "max_fraction", "nms_iou", "objective", "method",
    "span_mode", "refine", "refine_fps", "exact",
)  # fmt: skip
ALIGN_BODY = ("min_len", "max_len", "gaps", "gap_penalty", "threshold", "normalise", "spans")
# Options that need this machine's files or the model here: not with --server.
LOCAL_ONLY = (
    "plot", "export", "padding", "reencode", "no_cache", "cache_dir", "glob", "engine", "address",
    "gpus_per_worker",
)  # fmt: skip


def match(ctx: typer.Context, url: str) -> None:
    """`clipground match ... --server URL`."""
    from clipground.cli._common import check_format
    from clipground.text import query_sentences

    p, given = ctx.params, explicit(ctx)
    _refuse_local(given)
    _local_options(GROUND_FIELDS, p, GroundOptions)
    check_format(p["fmt"])
    sentences = query_sentences(tuple(p["text"] or ()), _str(p["transcript"]), p["span"])
    names = Names([p["video"]])
    params = [("path", names.sent(p["video"])), *(("text", s) for s in sentences)]
    params += _window(p, given) + _checks(p, given)
    record = names.ask(lambda: _client(url).get("/api/match", params)).body
    record["video"] = p["video"]
    _emit(record, p["fmt"])


def search(ctx: typer.Context, url: str) -> None:
    """`clipground search PATHS ... --server URL`: exit 1 when some videos failed, as standalone."""
    from clipground.output import write_record
    from clipground.text import clean_query

    p, given = ctx.params, explicit(ctx) | {"top_k"}  # search's own default, not the server's
    _refuse_local(given)
    _local_options(GROUND_FIELDS, p, GroundOptions)
    sentences = clean_query(p["text"] or [])
    names = Names(p["paths"])
    params = [("path", names.sent(raw)) for raw in p["paths"]]
    params += [("text", s) for s in sentences] + _window(p, given) + _checks(p, given)
    answer = names.ask(lambda: _client(url).get("/api/search", params))
    for warning in _warnings(answer):
        log.warning("%s", names.message(warning))
    for record in answer.body:
        record["video"] = names.typed(record["video"])
        write_record(record, "jsonl", sys.stdout)
    if int(answer.headers.get("x-clipground-failed", "0") or 0):
        raise typer.Exit(1)


def align(ctx: typer.Context, url: str) -> None:
    """`clipground align VIDEO --transcript FILE ... --server URL`."""
    from clipground.output import write_record
    from clipground.text import parse_transcript, transcript_text

    p, given = ctx.params, explicit(ctx)
    _refuse_local(given)
    _local_options(ALIGN_FIELDS, p, AlignOptions)
    raw = transcript_text(p["transcript"])
    parse_transcript(raw, str(p["transcript"]))  # the standalone command's errors, first
    names = Names([p["video"]])
    body: dict[str, Any] = {"path": names.sent(p["video"]), "transcript": raw}
    body.update(name=str(p["transcript"]), **{k: p[k] for k in ALIGN_BODY})
    body.update(_checks(p, given))
    records = names.ask(lambda: _client(url).post("/api/align", body)).body
    records[-1]["summary"]["video"] = p["video"]
    for record in records:
        write_record(record, "jsonl", sys.stdout)


def explicit(ctx: typer.Context) -> set[str]:
    """The parameters given on the command line or by environment (not left at their default)."""
    chosen = ("COMMANDLINE", "ENVIRONMENT")  # by name: typer may bring its own copy of click
    return {n for n in ctx.params if getattr(ctx.get_parameter_source(n), "name", "") in chosen}


class Names:
    """The videos as typed, and as sent (absolute, so that the server finds them wherever it
    runs); the server's answers and errors name them as sent."""

    def __init__(self, typed: Sequence[str]) -> None:
        self._sent = {raw: os.path.abspath(raw) for raw in typed}

    def sent(self, raw: str) -> str:
        """The absolute path sent for `raw`."""
        return self._sent[raw]

    def typed(self, video: str) -> str:
        """A video the server named: as typed, or in a folder as `find_videos` names it there."""
        for raw, sent in self._longest_first():
            if video == sent:
                return raw
            if video.startswith(sent + os.sep):
                return str(Path(raw) / video[len(sent) + 1 :])
        return video

    def message(self, text: str) -> str:
        """An error or warning with the paths sent put back as typed."""
        for raw, sent in self._longest_first():
            text = text.replace(sent + os.sep, str(Path(raw)) + os.sep).replace(sent, raw)
        return text

    def ask(self, send: Any) -> Answer:
        """`send()`, with the paths in an error message put back as typed."""
        try:
            return send()
        except ClipgroundError as exc:
            raise type(exc)(self.message(str(exc))) from None

    def _longest_first(self) -> list[tuple[str, str]]:
        return sorted(self._sent.items(), key=lambda kv: -len(kv[1]))


def _client(url: str) -> Client:
    from clipground.client import ENV_TOKEN

    return Client(url, os.environ.get(ENV_TOKEN) or None)


def _refuse_local(given: Iterable[str]) -> None:
    for name in LOCAL_ONLY:
        if name in given:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} is not available with --server: drop one of them")


def _local_options(fields: dict[str, str], p: dict[str, Any], options: type) -> None:
    """Build the options and the model spec as the standalone command does: the same values are
    refused alike, before anything is sent."""
    options(**{field: p[name] for name, field in fields.items() if name in p})
    model_spec(p["model"], p["pretrained"], p["checkpoint"], p["device"], p["precision"])


def _window(p: dict[str, Any], given: set[str]) -> list[tuple[str, str]]:
    return [(name, _param(p[name])) for name in WINDOW if name in given and name in p]


def _checks(p: dict[str, Any], given: set[str]) -> list[tuple[str, str]]:
    """The model, rate and decoder asked for, which the server checks against its own."""
    checks = [(name, _param(p[name])) for name in ("fps", "decoder") if name in given]
    if given & {"model", "pretrained", "checkpoint"}:
        spec = model_spec(p["model"], p["pretrained"], p["checkpoint"], p["device"], p["precision"])
        checks.append(("model", spec.identity))
    return checks


def _param(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _warnings(answer: Answer) -> list[str]:
    raw = answer.headers.get("x-clipground-warnings")
    return [str(w) for w in json.loads(raw)] if raw else []


def _emit(record: dict[str, Any], fmt: str) -> None:
    from clipground import output

    if fmt != "table":
        output.write_record(record, fmt, sys.stdout)
        return
    from rich.console import Console

    output.print_table(_grounding(record), Console())


def _grounding(record: dict[str, Any]) -> Any:
    """The `Grounding` a record was made from (what the table prints)."""
    from clipground.types import Grounding, Moment

    def moment(r: dict[str, Any]) -> Moment:
        return Moment(r["start_frame"], r["end_frame"], r["start_s"], r["end_s"], r["score"])

    fields = ("objective", "span_mode", "model", "decoder", "native_fps", "num_frames",
              "duration_s", "sample_fps", "num_sampled", "frames_embedded")  # fmt: skip
    return Grounding(
        video=record["video"],
        query=tuple(record["query"]),
        best=moment(record),
        candidates=tuple(moment(c) for c in record["candidates"]),
        sentences=tuple(moment(s) for s in record.get("sentences", [])),
        **{name: record[name] for name in fields},
        declared_duration_s=record.get("declared_duration_s"),
    )
