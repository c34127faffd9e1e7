"""Chat feedback as training pairs: a liked answer's cited sections are right for its question,
a disliked answer's are wrong (``rag tune --feedback data/feedback.jsonl``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..documents import display_path
from ..evaluation import EvalQuestion

if TYPE_CHECKING:
    from ..index.snapshot import IndexSnapshot

log = logging.getLogger("rag.fitting")


@dataclass(frozen=True)
class FeedbackPair:
    """A question with the sections a reader approved (positive) or rejected (negative)."""

    question: EvalQuestion
    positive: tuple[int, ...]
    negative: tuple[int, ...]


def feedback_pairs(path: Path, snapshot: IndexSnapshot) -> list[FeedbackPair]:
    """Pairs from a feedback log; votes whose sections are not in the index are skipped."""
    by_path = {
        display_path(snapshot.guides[s.guide].label, s.heading_path): i for i, s in enumerate(snapshot.sections)
    }
    pairs: list[FeedbackPair] = []
    skipped = 0
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s:%d is not JSON; skipped", path, number)
            continue
        question = record.get("question") if isinstance(record, dict) else None
        sections = tuple(by_path[p] for p in record.get("paths", []) if p in by_path) if question else ()
        if not question or not sections or record.get("vote") not in ("like", "dislike"):
            skipped += 1
            continue
        guide = snapshot.sections[sections[0]].guide
        q = EvalQuestion(question=question, answerable=True, target_guide=guide, id=f"feedback-{number}")
        liked = record["vote"] == "like"
        pairs.append(FeedbackPair(q, sections if liked else (), () if liked else sections))
    if skipped:
        log.info("feedback: %d votes skipped (no question, or cited sections not in the index)", skipped)
    return pairs
