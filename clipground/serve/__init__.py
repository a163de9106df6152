"""`clipground serve`: the web app (the only package that imports fastapi), its static page.

library (`Library`: the videos under PATHS, by id, and the only files read) -> store
(`EmbeddingStore`: each video embedded once, kept in memory; `BackgroundEmbedder` works through
them) and memo (`RefineMemo`: the second pass's frames, kept) -> service (`Service`: the CLI's
library calls and records) -> routers (the HTTP API, the media files with range requests, the
page) <- `create_app` (everything passed in).
"""

from clipground.serve.app import create_app
from clipground.serve.library import Library, Video
from clipground.serve.memo import MemoStats, RefineMemo
from clipground.serve.security import new_token

__all__ = ["Library", "MemoStats", "RefineMemo", "Video", "create_app", "new_token"]
