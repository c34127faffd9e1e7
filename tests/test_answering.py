"""Extractive answers: which sentences become the lead and the supporting points."""

from __future__ import annotations

import numpy as np

from rag.answering import Candidate, ExtractiveAnswerer
from rag.documents import Chunk


def _candidate(unit: int, section: int, score: float, chunk_id: int | None = None) -> Candidate:
    chunk = Chunk(id=section if chunk_id is None else chunk_id, guide="g", heading_path=(f"s{section}",),
                  line_start=1, line_end=1, text="", section=section)
    vector = np.zeros(8, dtype=np.float32)
    vector[unit % 8] = 1.0  # distinct units are orthogonal, so none is dropped as a near-duplicate
    return Candidate(unit=unit, chunk=chunk, text=f"u{unit}", score=score, vector=vector)


def test_points_stay_in_the_lead_section_unless_another_scores_higher():
    answerer = ExtractiveAnswerer(max_points=4, max_sources=3, point_margin=0.1)
    lead = _candidate(0, section=0, score=0.86)
    same_close = _candidate(1, section=0, score=0.80)  # within the margin of its own section
    same_far = _candidate(2, section=0, score=0.70)  # too far below the lead
    other_lower = _candidate(3, section=1, score=0.85)  # another section, below the lead
    other_higher = _candidate(4, section=2, score=0.88)  # another section, above the lead
    chosen = answerer.select([same_far, other_lower, same_close, other_higher, lead], top_chunk=0)
    assert [c.unit for c in chosen] == [0, 4, 1]


def test_lead_comes_from_the_top_chunk_even_if_another_unit_scores_higher():
    answerer = ExtractiveAnswerer()
    top = _candidate(0, section=0, score=0.80)
    elsewhere = _candidate(1, section=1, score=0.84)
    chosen = answerer.select([elsewhere, top], top_chunk=0)
    assert chosen[0] is top and chosen[1] is elsewhere


def test_near_duplicates_are_not_repeated():
    answerer = ExtractiveAnswerer()
    lead = _candidate(0, section=0, score=0.9)
    twin = Candidate(unit=9, chunk=lead.chunk, text="u9", score=0.89, vector=lead.vector.copy())
    assert answerer.select([lead, twin], top_chunk=0) == [lead]


def test_an_introduction_lead_is_followed_by_points_from_its_subsections():
    def unit(n, path, section, score):
        chunk = Chunk(id=section, guide="g", heading_path=path, line_start=1, line_end=1, text="", section=section)
        vector = np.zeros(8, dtype=np.float32)
        vector[n] = 1.0
        return Candidate(unit=n, chunk=chunk, text=f"u{n}", score=score, vector=vector)

    intro = unit(0, ("3️⃣ スキル",), 0, 0.86)
    child = unit(1, ("3️⃣ スキル", "技術スキル"), 1, 0.82)  # a subsection of the lead's section
    other = unit(2, ("4️⃣ 協業", "人事部門"), 2, 0.85)  # another section, below the lead
    chosen = ExtractiveAnswerer().select([intro, child, other], top_chunk=0)
    assert [c.unit for c in chosen] == [0, 1]
