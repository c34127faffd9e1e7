"""Typed exceptions raised by the library.

Every error the library raises on purpose derives from :class:`RagError` and
carries a message that states what went wrong and what to do about it. Only the
command line and the web app turn these into user-facing messages and exit codes.
"""

from __future__ import annotations

from pathlib import Path


class RagError(Exception):
    """Base class of every error raised on purpose by :mod:`rag`."""


class GuideError(RagError):
    """A guide file could not be read or parsed."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NoGuidesError(RagError):
    """The seeds folder holds no usable guide."""


class ModelError(RagError):
    """The embedding model could not be loaded or materialised."""


class IndexProblem(RagError):
    """The index on disk cannot be used as it is (base class)."""


class IndexMissingError(IndexProblem):
    """No index has been built in the index folder yet."""


class IndexStaleError(IndexProblem):
    """The index was built from other guides, another model or other settings."""


class IndexCorruptError(IndexProblem):
    """Index files are missing, truncated or disagree with each other."""


class QuestionError(RagError):
    """A question cannot be answered as given (for example: too long)."""


class LLMError(RagError):
    """The configured language-model server failed or answered unusably."""


class SettingsError(RagError, ValueError):
    """A setting has a value the library does not accept; the message names the allowed ones."""


class CalibrationError(RagError):
    """A calibration (fitted ranking and abstention) is missing, damaged or for another model."""
