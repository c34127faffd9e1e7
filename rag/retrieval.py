"""Hybrid retrieval: dense chunk vectors, best-sentence vectors and BM25, fused by reciprocal rank."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import SettingsError
from .index.snapshot import IndexSnapshot
from .results import Hit


@dataclass(frozen=True)
class RankedLists:
    """The candidate chunk ids of each retriever, best first, with their raw scores."""

    dense: dict[int, float]
    sentence: dict[int, float]
    keyword: dict[int, float]


def reciprocal_rank_fusion(rankings: list[tuple[list[int], float]], k: int = 60) -> dict[int, float]:
    """Sum of ``weight / (k + rank)`` over the rankings each id appears in (rank from 1)."""
    fused: dict[int, float] = {}
    for ids, weight in rankings:
        for rank, item in enumerate(ids, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


class Retriever:
    """Finds the chunks of a snapshot that best match a question."""

    def __init__(
        self,
        *,
        candidates: int = 50,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        sentence_weight: float = 1.0,
        keyword_weight: float = 0.3,
        fusion: str = "weighted",
    ) -> None:
        if fusion not in ("weighted", "rrf"):
            raise SettingsError(f"fusion must be 'weighted' or 'rrf', not {fusion!r}")
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.sentence_weight = sentence_weight
        self.keyword_weight = keyword_weight
        self.fusion = fusion

    def ranked_lists(
        self, snapshot: IndexSnapshot, query: str, vector: np.ndarray, guide: str | None = None
    ) -> RankedLists:
        """Candidates from each retriever, restricted to one guide when ``guide`` is given."""
        id_range = snapshot.guide_ranges.get(guide) if guide else None
        if guide and id_range is None:
            return RankedLists({}, {}, {})
        scores, ids = snapshot.dense.search(vector, self.candidates, id_range)
        dense = {int(i): float(s) for s, i in zip(scores, ids)}

        mask = None
        if id_range is not None:
            mask = np.zeros(len(snapshot.chunks), dtype=bool)
            mask[id_range[0] : id_range[1]] = True
        bm25 = snapshot.keyword.scores(query, mask)
        keyword: dict[int, float] = {}
        if bm25.size and bm25.max() > 0:
            n = min(self.candidates, bm25.size)
            top = np.argpartition(-bm25, n - 1)[:n]
            top = top[np.argsort(-bm25[top], kind="stable")]
            keyword = {int(i): float(bm25[i]) for i in top if bm25[i] > 0}

        # Dense scores of keyword-only candidates, so that every candidate has all signals.
        extra = [i for i in keyword if i not in dense]
        if extra:
            vectors = snapshot.dense.reconstruct(extra)
            for i, score in zip(extra, vectors @ vector):
                dense[i] = float(score)
        dense = dict(sorted(dense.items(), key=lambda kv: -kv[1]))

        sentence: dict[int, float] = {}
        for chunk_id in dense:
            start, end = snapshot.chunk_units[chunk_id]
            if end > start:
                sims = np.asarray(snapshot.unit_vectors[start:end]) @ vector
                sentence[chunk_id] = float(sims.max())
        sentence = dict(sorted(sentence.items(), key=lambda kv: -kv[1]))
        return RankedLists(dense, sentence, keyword)

    def fuse(self, lists: RankedLists) -> dict[int, float]:
        """Fused score of every candidate chunk.

        Each retriever's scores are min-max normalised over the candidates and added with
        weights (dense 1.0, best sentence 1.0, BM25 0.3: chosen on eval/dev_questions.jsonl,
        where this beat reciprocal rank fusion by 0.06-0.12 hit@1). With ``fusion="rrf"`` the
        lists are fused by reciprocal rank instead.
        """
        if self.fusion == "rrf":
            return reciprocal_rank_fusion(
                [
                    (list(lists.dense), self.dense_weight),
                    (list(lists.sentence), self.sentence_weight),
                    (list(lists.keyword), self.keyword_weight),
                ],
                k=self.rrf_k,
            )
        ids = set(lists.dense) | set(lists.keyword)
        fused = dict.fromkeys(ids, 0.0)
        for scores, weight in (
            (lists.dense, self.dense_weight),
            (lists.sentence, self.sentence_weight),
            (lists.keyword, self.keyword_weight),
        ):
            if not scores or weight == 0:
                continue
            low, high = min(scores.values()), max(scores.values())
            span = high - low or 1.0
            for i in ids:
                fused[i] += weight * ((scores[i] - low) / span if i in scores else 0.0)
        return fused

    def search(
        self,
        snapshot: IndexSnapshot,
        query: str,
        vector: np.ndarray,
        k: int = 5,
        guide: str | None = None,
        item: int | None = None,
    ) -> list[Hit]:
        """The ``k`` best chunks, best first.

        With ``item`` (a follow-up such as 「5つ目について詳しく」), the numbered subsection or
        table row ``item`` comes first, taken from the top-level section of the first of the
        best three chunks that has one.
        """
        lists = self.ranked_lists(snapshot, query, vector, guide)
        fused = self.fuse(lists)
        order = sorted(fused, key=lambda i: (-fused[i], -lists.dense.get(i, -1.0), i))
        if item is not None and order:
            # the first of the best few chunks whose top-level section has such an item
            targets = next((t for i in order[:_ITEM_ANCHORS] if (t := numbered_item(snapshot, i, item))), [])
            if targets:
                missing = [i for i in targets if i not in lists.dense]
                if missing:
                    for i, score in zip(missing, snapshot.dense.reconstruct(missing) @ vector):
                        lists.dense[i] = float(score)
                top = fused[order[0]]
                for i in targets:
                    fused[i] = max(fused.get(i, top), top)
                order = targets + [i for i in order if i not in targets]
        order = order[:k]
        return [
            Hit(
                chunk=snapshot.chunks[i],
                score=fused[i],
                dense_score=lists.dense.get(i, 0.0),
                keyword_score=lists.keyword.get(i, 0.0),
                rank=rank,
            )
            for rank, i in enumerate(order, start=1)
        ]


_ITEM_ANCHORS = 3
_ITEM_HEADING = re.compile(r"^\s*(\d{1,2})\s*[.．、)）:]")  # "5. セキュリティ予算…"
_FIRST_CELL = re.compile(r"^[^:/]{0,20}:\s*(\d{1,2})\s*(?:/|$)")  # "No.: 3 / 面接質問…"


def numbered_item(snapshot: IndexSnapshot, chunk_id: int, item: int) -> list[int]:
    """Chunks of item ``item`` inside the top-level section of ``chunk_id``: the subsection whose
    heading starts with that number (「5. セキュリティ予算…」) or the table row whose first cell
    is that number. Empty when there is no such item."""
    anchor = snapshot.chunks[chunk_id]
    if not anchor.heading_path:
        return []
    top = anchor.heading_path[0]
    lo, hi = snapshot.guide_ranges.get(anchor.guide, (0, len(snapshot.chunks)))
    family = [c for c in snapshot.chunks[lo:hi] if c.heading_path and c.heading_path[0] == top]
    by_heading = [
        c.id for c in family
        if len(c.heading_path) > 1 and (m := _ITEM_HEADING.match(c.heading_path[-1])) and int(m.group(1)) == item
    ]
    if by_heading:
        return by_heading
    return [
        c.id for c in family
        if c.kind == "table_row" and (m := _FIRST_CELL.match(c.text)) and int(m.group(1)) == item
    ]
