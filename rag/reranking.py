"""Optional cross-encoder reranking: a sentence-transformers ``CrossEncoder`` reads the question
with the best passage of each of the top sections, and its score becomes one more ranking
feature (weighted by a calibration fitted with the same reranker, ``rag tune --reranker``).

Off by default: no reranker can be downloaded on an offline machine. With network access,
``--reranker cross-encoder/mmarco-mMiniLMv2-L12-H384-v1`` (multilingual) or a local folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import CrossEncoder


class Reranker:
    """Loads the cross-encoder on first use; scores (question, passage) pairs."""

    def __init__(self, name: str, *, top_sections: int = 20) -> None:
        self.name = name
        self.top_sections = top_sections
        self._model: CrossEncoder | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> CrossEncoder:
        """The loaded :class:`CrossEncoder`."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from sentence_transformers import CrossEncoder

                    source = Path(self.name).expanduser()
                    try:
                        self._model = CrossEncoder(str(source) if source.exists() else self.name, device="cpu")
                    except Exception as exc:  # hub errors, missing files, bad configs
                        raise ModelError(
                            f"could not load reranker {self.name!r}: {type(exc).__name__}: {exc}. "
                            "Use a local CrossEncoder folder or a model already in the Hugging Face cache "
                            "(this machine is offline), or leave --reranker unset."
                        ) from exc
        return self._model

    def scores(self, question: str, passages: list[str]) -> np.ndarray:
        """One relevance score per passage (the model's raw output)."""
        if not passages:
            return np.zeros(0)
        import torch

        with torch.inference_mode():
            out = self.model.predict([(question, p) for p in passages], show_progress_bar=False, convert_to_numpy=True)
        out = np.asarray(out, dtype=np.float64)
        return out if out.ndim == 1 else out[:, -1]
