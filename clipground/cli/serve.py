"""`clipground serve`: the page and the JSON API over a library, the model loaded once and kept."""

from __future__ import annotations

import ipaddress
import socket
from typing import Annotated

import typer

from clipground.cli._common import command
from clipground.cli.options import (
    GROUND,
    MODEL,
    BatchSize,
    CacheDir,
    Checkpoint,
    Decoder,
    DecodeWorkers,
    Device,
    Fps,
    MaxFraction,
    MaxLen,
    Method,
    MinLen,
    Model,
    ModelStreams,
    NmsIou,
    NoCache,
    Objective,
    Precision,
    Pretrained,
    Quiet,
    Refine,
    RefineFps,
    Verbose,
    model_spec,
)

LOOPBACK_NAMES = ("localhost", "127.0.0.1")  # the Host headers a loopback server answers
DEFAULT_LIMIT_MB = 512  # --refine-memory (serve.memo.DEFAULT_LIMIT_MB; kept here: no numpy import)


def serve(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Video files or folders to serve (searched recursively).", show_default=False
        ),
    ],
    port: Annotated[int, typer.Option(help="TCP port to listen on (0: any free one).")] = 8000,
    host: Annotated[
        str, typer.Option(help="Address to listen on; any but loopback requires a token.")
    ] = "127.0.0.1",
    token: Annotated[
        str | None,
        typer.Option(
            envvar="CLIPGROUND_TOKEN",
            show_envvar=False,
            help="Requests must carry this token (default beyond loopback: a new one, "
            "printed once).",
        ),
    ] = None,
    glob: Annotated[
        str | None, typer.Option(help="Pick files in folders by this glob instead of by extension.")
    ] = None,
    fps: Fps = GROUND.fps,
    min_len: MinLen = None,
    max_len: MaxLen = None,
    max_fraction: MaxFraction = GROUND.max_fraction,
    nms_iou: NmsIou = GROUND.nms_iou,
    objective: Objective = GROUND.objective,
    method: Method = GROUND.method,
    refine: Refine = None,
    refine_fps: RefineFps = None,
    model: Model = MODEL.name,
    pretrained: Pretrained = MODEL.pretrained,
    checkpoint: Checkpoint = None,
    device: Device = MODEL.device,
    precision: Precision = MODEL.precision,
    decoder: Decoder = GROUND.decoder,
    batch_size: BatchSize = GROUND.batch_size,
    decode_workers: DecodeWorkers = None,
    model_streams: ModelStreams = None,
    refine_memory: Annotated[
        int,
        typer.Option(
            help="MiB of the second pass's frames kept in memory, so that later questions about "
            "a video refine without decoding again (0: none).",
        ),
    ] = DEFAULT_LIMIT_MB,
    refine_prefill: Annotated[
        bool,
        typer.Option(
            help="After a video's first refined question, embed its other native frames in the "
            "background, so that any later question about it refines from memory.",
        ),
    ] = True,
    no_cache: NoCache = False,
    cache_dir: CacheDir = None,
    quiet: Quiet = False,
    verbose: Verbose = False,
) -> None:
    """Serve a page and a JSON API over the videos: search, match and align in a browser or with
    curl, the model loaded once (un-embedded videos are embedded in the background)."""
    with command(quiet, verbose):
        check_installed()
        from clipground.cache import EmbeddingCache
        from clipground.errors import UsageError
        from clipground.model import load_encoder
        from clipground.options import GroundOptions
        from clipground.serve import Library, RefineMemo, create_app, new_token

        options = GroundOptions(
            fps=fps, min_len_s=min_len, max_len_s=max_len, max_fraction=max_fraction,
            objective=objective, method=method, nms_iou=nms_iou, decoder=decoder,
            batch_size=batch_size, refine=refine, refine_fps=refine_fps,
            decode_workers=decode_workers, model_streams=model_streams,
        )  # fmt: skip
        spec = model_spec(model, pretrained, checkpoint, device, precision)
        if refine_memory < 0:
            raise UsageError(f"--refine-memory must be >= 0 (MiB), got {refine_memory}")
        library = Library(paths, glob)
        loopback = is_loopback(host)
        generated = token is None and not loopback
        token = new_token() if generated else token
        listener = bind(host, port)
        encoder = load_encoder(spec)
        app = create_app(
            library, encoder, options, None if no_cache else EmbeddingCache(cache_dir), token,
            allowed_hosts=[*LOOPBACK_NAMES, host] if loopback and token is None else None,
            memo=RefineMemo(refine_memory << 20, refine_prefill),
        )  # fmt: skip
        url = page_url(host, listener.getsockname()[1], token if generated else None)
        note = "; requests must carry the token in this address, shown once" if generated else ""
        typer.echo(
            f"serving {len(library.videos())} videos at {url} (Ctrl-C stops{note})", err=True
        )
        run(app, listener, verbose, quiet)


def check_installed() -> None:
    """A usage error that says what to install when the `serve` extra is not there."""
    import importlib.util

    from clipground.errors import UsageError

    missing = [m for m in ("fastapi", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"clipground serve needs {' and '.join(missing)}, not installed here: "
            "pip install 'clipground[serve]'"
        )


def is_loopback(host: str) -> bool:
    """Whether `host` is a loopback name or address (no token is needed there)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a usage error that says why not (the port is taken...)."""
    from clipground.errors import UsageError

    if not 0 <= port <= 65535:
        raise UsageError(f"--port must be 0..65535, got {port}")
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)  # connections wait from now on, until the app takes them
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None
    return listener


def page_url(host: str, port: int, token: str | None) -> str:
    """The page's address, with the token when one is needed."""
    name = f"[{host}]" if ":" in host else host
    return f"http://{name}:{port}/" + (f"?token={token}" if token else "")


def run(app: object, listener: socket.socket, verbose: bool, quiet: bool) -> None:
    """Serve `app` on `listener` with uvicorn until interrupted."""
    import uvicorn

    level = "debug" if verbose else "error" if quiet else "warning"
    config = uvicorn.Config(app, log_level=level, access_log=verbose, lifespan="on")  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[listener])
