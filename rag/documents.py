"""What the index holds: guides, their sections, chunks and answer units."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

#: Separator used to display a citation path (guide › H2 › H3).
PATH_SEPARATOR = " › "


@dataclass(frozen=True)
class Guide:
    """One career guide: identity, display label and front-matter metadata."""

    slug: str
    title: str
    label: str
    path: str
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    body: str = ""
    body_start_line: int = 1

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form without the body (the body lives in the sections)."""
        record = asdict(self)
        record.pop("body")
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Guide:
        """Inverse of :meth:`to_record`."""
        return cls(**record)


@dataclass(frozen=True)
class Section:
    """A heading-delimited part of a guide, shown whole when a reader opens a source."""

    guide: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    text: str

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form."""
        record = asdict(self)
        record["heading_path"] = list(self.heading_path)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Section:
        """Inverse of :meth:`to_record`."""
        return cls(**{**record, "heading_path": tuple(record["heading_path"])})


@dataclass(frozen=True)
class Chunk:
    """The unit of retrieval: a section part or one table row, with its place in the guide."""

    id: int
    guide: str
    heading_path: tuple[str, ...]
    line_start: int
    line_end: int
    text: str
    kind: str = "text"  # "text" or "table_row"
    section: int = -1  # index into the sections list

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form."""
        record = asdict(self)
        record["heading_path"] = list(self.heading_path)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Chunk:
        """Inverse of :meth:`to_record`."""
        return cls(**{**record, "heading_path": tuple(record["heading_path"])})


@dataclass(frozen=True)
class Unit:
    """A sentence, list item or table row inside a chunk: the grain of extractive answers."""

    chunk: int
    text: str
    line: int

    def to_record(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Unit:
        """Inverse of :meth:`to_record`."""
        return cls(**record)


def display_path(label: str, heading_path: tuple[str, ...]) -> str:
    """``label › H2 › H3`` as shown to readers."""
    return PATH_SEPARATOR.join((label, *heading_path))


_ITEM_NUMBER = re.compile(r"^\s*\d{1,2}\s*[.．、)）]\s*")
# Leading emoji: keycap digits (2️⃣ = "2" U+FE0F U+20E3), pictographs (🔟 🚀 🏷️) and their selectors.
_LEADING_EMOJI = re.compile(r"^(?:\s|\d\ufe0f?\u20e3|[\U0001F000-\U0001FAFF\u2600-\u27BF\ufe0f\u200d])+")


def heading_title(heading: str) -> str:
    """A heading without its leading emoji (「2️⃣ 主な業務：…」 → 「主な業務：…」)."""
    return _LEADING_EMOJI.sub("", heading).strip() or heading


def strip_item_number(heading: str) -> str:
    """「1. 基礎的な…」 → 「基礎的な…」."""
    return _ITEM_NUMBER.sub("", heading)
