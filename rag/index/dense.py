"""Dense vector index on FAISS: exact inner product for small collections, HNSW for large ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 256


class DenseIndex:
    """Normalised vectors searched by inner product (= cosine); ids are chunk ids."""

    def __init__(self, index: object) -> None:
        self._index = index

    @property
    def size(self) -> int:
        """Number of vectors."""
        return int(self._index.ntotal)  # type: ignore[attr-defined]

    @property
    def dimension(self) -> int:
        """Vector dimension."""
        return int(self._index.d)  # type: ignore[attr-defined]

    @property
    def kind(self) -> str:
        """``"flat"`` (exact) or ``"hnsw"`` (approximate)."""
        import faiss

        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "flat"

    @classmethod
    def build(cls, vectors: np.ndarray, *, exact_max: int = 20_000) -> DenseIndex:
        """Exact search up to ``exact_max`` vectors, an HNSW graph beyond."""
        import faiss

        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        dim = vectors.shape[1]
        if len(vectors) <= exact_max:
            index = faiss.IndexFlatIP(dim)
        else:
            index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(vectors)
        return cls(index)

    def search(
        self, query: np.ndarray, k: int, id_range: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and ids of the ``k`` nearest vectors, optionally restricted to ``[start, end)``.

        Padding ids (``-1``) that FAISS returns when fewer than ``k`` match are removed.
        """
        import faiss

        k = max(1, min(k, self.size))
        query = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if id_range is not None and self.kind == "hnsw":
            # A filtered HNSW walk misses most of a small id range (recall@10 ~0.5 measured at
            # 20,000 vectors); a guide's chunks are contiguous, so score them exactly instead.
            return self._search_range_exact(query[0], k, id_range)
        if id_range is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorRange(int(id_range[0]), int(id_range[1])))
        scores, ids = self._index.search(query, k, params=params)  # type: ignore[attr-defined]
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def _search_range_exact(self, query: np.ndarray, k: int, id_range: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        start, end = max(0, int(id_range[0])), min(self.size, int(id_range[1]))
        if end <= start:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        vectors = self._index.reconstruct_n(start, end - start)  # type: ignore[attr-defined]
        scores = vectors @ query
        order = np.argsort(-scores, kind="stable")[:k]
        return scores[order].astype(np.float32), (order + start).astype(np.int64)

    def reconstruct(self, ids: list[int]) -> np.ndarray:
        """Stored vectors of some ids."""
        return np.stack([self._index.reconstruct(int(i)) for i in ids])  # type: ignore[attr-defined]

    def vectors(self) -> np.ndarray:
        """All stored vectors, in id order (used to reuse embeddings of unchanged guides)."""
        return self._index.reconstruct_n(0, self.size)  # type: ignore[attr-defined]

    def save(self, path: Path) -> None:
        """Write the FAISS file."""
        import faiss

        faiss.write_index(self._index, str(path))

    @classmethod
    def load(cls, path: Path) -> DenseIndex:
        """Read a FAISS file written by :meth:`save`."""
        import faiss

        return cls(faiss.read_index(str(path)))
