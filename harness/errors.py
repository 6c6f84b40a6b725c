"""Project exceptions: errors a user can cause, each with a one-line message.

The message says what went wrong, where, and how to fix it. The CLI prints it without a
traceback and exits non-zero; the pytest plugin turns it into a collection/usage error.
"""

from __future__ import annotations


class BookclipError(Exception):
    """Base class for every error a user can cause (bad input, bad spec, missing weights)."""

    exit_code = 2

    def __str__(self) -> str:  # keep it to one line, whatever the caller passed
        return " ".join(str(super().__str__()).split())


class DataError(BookclipError):
    """A catalogue, CSV or image cannot be used as given."""


class ModelError(BookclipError):
    """A model spec cannot be resolved or its weights cannot be loaded."""


class CheckpointError(ModelError):
    """A checkpoint file is unsafe, corrupt, or does not fit the architecture."""


class FinetuneError(BookclipError):
    """A fine-tuning run failed or returned a result that does not check out."""


class EvaluationError(BookclipError):
    """An evaluation cannot be computed from what it was given (empty view, NaN embeddings...)."""


class ConfigError(BookclipError):
    """A configuration value, gate expression or option is malformed."""


class WriteError(BookclipError, OSError):
    """A file could not be written: the disk is full, read-only or over a size limit. Also an OSError (errno
    and strerror kept), so a caller with its own message for a failed write still gives it."""

    def __init__(self, errno: int, strerror: str | None, message: str) -> None:
        OSError.__init__(self, errno, strerror)
        self.message = message

    def __str__(self) -> str:
        return " ".join(self.message.split())
