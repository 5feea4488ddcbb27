"""Domain exceptions: the core raises these, the front ends turn them into one clear message."""

from __future__ import annotations


class QabotError(Exception):
    """Base of every error qabot reports to a person; ``hint`` says what to do about it."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(QabotError):
    """A setting or configuration file is invalid."""

    exit_code = 2


class CorpusError(QabotError):
    """The seeds folder is missing or holds nothing that can be indexed."""


class IndexMissingError(QabotError):
    """No index has been built yet at the configured location."""


class IndexMismatchError(QabotError):
    """The index was built with another model or an incompatible format version."""


class IndexCorruptError(QabotError):
    """An index file is truncated, corrupted or missing."""


class IndexLockedError(QabotError):
    """Another build holds the index lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class EmbeddingError(QabotError):
    """The embedding model could not be found or loaded."""


class EvalDataError(QabotError):
    """An evaluation file cannot be read or is in neither supported format."""

    exit_code = 2


class ReaderError(QabotError):
    """The reader model is missing, altered, or cannot be trained or run."""


class IndexWriteError(QabotError):
    """A new index generation could not be written (read-only folder, full disk, I/O error);
    the live generation is left as it was."""


class NoArticlesMatchError(QabotError):
    """A filter (``--since``, ``--source``) leaves no article to answer from."""


class GenerationError(QabotError):
    """The language model's reply cannot be used (too slow, unreachable, an error, a citation of
    a passage it was not shown, or none at all); the extractive answer is given instead."""


class ClusterError(QabotError):
    """The Ray cluster of a distributed build cannot be reached, or failed during the build;
    the live generation is left as it was."""

    exit_code = 69  # EX_UNAVAILABLE: a service the command needs is unavailable
