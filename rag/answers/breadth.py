"""Is the question about one subsection, or about the whole section above it?

"What skills does a pharmacist need?" lands on one skills subsection (hard skills, say) while
the labelled answer is the whole skills section; "which certification should I take first?"
lands on the certifications subsection and is about it alone. The decision is a logistic model
(fitted by ``rag tune`` on the training guides' labels: the parent section, or two or more of
its subsections, answer the question) over the ranking's own evidence, listed here.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

from ..index.snapshot import IndexSnapshot

if TYPE_CHECKING:
    from ..fitting.artifact import Calibration
    from ..retrieval import Ranking

#: Features of one ranked question for the breadth model, in column order.
BREADTH_FEATURES: tuple[str, ...] = (
    "lead_probability",  # ranker probability of the first section (softmax over the candidates)
    "family_probability",  # ... summed over its parent section and every subsection of the parent
    "parent_probability",  # ... of the parent section itself
    "siblings_in_top",  # other subsections of the parent among the first five sections
    "heading_gap",  # heading cosine of the parent minus that of the first section
    "children",  # log of the number of subsections of the parent
    "asks_all",  # the question asks for everything (「全部」「すべて」, "all")
)

#: Sections read for ``siblings_in_top``.
TOP = 5
_ASKS_ALL = re.compile(r"全部|全て|すべて|一通り|ひととおり|全体|\ball\b|\bevery|\boverall\b", re.IGNORECASE)


def asks_all(question: str) -> bool:
    """The question asks for everything (「全部」「すべて」, "all")."""
    return bool(_ASKS_ALL.search(question))


def family(snapshot: IndexSnapshot, section: int) -> tuple[int, list[int]] | None:
    """The parent of a subsection and the parent's subsections (in order), or None when the
    section is top-level or its parent has fewer than two subsections."""
    layout = snapshot.layout
    if layout.section_depth[section] == 0:
        return None
    parent = int(layout.section_parent[section])
    children = [int(s) for s in np.flatnonzero(layout.section_parent == parent) if int(s) != parent]
    children = [s for s in children if layout.section_depth[s] == layout.section_depth[parent] + 1]
    return (parent, children) if len(children) >= 2 else None


def breadth_row(
    snapshot: IndexSnapshot,
    sections: np.ndarray,
    scores: np.ndarray,
    heading: np.ndarray,
    question: str,
) -> np.ndarray | None:
    """The :data:`BREADTH_FEATURES` of a ranking (``sections`` and their ``scores`` and heading
    cosines, any order), or None when its first section has no family to widen to."""
    if not len(sections):
        return None
    order = np.argsort(-scores, kind="stable")
    lead = int(sections[order[0]])
    found = family(snapshot, lead)
    if found is None:
        return None
    parent, children = found
    p = np.exp(scores - scores.max())
    p /= p.sum()
    position = {int(s): i for i, s in enumerate(sections)}
    members = [parent, *children]
    top = {int(sections[i]) for i in order[:TOP]}
    lead_at = position[lead]
    parent_at = position.get(parent)
    values = {
        "lead_probability": float(p[lead_at]),
        "family_probability": float(sum(p[position[s]] for s in members if s in position)),
        "parent_probability": float(p[parent_at]) if parent_at is not None else 0.0,
        "siblings_in_top": float(sum(1 for s in children if s != lead and s in top)),
        "heading_gap": float(heading[parent_at] - heading[lead_at]) if parent_at is not None else 0.0,
        "children": float(np.log(len(children))),
        "asks_all": float(asks_all(question)),
    }
    return np.array([values[f] for f in BREADTH_FEATURES])


def broad_label(snapshot: IndexSnapshot, lead: int, gold: set[int]) -> bool | None:
    """Training label: the parent section, or at least two of its subsections, answer the
    question (None when the lead has no family)."""
    found = family(snapshot, lead)
    if found is None:
        return None
    parent, children = found
    return parent in gold or sum(1 for c in children if c in gold) >= 2


def decide_broad(snapshot: IndexSnapshot, ranking: Ranking | None, question: str, calibration: Calibration | None) -> bool:
    """True when the calibration's breadth model says the question is about the first section's
    parent as a whole (False without a fitted model, or when the first section has no family)."""
    model = getattr(calibration, "breadth", None)
    if model is None or ranking is None or not len(ranking.order) or ranking.pinned:
        return False
    ev = ranking.evidence
    row = breadth_row(snapshot, ev.sections, ranking.scores, ev.column("heading"), question)
    if row is None:
        return False
    x = row[[BREADTH_FEATURES.index(f) for f in model.features]]
    return bool(model.probability(x[None, :])[0] >= 0.5)
