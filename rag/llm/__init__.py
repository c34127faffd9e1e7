"""Optional generated answers from an OpenAI-compatible model server, verified against the guides.

Nothing here is imported unless ``settings.llm`` names a server and a model; the extractive
answerer works without it.
"""

from __future__ import annotations

from .client import ChatClient, LLMFailure
from .generator import LLMAnswerer

__all__ = ["ChatClient", "LLMAnswerer", "LLMFailure"]
