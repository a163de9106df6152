"""The routes, one router per concern: the questions, the library, the media files and the page."""

from clipground.serve.routers import library, media, page, queries

__all__ = ["library", "media", "page", "queries"]
