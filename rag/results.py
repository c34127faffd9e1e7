"""What the assistant returns: search hits, citations and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .documents import Chunk, display_path


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk with its fused score and the scores that made it."""

    chunk: Chunk
    score: float
    dense_score: float = 0.0
    keyword_score: float = 0.0
    rank: int = 0
    unit_score: float = 0.0  # cosine of the chunk's best sentence or row

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "guide": self.chunk.guide,
            "heading_path": list(self.chunk.heading_path),
            "lines": [self.chunk.line_start, self.chunk.line_end],
            "score": round(self.score, 6),
            "dense_score": round(self.dense_score, 6),
            "keyword_score": round(self.keyword_score, 6),
            "text": self.chunk.text,
        }


@dataclass(frozen=True)
class Citation:
    """A numbered source of an answer: guide › headings, and the quoted passage."""

    number: int
    guide: str
    guide_label: str
    heading_path: tuple[str, ...]
    quote: str
    line_start: int = 0
    line_end: int = 0
    section_text: str = ""

    @property
    def path(self) -> str:
        """``label › H2 › H3`` as shown to readers."""
        return display_path(self.guide_label, self.heading_path)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the full section text)."""
        return {
            "number": self.number,
            "guide": self.guide,
            "path": self.path,
            "heading_path": list(self.heading_path),
            "quote": self.quote,
            "lines": [self.line_start, self.line_end],
        }


@dataclass(frozen=True)
class Suggestion:
    """A next question the guides answer: drawn from a section near what was cited."""

    question: str
    guide: str
    heading_path: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"question": self.question, "guide": self.guide, "heading_path": list(self.heading_path)}


@dataclass(frozen=True)
class RelatedJob:
    """A job the answering guide lists as related (front matter ``related_jobs``)."""

    slug: str
    title: str  # the indexed guide's title, or the slug with spaces ("compliance manager") when none is indexed
    indexed: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"slug": self.slug, "title": self.title, "indexed": self.indexed}


@dataclass(frozen=True)
class Answer:
    """An answer in Markdown with its citations; ``abstained`` when the guides do not cover it."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    abstained: bool = False
    language: str = "ja"
    hits: list[Hit] = field(default_factory=list)
    notice: str = ""
    generated: bool = False
    confidence: float = 0.0
    suggestions: list[Suggestion] = field(default_factory=list)
    related_jobs: list[RelatedJob] = field(default_factory=list)
    shape: str = ""  # explanation, list, table or steps (extractive answers)
    items: tuple[int, int] = (0, 0)  # list, steps and table answers: items shown, items in the section

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "text": self.text,
            "citations": [c.to_dict() for c in self.citations],
            "abstained": self.abstained,
            "language": self.language,
            "notice": self.notice,
            "generated": self.generated,
            "confidence": round(self.confidence, 4),
            "shape": self.shape,
            "items": list(self.items),
            "suggestions": [s.to_dict() for s in self.suggestions],
            "related_jobs": [r.to_dict() for r in self.related_jobs],
        }
