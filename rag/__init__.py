"""Career-guide question answering with section citations.

>>> from rag import Assistant
>>> a = Assistant.from_dir(seeds_dir="seeds", index_dir="embeddings")
>>> a.ask("CISOに必要なスキルは？").text
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    GuideError,
    IndexCorruptError,
    IndexMissingError,
    IndexProblem,
    IndexStaleError,
    LLMError,
    ModelError,
    NoGuidesError,
    QuestionError,
    RagError,
    SettingsError,
)
from .settings import DEFAULT_MODEL, LLMSettings, Settings

if TYPE_CHECKING:
    from .assistant import Assistant
    from .documents import Chunk, Guide, Section
    from .results import Answer, Citation, Hit

__version__ = "0.1.0"

_LAZY = {
    "Assistant": ".assistant",
    "Answer": ".results",
    "Citation": ".results",
    "Hit": ".results",
    "Chunk": ".documents",
    "Guide": ".documents",
    "Section": ".documents",
}


def __getattr__(name: str) -> Any:
    """Import heavy modules only when their classes are first used."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


__all__ = [
    "DEFAULT_MODEL",
    "Answer",
    "Assistant",
    "Chunk",
    "Citation",
    "GuideError",
    "Guide",
    "Hit",
    "IndexCorruptError",
    "IndexMissingError",
    "IndexProblem",
    "IndexStaleError",
    "LLMError",
    "LLMSettings",
    "ModelError",
    "NoGuidesError",
    "QuestionError",
    "RagError",
    "Section",
    "Settings",
    "SettingsError",
]
