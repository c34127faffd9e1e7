"""Features of candidate sections (for ranking) and of a whole question (for abstention).

Every feature is computed from the index and the question alone; the weights that turn them
into scores are fitted (``rag tune``) and stored in a calibration. Raw cosines are features as
they are: their scale belongs to the model, and so do the fitted weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..index.snapshot import IndexSnapshot
from .intent import SECTION_TYPES

#: Features of one candidate section, in column order.
RANK_FEATURES: tuple[str, ...] = (
    "dense",  # best chunk cosine in the section
    "dense_gap",  # ... minus the best over all candidates
    "unit",  # best sentence / row cosine in the section
    "unit_gap",
    "heading",  # cosine with the section's heading path
    "heading_gap",
    "keyword",  # best BM25 of the section's chunks / best BM25 of all candidates
    "guide",  # cosine with the section's guide (title, description, keywords)
    "guide_gap",
    "guide_unit_gap",  # best sentence cosine in the section's guide minus the best overall
    "guide_named",  # the question names this section's guide
    "other_guide_named",  # the question names another guide and not this one
    "intent",  # log p(this section's type | question)
    "depth",  # 0 for a top-level section, 1 for a subsection
    "intro",  # a top-level introduction that has subsections
    "table",  # the section holds a table
    *(f"type_{t}" for t in SECTION_TYPES),
)

#: Features of a question and its best candidates, for the abstention model.
QUESTION_FEATURES: tuple[str, ...] = (
    "top_unit",  # best sentence cosine in the top sections
    "top_dense",
    "top_heading",
    "top_guide",
    "score_margin",  # ranker score of the first section minus the second
    "intent_max",
    "scope",  # log-odds that guides answer this kind of question (from the question vector alone)
    "missing_share",  # share of the question's content terms that no guide uses
    "missing_foreign",  # a name or loanword of the question that no guide uses
    "names_guide",  # the question names an indexed guide's job, or only one guide is searched
    "english",
    "asks_when",  # the question asks for a date or deadline
    "asks_amount",  # ... for an amount, a duration or a frequency
    "numbers_in_top",  # share of the top sections' best passages that hold a number
    # English questions meet Japanese guides at lower cosines: their own slopes
    *(f"en_{name}" for name in ("top_unit", "top_dense", "top_heading", "top_guide", "scope", "names_guide")),
)


@dataclass(frozen=True)
class SectionEvidence:
    """Candidate sections of one question with their features, and the chunk scores behind them."""

    sections: np.ndarray  # (n,) global section indexes
    x: np.ndarray  # (n, len(RANK_FEATURES))
    chunk_ids: np.ndarray  # every chunk of the candidate guides
    chunk_dense: np.ndarray
    chunk_unit: np.ndarray  # best unit cosine of each chunk (its own cosine when it has no unit)
    chunk_keyword: np.ndarray  # raw BM25
    section_types: np.ndarray  # (n,) type index (-1 when unknown)

    def column(self, name: str) -> np.ndarray:
        """One feature for every candidate section."""
        return self.x[:, RANK_FEATURES.index(name)]


def _segment_max(values: np.ndarray, ranges: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Max of ``values[start:end]`` for each (sorted, non-overlapping) range; ``fallback`` where empty."""
    out = np.array(fallback, dtype=np.float64, copy=True)
    nonempty = ranges[:, 1] > ranges[:, 0]
    if nonempty.any():
        bounds = ranges[nonempty].reshape(-1)  # s0, e0, s1, e1, ...
        padded = np.append(np.asarray(values, dtype=np.float64), -np.inf)
        out[nonempty] = np.maximum.reduceat(padded, bounds)[0::2]
    return out


def section_evidence(
    snapshot: IndexSnapshot,
    vector: np.ndarray,
    keyword: np.ndarray,
    guides: list[int],
    *,
    named: set[int],
    intent: np.ndarray | None,
    section_types: np.ndarray | None,
) -> SectionEvidence:
    """Features of every section of the candidate ``guides`` (positions in manifest order).

    ``keyword`` holds the BM25 score of every chunk; ``section_types`` the type of every
    section of the index (None without a calibration); ``intent`` p(type | question).
    """
    layout = snapshot.layout
    entries = snapshot.manifest.guides
    q = np.asarray(vector, dtype=np.float32)
    sec_ids, chunk_ids = [], []
    dense_c, unit_c, kw_c = [], [], []
    sec_dense, sec_unit, sec_kw, sec_head, sec_guide, guide_unit = [], [], [], [], [], []
    for g in guides:
        entry = entries[g]
        c0, c1 = entry.chunks
        u0, u1 = entry.units
        s0, s1 = entry.sections
        cd = snapshot.chunk_vectors[c0:c1] @ q
        uc = np.asarray(snapshot.unit_vectors[u0:u1]) @ q
        ranges = np.array(snapshot.chunk_units[c0:c1], dtype=np.int64).reshape(-1, 2) - u0
        cu = _segment_max(uc, ranges, cd)
        kw = keyword[c0:c1].astype(np.float64)
        sranges = layout.section_chunks[s0:s1] - c0
        empty = np.full(s1 - s0, -1.0)
        sd = _segment_max(cd, sranges, empty)
        su = _segment_max(cu, sranges, empty)
        sk = _segment_max(kw, sranges, np.zeros(s1 - s0))
        sh = snapshot.section_vectors[s0:s1] @ q
        sec_ids.append(np.arange(s0, s1))
        chunk_ids.append(np.arange(c0, c1))
        dense_c.append(cd)
        unit_c.append(cu)
        kw_c.append(kw)
        sec_dense.append(sd)
        sec_unit.append(su)
        sec_kw.append(sk)
        sec_head.append(sh)
        sec_guide.append(np.full(s1 - s0, float(snapshot.guide_vectors[g] @ q)))
        guide_unit.append(np.full(s1 - s0, float(cu.max()) if len(cu) else -1.0))
    sections = np.concatenate(sec_ids) if sec_ids else np.zeros(0, dtype=np.int64)
    n = len(sections)
    x = np.zeros((n, len(RANK_FEATURES)), dtype=np.float64)
    if n:
        d, u, k, h = (np.concatenate(a) for a in (sec_dense, sec_unit, sec_kw, sec_head))
        gv, gu = np.concatenate(sec_guide), np.concatenate(guide_unit)
        col = {name: i for i, name in enumerate(RANK_FEATURES)}
        x[:, col["dense"]] = d
        x[:, col["dense_gap"]] = d - d.max()
        x[:, col["unit"]] = u
        x[:, col["unit_gap"]] = u - u.max()
        x[:, col["heading"]] = h
        x[:, col["heading_gap"]] = h - h.max()
        x[:, col["keyword"]] = k / k.max() if k.max() > 0 else 0.0
        x[:, col["guide"]] = gv
        x[:, col["guide_gap"]] = gv - gv.max()
        x[:, col["guide_unit_gap"]] = gu - gu.max()
        guide_of = layout.section_guide[sections]
        in_named = np.isin(guide_of, list(named)) if named else np.zeros(n, dtype=bool)
        x[:, col["guide_named"]] = in_named
        x[:, col["other_guide_named"]] = (~in_named) & bool(named)
        x[:, col["depth"]] = np.minimum(layout.section_depth[sections], 2)
        x[:, col["intro"]] = layout.section_has_children[sections]
        x[:, col["table"]] = layout.section_has_table[sections]
        types = np.full(n, -1, dtype=np.int64)
        if section_types is not None:
            types = section_types[sections]
            known = types >= 0
            x[np.flatnonzero(known), col["type_overview"] + types[known]] = 1.0
            if intent is not None:
                p = np.where(known, intent[np.maximum(types, 0)], 1.0 / len(SECTION_TYPES))
                x[:, col["intent"]] = np.log(np.maximum(p, 1e-6))
    else:
        types = np.zeros(0, dtype=np.int64)
    return SectionEvidence(
        sections=sections,
        x=x,
        chunk_ids=np.concatenate(chunk_ids) if chunk_ids else np.zeros(0, dtype=np.int64),
        chunk_dense=np.concatenate(dense_c) if dense_c else np.zeros(0),
        chunk_unit=np.concatenate(unit_c) if unit_c else np.zeros(0),
        chunk_keyword=np.concatenate(kw_c) if kw_c else np.zeros(0),
        section_types=types,
    )
