"""The app factory: the library, the encoder (or how to load it), the options, the cache and the
token come in as parameters, so that tests pass a fake encoder and a temporary cache.

The model is loaded once when the server starts and kept; the background embedder starts then
too and is stopped when the server stops.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware

from clipground import __version__
from clipground.cache import EmbeddingCache
from clipground.model import Encoder
from clipground.options import GroundOptions
from clipground.preview import PreviewCache
from clipground.serve import errors, routers
from clipground.serve.jobs import BackgroundEmbedder
from clipground.serve.library import Library
from clipground.serve.media import MediaFiles
from clipground.serve.memo import RefineMemo
from clipground.serve.routers.page import STATIC_DIR
from clipground.serve.security import BodyLimit, TokenGuard
from clipground.serve.service import Service
from clipground.serve.store import EmbeddingStore
from clipground.serve.timing import ServerTiming


def create_app(
    library: Library,
    encoder: Encoder | Callable[[], Encoder],
    options: GroundOptions | None = None,
    cache: EmbeddingCache | None = None,
    token: str | None = None,
    allowed_hosts: Sequence[str] | None = None,
    background: bool = True,
    memo: RefineMemo | None = None,
) -> FastAPI:
    """The web app over `library`. `encoder` is a loaded one or a function that loads it (called
    once, at start-up); `cache` None: embeddings are kept in memory only, previews in a
    temporary folder. `token`: every request must carry it. `allowed_hosts`: the Host headers
    answered (loopback names, against DNS rebinding); None: any. `background`: embed the
    un-embedded videos from start-up on. `memo`: where the second pass's frames are remembered
    (None: a `RefineMemo` with its defaults; `RefineMemo(0)`: nowhere); closed at shutdown."""
    memo = memo if memo is not None else RefineMemo()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            loaded = encoder() if callable(encoder) else encoder
            store = EmbeddingStore(loaded, options or GroundOptions(), cache)
            app.state.service = Service(library, store, options or GroundOptions(), memo)
            stack.callback(memo.close)
            app.state.media = MediaFiles(PreviewCache(_previews_root(cache, stack)))
            if background:
                embedder = BackgroundEmbedder(store, library.videos)
                embedder.start()
                stack.callback(embedder.stop)
            else:
                store.queue(library.videos())
            yield

    app = FastAPI(
        title="clipground",
        version=__version__,
        summary="Where in a video a piece of text happens: the CLI's answers over HTTP.",
        lifespan=lifespan,
    )
    errors.install(app)
    for module in (routers.queries, routers.library, routers.media, routers.page):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR, check_dir=False), name="static")
    app.add_middleware(BodyLimit)
    app.add_middleware(ServerTiming)
    if token is not None:
        app.add_middleware(TokenGuard, token=token)
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    return app


def _previews_root(cache: EmbeddingCache | None, stack: contextlib.ExitStack) -> Path:
    """Beside the embedding cache (`cache clear` removes them); without one, a temporary folder
    removed at shutdown."""
    if cache is not None:
        return cache.previews_root
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clipground-previews-")))
