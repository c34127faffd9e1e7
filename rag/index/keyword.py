"""BM25 keyword index (bm25s) over Japanese-aware terms, saved as plain ``.npy`` and JSON files."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..tokenization import KeywordTokenizer



def _bm25s():  # noqa: ANN202 - the bm25s module
    """Import bm25s, which sets its own logger to DEBUG on import; the library stays quiet."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


class KeywordIndex:
    """Scores every chunk against a query with BM25."""

    def __init__(self, bm25: object, tokenizer: KeywordTokenizer) -> None:
        self._bm25 = bm25
        self.tokenizer = tokenizer

    @property
    def size(self) -> int:
        """Number of indexed documents."""
        return int(self._bm25.scores["num_docs"])  # type: ignore[attr-defined]

    @classmethod
    def build(cls, texts: list[str], tokenizer: KeywordTokenizer) -> KeywordIndex:
        """Index ``texts`` (one per chunk, in chunk-id order)."""
        bm25 = _bm25s().BM25()
        corpus = [tokenizer.tokenize(text) or [""] for text in texts]
        bm25.index(corpus, show_progress=False)
        return cls(bm25, tokenizer)

    def scores(self, query: str, mask: np.ndarray | None = None) -> np.ndarray:
        """BM25 score of every document (zeros outside ``mask`` when given)."""
        terms = [t for t in self.tokenizer.tokenize(query) if t in self._bm25.vocab_dict]  # type: ignore[attr-defined]
        if not terms:
            return np.zeros(self.size, dtype=np.float32)
        weights = None if mask is None else mask.astype(np.float32)
        return np.asarray(self._bm25.get_scores(terms, weight_mask=weights), dtype=np.float32)  # type: ignore[attr-defined]

    def save(self, folder: Path) -> None:
        """Write the arrays (``.npy``, no pickle) and parameters (JSON) into ``folder``."""
        self._bm25.save(str(folder), allow_pickle=False, show_progress=False)  # type: ignore[attr-defined]

    @classmethod
    def load(cls, folder: Path, tokenizer: KeywordTokenizer) -> KeywordIndex:
        """Read an index written by :meth:`save`."""
        bm25 = _bm25s().BM25.load(str(folder), allow_pickle=False, show_progress=False)
        return cls(bm25, tokenizer)
