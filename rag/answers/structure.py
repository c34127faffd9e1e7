"""The shape of a section's text: paragraphs (as sentences), bullet lists and tables, in order.

Answers are built from these blocks rather than from flattened chunk text, so a table row can
be shown as its label and its detail, a list as its items, and a section introduction can be
recognised as one that announces what follows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..normalization import plain

_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_BULLET = re.compile(r"^(\s*)(?:[*+-]|\d{1,2}[.)．])\s+(.*)$")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])\s*")
_HORIZONTAL_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_HASHTAGS = re.compile(r"^[`\s]*(#[^\s#`。、！？!?]+[`\s]*)+$")


@dataclass(frozen=True)
class Item:
    """A list item: its text (Markdown removed), nesting depth and 0-based line offset."""

    text: str
    depth: int
    line: int


@dataclass(frozen=True)
class Table:
    """A Markdown table: header cells and rows of cells (Markdown removed)."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    line: int  # offset of the header line

    def is_counter(self, column: int) -> bool:
        """True for a column of running numbers (「No.」: 1, 2, 3 …)."""
        cells = [r[column] for r in self.rows if column < len(r)]
        return bool(cells) and all(re.fullmatch(r"\s*\d{1,3}\s*", c) for c in cells)

    def label_column(self) -> int:
        """The column that names a row: the first one that is not a running number."""
        for i in range(len(self.header)):
            if not self.is_counter(i):
                return i
        return 0


@dataclass(frozen=True)
class Block:
    """One block of a section: ``paragraph`` (sentences), ``list`` (items) or ``table``."""

    kind: str
    sentences: tuple[str, ...] = ()
    items: tuple[Item, ...] = ()
    table: Table | None = None
    line: int = 0


@dataclass(frozen=True)
class Structure:
    """The blocks of one section, in document order."""

    blocks: tuple[Block, ...] = field(default_factory=tuple)

    @property
    def tables(self) -> list[Table]:
        """Tables of the section."""
        return [b.table for b in self.blocks if b.table is not None]

    @property
    def items(self) -> list[Item]:
        """Top-level list items of the section."""
        return [i for b in self.blocks if b.kind == "list" for i in b.items if i.depth == 0]

    @property
    def sentences(self) -> list[str]:
        """Sentences of the paragraphs."""
        return [s for b in self.blocks if b.kind == "paragraph" for s in b.sentences]


def _cells(row: str) -> tuple[str, ...]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return tuple(plain(c.strip()) for c in row.split("|"))


def sentences_of(text: str) -> list[str]:
    """Sentences of a paragraph (Markdown removed)."""
    flat = plain(text).replace("\n", "")
    return [s.strip() for s in _SENTENCE_END.split(flat) if s.strip()]


@lru_cache(maxsize=2048)
def parse(text: str) -> Structure:
    """Blocks of a section's Markdown text."""
    lines = text.split("\n")
    blocks: list[Block] = []
    paragraph: list[str] = []
    para_start = 0
    i = 0

    def flush() -> None:
        if paragraph:
            joined = "".join(p.strip() for p in paragraph)
            sentences = tuple(sentences_of(joined))
            if sentences:
                blocks.append(Block("paragraph", sentences=sentences, line=para_start))
            paragraph.clear()

    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped or _HORIZONTAL_RULE.match(stripped) or _HASHTAGS.match(plain(stripped) or "x"):
            flush()
            i += 1
            continue
        if stripped.startswith("|") and i + 1 < len(lines) and _TABLE_RULE.match(lines[i + 1].strip()):
            flush()
            header = _cells(stripped)
            start = i
            i += 2
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            blocks.append(Block("table", table=Table(header, tuple(rows), start), line=start))
            continue
        bullet = _BULLET.match(line)
        if bullet:
            flush()
            items = []
            start = i
            while i < len(lines):
                match = _BULLET.match(lines[i])
                if not match:
                    break
                depth = len(match.group(1).replace("\t", "    ")) // 2
                items.append(Item(plain(match.group(2)).strip(), min(depth, 3), i))
                i += 1
            base = min(it.depth for it in items)
            items = [Item(it.text, it.depth - base, it.line) for it in items if it.text]
            blocks.append(Block("list", items=tuple(items), line=start))
            continue
        if not paragraph:
            para_start = i
        paragraph.append(stripped)
        i += 1
    flush()
    return Structure(tuple(blocks))
