"""Retrieval: candidate guides, then every section of them scored by a fitted linear ranker.

1. **Candidate guides.** The best chunks by vector (FAISS) and by keyword (BM25) vote for their
   guides; guides the question names come first. Only the best ``candidate_guides`` are read
   further (all of them in a small collection, one when the reader filters by guide).
2. **Section features.** Every section of those guides gets the features of
   :mod:`rag.fitting.features`: best chunk, sentence and heading cosines, keyword score,
   guide match, section type and the question's intent.
3. **Ranking.** The calibration's ranker (fitted per embedding model, ``rag tune``) turns
   features into scores. Without a calibration a neutral sum of the chunk, sentence and
   keyword signals ranks instead.
4. **Hits.** Chunks come out section by section, best section first; inside a section the
   chunk whose best sentence matches best comes first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .conversation import RetrievalQuery
from .fitting.artifact import Calibration
from .fitting.features import RANK_FEATURES, SectionEvidence, section_evidence
from .fitting.linear import LinearModel
from .index.snapshot import IndexSnapshot
from .naming import named_guides
from .reranking import Reranker
from .results import Hit


#: The optional cross-encoder's score, appended to the section features when a reranker is set.
RERANK_FEATURE = "rerank"


def neutral_ranker() -> LinearModel:
    """The ranker used without a calibration: chunk + sentence cosine + keyword share."""
    weights = np.zeros(len(RANK_FEATURES))
    for name, weight in (("dense", 1.0), ("unit", 1.0), ("keyword", 0.3)):
        weights[RANK_FEATURES.index(name)] = weight
    return LinearModel(RANK_FEATURES, weights, 0.0, np.zeros(len(RANK_FEATURES)), np.ones(len(RANK_FEATURES)))


@dataclass(frozen=True)
class Ranking:
    """Every candidate section of one question, scored; the basis of hits and abstention."""

    evidence: SectionEvidence
    scores: np.ndarray  # ranker score of each candidate section
    order: np.ndarray  # candidate positions, best first
    guides: list[int]  # candidate guide positions (manifest order)
    named: set[int] = field(default_factory=set)  # guides the question names
    intent: np.ndarray | None = None  # p(section type | question)
    pinned: list[int] = field(default_factory=list)  # chunks that must come first (a numbered item)

    @property
    def sections(self) -> np.ndarray:
        """Global section indexes, best first."""
        return self.evidence.sections[self.order]

    def pinned_to(self, snapshot: IndexSnapshot, section: int) -> Ranking:
        """This ranking with one section first and its chunks pinned (a question about it)."""
        where = np.flatnonzero(self.evidence.sections == section)
        if not len(where):
            return self
        first = int(where[0])
        order = np.array([first] + [i for i in self.order.tolist() if i != first], dtype=np.int64)
        c0, c1 = (int(x) for x in snapshot.layout.section_chunks[section])
        return Ranking(self.evidence, self.scores, order, self.guides, self.named, self.intent, list(range(c0, c1)))

    def within(self, snapshot: IndexSnapshot, guide: int) -> Ranking:
        """This ranking with only the sections of one guide (position in manifest order), in
        the same order and with the same scores; the same ranking when it has none of them."""
        mine = snapshot.layout.section_guide[self.evidence.sections[self.order]] == guide
        if not mine.any() or mine.all():
            return self
        pinned = [c for c in self.pinned if int(snapshot.layout.section_guide[snapshot.chunks[c].section]) == guide]
        return Ranking(self.evidence, self.scores, self.order[mine], [guide], self.named, self.intent, pinned)

    def section_score(self, section: int) -> float:
        """The ranker score of one candidate section (``-inf`` if it is not a candidate)."""
        where = np.flatnonzero(self.evidence.sections == section)
        return float(self.scores[where[0]]) if len(where) else float("-inf")

    def hits(self, snapshot: IndexSnapshot, k: int) -> list[Hit]:
        """The ``k`` best chunks: section by section, the best-matching chunk of each first."""
        ev = self.evidence
        if not len(ev.chunk_ids) or k <= 0:
            return []
        position = {int(c): i for i, c in enumerate(ev.chunk_ids)}
        by_section: dict[int, list[int]] = {}
        for i, chunk in enumerate(ev.chunk_ids):
            by_section.setdefault(int(snapshot.layout.chunk_section[chunk]), []).append(i)
        score_of = dict(zip(ev.sections.tolist(), self.scores.tolist()))
        out: list[Hit] = []
        taken: set[int] = set()

        def add(i: int) -> None:
            chunk = int(ev.chunk_ids[i])
            if chunk in taken:
                return
            taken.add(chunk)
            out.append(
                Hit(
                    chunk=snapshot.chunks[chunk],
                    score=float(score_of.get(int(snapshot.layout.chunk_section[chunk]), 0.0)),
                    dense_score=float(ev.chunk_dense[i]),
                    keyword_score=float(ev.chunk_keyword[i]),
                    rank=len(out) + 1,
                    unit_score=float(ev.chunk_unit[i]),
                )
            )

        for chunk in self.pinned:
            if chunk in position:
                add(position[chunk])
        for section in self.sections.tolist():
            members = by_section.get(int(section), [])
            members = sorted(members, key=lambda i: (-(ev.chunk_unit[i] + ev.chunk_dense[i]), int(ev.chunk_ids[i])))
            for i in members:
                if len(out) >= k:
                    return out
                add(i)
        return out[:k]


class Retriever:
    """Finds and ranks the sections of a snapshot that answer a question."""

    def __init__(self, *, candidates: int = 50, candidate_guides: int = 4) -> None:
        self.candidates = candidates
        self.candidate_guides = candidate_guides

    def guides_for(
        self, snapshot: IndexSnapshot, vector: np.ndarray, keyword: np.ndarray, named: set[int], guide: str | None
    ) -> list[int]:
        """Candidate guide positions: the filter's guide, or named guides, then the best by vote."""
        slugs = snapshot.layout.guide_slugs
        if guide:
            return [slugs.index(guide)] if guide in slugs else []
        if len(slugs) <= self.candidate_guides:
            return list(range(len(slugs)))
        best: dict[int, float] = {}
        scores, ids = snapshot.dense.search(vector, self.candidates)
        section_guide = snapshot.layout.section_guide
        chunk_section = snapshot.layout.chunk_section
        for score, chunk in zip(scores.tolist(), ids.tolist()):
            g = int(section_guide[chunk_section[chunk]])
            best[g] = max(best.get(g, -1.0), float(score))
        order = sorted(best, key=lambda g: -best[g])
        if keyword.size and keyword.max() > 0:
            top = int(np.argmax(keyword))
            kw_guide = int(section_guide[chunk_section[top]])
            if kw_guide not in order[: self.candidate_guides]:
                order.insert(self.candidate_guides - 1, kw_guide)
        chosen = sorted(named, key=lambda g: -best.get(g, -1.0))
        for g in order:
            if g not in chosen:
                chosen.append(g)
        return chosen[: max(self.candidate_guides, len(named))]

    def gather(
        self, snapshot: IndexSnapshot, query: RetrievalQuery, vector: np.ndarray, guide: str | None
    ) -> tuple[np.ndarray, set[int], list[int]]:
        """BM25 scores of every chunk, the guides the question (or else its conversation) names,
        and the candidate guides."""
        named: set[int] = set()
        if not guide:
            # a job named in romaji ("zeirishi") names its guide as 税理士 would
            spelled = snapshot.glossary.romaji_terms(query.parts[-1])
            named = named_guides(" ".join([query.text, *spelled]), snapshot.guide_aliases)
            if not named and query.context:
                named = named_guides(query.context, snapshot.guide_aliases)
        mask = None
        if guide and guide in snapshot.guide_ranges:
            lo, hi = snapshot.guide_ranges[guide]
            mask = np.zeros(len(snapshot.chunks), dtype=bool)
            mask[lo:hi] = True
        keyword = snapshot.keyword.scores(keyword_query(snapshot, query.text, query.parts[-1]), mask)
        return keyword, named, self.guides_for(snapshot, vector, keyword, named, guide)

    def rank(
        self,
        snapshot: IndexSnapshot,
        query: RetrievalQuery,
        vector: np.ndarray,
        *,
        guide: str | None = None,
        item: int | None = None,
        calibration: Calibration | None = None,
        rerank: Reranker | None = None,
    ) -> Ranking:
        """Score every section of the candidate guides for ``query`` / ``vector``.

        ``item`` (a follow-up such as 「5つ目について詳しく」) pins the numbered subsection or
        table row ``item`` of the best top-level section that has one. ``rerank`` (a
        :class:`~rag.reranking.Reranker`) adds its score as a feature when the calibration
        was fitted with one.
        """
        keyword, named, guides = self.gather(snapshot, query, vector, guide)
        intent = None
        types = None
        if calibration is not None:
            intent = calibration.intent.probabilities(vector)
            types = section_types(snapshot, calibration)
        ev = section_evidence(snapshot, vector, keyword, guides, named=named, intent=intent, section_types=types)
        ranker = calibration.ranker if calibration is not None else neutral_ranker()
        names = list(RANK_FEATURES)
        x = ev.x
        if RERANK_FEATURE in ranker.features:
            x = np.hstack([x, np.zeros((len(ev.sections), 1))])
            names.append(RERANK_FEATURE)
        columns = [names.index(f) for f in ranker.features]
        scores = ranker.score(x[:, columns]) if len(ev.sections) else np.zeros(0)
        if RERANK_FEATURE in ranker.features and rerank is not None and len(ev.sections):
            x[:, -1] = rerank_column(snapshot, query.text, ev, scores, rerank)
            scores = ranker.score(x[:, columns])
        order = np.argsort(-scores, kind="stable")
        ranking = Ranking(ev, scores, order, guides, named, intent)
        if item is not None and len(order):
            pinned = next(
                (t for s in ranking.sections[:_ITEM_ANCHORS].tolist() if (t := numbered_item(snapshot, s, item))), []
            )
            if pinned:
                first = [int(np.flatnonzero(ev.sections == snapshot.chunks[pinned[0]].section)[0])]
                order = np.array(first + [i for i in order.tolist() if i not in first], dtype=np.int64)
                ranking = Ranking(ev, scores, order, guides, named, intent, pinned=pinned)
        return ranking


def keyword_query(snapshot: IndexSnapshot, text: str, question: str | None = None) -> str:
    """The keyword index's query: ``text``, and the guide terms the English words of
    ``question`` (the question itself; ``text`` by default) translate to (:mod:`rag.glossary`),
    so an English question finds 「年収」 when it asks about a salary.

    A follow-up's text holds its earlier turns too; only its own words are translated (training
    guides' leave-one-guide-out ranker hit@1 0.623 -> 0.629 against translating the whole text).
    One query, not a second score: the translations' BM25 as a ranker feature of its own measured
    worse (0.623 -> 0.620, unanswerable abstained 0.651 -> 0.639)."""
    translated = snapshot.glossary.translate(text if question is None else question)
    return f"{text} {' '.join(translated)}" if translated else text


def conversation_guide(snapshot: IndexSnapshot, query: RetrievalQuery) -> int | None:
    """The guide a conversation stays with: the question names no job and the earlier turns
    named exactly one (「最初はどの部署に配属されますか？」 after 「看護師を目指しています」 is
    about nurses). On the training guides' follow-ups that guide was the asker's 77 times out
    of 77. None when the question names a job itself, or the conversation named none or several."""
    if not query.context or named_guides(query.parts[-1], snapshot.guide_aliases):
        return None
    spoken = named_guides(query.context, snapshot.guide_aliases)
    return next(iter(spoken)) if len(spoken) == 1 else None


def conversation_unnamed(snapshot: IndexSnapshot, query: RetrievalQuery) -> bool:
    """A question that names no job, in a conversation that named none either (「I want to work
    at a hotel in Japan.」 names no guide by its title): its job is the one its earlier turns
    are answered from (ranking them costs one more query embedding)."""
    return (
        bool(query.context)
        and not named_guides(query.parts[-1], snapshot.guide_aliases)
        and not named_guides(query.context, snapshot.guide_aliases)
    )


def best_chunks(snapshot: IndexSnapshot, ev: SectionEvidence) -> dict[int, int]:
    """The best-matching chunk (by sentence and chunk cosine) of each candidate section."""
    best: dict[int, tuple[float, int]] = {}
    for i, chunk in enumerate(ev.chunk_ids.tolist()):
        section = int(snapshot.layout.chunk_section[chunk])
        score = float(ev.chunk_unit[i] + ev.chunk_dense[i])
        if section not in best or score > best[section][0]:
            best[section] = (score, chunk)
    return {s: c for s, (_, c) in best.items()}


def rerank_column(
    snapshot: IndexSnapshot, query: str, ev: SectionEvidence, scores: np.ndarray, rerank: Reranker
) -> np.ndarray:
    """Cross-encoder scores of the best passage of the top sections (the rest get the lowest)."""
    top = np.argsort(-scores, kind="stable")[: rerank.top_sections]
    chunks = best_chunks(snapshot, ev)
    sections = ev.sections[top].tolist()
    texts = []
    for section in sections:
        chunk = snapshot.chunks[chunks[section]] if section in chunks else None
        path = " › ".join(snapshot.sections[section].heading_path)
        texts.append(f"{path}\n{chunk.text if chunk else snapshot.sections[section].text[:500]}")
    values = rerank.scores(query, texts)
    column = np.full(len(ev.sections), float(values.min()) if len(values) else 0.0)
    column[top] = values
    return column


def section_types(snapshot: IndexSnapshot, calibration: Calibration) -> np.ndarray:
    """The type of every section: its top-level heading's nearest type prototype."""
    layout = snapshot.layout
    top_types = calibration.typer.types_of(snapshot.section_vectors)
    return top_types[layout.section_parent]


_ITEM_ANCHORS = 3
_ITEM_HEADING = re.compile(r"^\s*(\d{1,2})\s*[.．、)）:]")  # "5. セキュリティ予算…"
_FIRST_CELL = re.compile(r"^[^:/]{0,20}:\s*(\d{1,2})\s*(?:/|$)")  # "No.: 3 / 面接質問…"


def numbered_item(snapshot: IndexSnapshot, section: int, item: int) -> list[int]:
    """Chunks of item ``item`` inside the top-level section of ``section``: the subsection whose
    heading starts with that number (「5. セキュリティ予算…」) or the table row whose first cell
    is that number. Empty when there is no such item."""
    anchor = snapshot.sections[section]
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
