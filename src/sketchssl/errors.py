"""Exception types raised for problems a user can cause.

Every error the user can provoke (a bad file, a bad config key, an empty sketch, a wrong shape)
is one of these, with a message that names the file / index / key and says how to fix it. The
command-line interface turns them into one red line and a non-zero exit status instead of a
traceback; library users can catch :class:`SketchSSLError` to handle them all.
"""

from __future__ import annotations


class SketchSSLError(Exception):
    """Base class of every error sketchssl raises on purpose."""


class SketchFormatError(SketchSSLError, ValueError):
    """A sketch array has the wrong shape, dtype or content (empty, NaN, inf, ...)."""


class SketchFileError(SketchSSLError):
    """A sketch file cannot be read: truncated, malformed, hostile or of an unknown format.

    Attributes:
        path: the file that failed.
        location: where in it (``"line 12"``, ``"index 3 of 'train'"``), if known.
    """

    def __init__(self, path: object, message: str, location: str | None = None) -> None:
        self.path = str(path)
        self.location = location
        self.message = message
        where = f"{self.path}, {location}" if location else self.path
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:
        # Rebuild from the three parts, so the error survives a trip between processes.
        return (type(self), (self.path, self.message, self.location))


class UnsafeFileError(SketchFileError):
    """A file asks for something we refuse to do, such as running pickled code."""


class StoreError(SketchSSLError):
    """A SketchStore is missing, incomplete, being written, or inconsistent."""


class DownloadError(SketchSSLError):
    """A download failed (offline, unknown category, server error) after its retries."""


class ConfigError(SketchSSLError, KeyError):
    """A configuration key or value is wrong."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class TrainingError(SketchSSLError):
    """Training cannot go on: the loss stays non-finite, or there is nothing to roll back to."""
