"""Splitting guides into sections, chunks and answer units along their Markdown headings.

Sections come from langchain's ``MarkdownHeaderTextSplitter`` and are mapped back onto the
original lines, so every chunk keeps its exact heading texts (emoji included) and its line
range. Tables become one chunk per row with the header repeated; long prose is split with
``RecursiveCharacterTextSplitter`` on Japanese sentence boundaries, measured in model tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from .documents import Chunk, Guide, Section, Unit
from .normalization import plain

HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
PATH_KEYS = ("h2", "h3", "h4")  # the heading path starts at H2; H1 is the guide title
SEPARATORS = ["\n\n", "\n", "。", "！", "？", "!", "?", "；", "、", "，", " ", ""]

_TABLE_RULE = re.compile(r"^\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_HORIZONTAL_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_HEADING = re.compile(r"^\s*(#{1,6})\s+(.*?)\s*$")
_SENTENCE_END = re.compile(r"(?<=[。！？!?])\s*")
_MIN_UNIT_CHARS = 8
# A line of hashtags only ("#CISO #キャリアパス"): metadata for readers, not a statement to quote.
_HASHTAG_LINE = re.compile(r"^[`\s]*(#[^\s#`。、！？!?]+[`\s]*)+$")


@dataclass(frozen=True)
class ChunkedGuide:
    """A guide cut into sections, chunks (ids local to the guide) and units."""

    sections: list[Section]
    chunks: list[Chunk]
    units: list[Unit]


def _langchain_filtered(line: str) -> str:
    """The form in which ``MarkdownHeaderTextSplitter`` reports a line."""
    return "".join(filter(str.isprintable, line.strip()))


def _cells(row: str) -> list[str]:
    row = row.strip()
    if row.startswith("|"):
        row = row[1:]
    if row.endswith("|"):
        row = row[:-1]
    return [plain(cell.strip()) for cell in row.split("|")]


def table_row_text(header: list[str], cells: list[str]) -> str:
    """``header: cell / header: cell`` so that a row stands on its own."""
    pairs = []
    for i, cell in enumerate(cells):
        if not cell:
            continue
        name = header[i] if i < len(header) and header[i] else f"列{i + 1}"
        pairs.append(f"{name}: {cell}")
    return " / ".join(pairs)


def split_units(text: str, first_line: int) -> list[tuple[str, int]]:
    """Sentences and list items of a prose passage as (plain text, line number)."""
    units: list[tuple[str, int]] = []
    for offset, line in enumerate(text.split("\n")):
        flat = plain(line)
        if not flat or _HASHTAG_LINE.match(flat):
            continue
        for sentence in _SENTENCE_END.split(flat):
            sentence = sentence.strip()
            if len(sentence) >= _MIN_UNIT_CHARS and not (sentence.endswith(":") or sentence.endswith("：")):
                units.append((sentence, first_line + offset))
    return units


class Chunker:
    """Cuts guides into chunks that fit the embedding model without truncation."""

    def __init__(
        self,
        count_tokens: Callable[[str], int],
        *,
        max_tokens: int = 320,
        overlap_tokens: int = 32,
        token_limit: int = 512,
        context: Callable[[Guide, tuple[str, ...]], str] | None = None,
    ) -> None:
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.overlap_tokens = overlap_tokens
        self.token_limit = token_limit
        self.context = context or (lambda guide, path: "")
        self._headers = MarkdownHeaderTextSplitter(HEADERS, strip_headers=False)

    # -- sections -----------------------------------------------------------------------------
    def sections(self, guide: Guide) -> list[Section]:
        """Heading-delimited sections with their original text and 1-based line ranges."""
        lines = guide.body.split("\n")
        originals: dict[tuple[int, str], str] = {}
        for line in lines:
            match = _HEADING.match(line)
            if match:
                key = (len(match.group(1)), _langchain_filtered(match.group(2)))
                originals.setdefault(key, match.group(2))
        docs = self._headers.split_text(guide.body)
        starts: list[int] = []
        cursor = 0
        for doc in docs:
            first = doc.page_content.split("\n", 1)[0].rstrip()
            index = cursor
            while index < len(lines) and _langchain_filtered(lines[index]) != first:
                index += 1
            if index == len(lines):  # cannot happen for splitter output; keep the cursor
                index = cursor
            starts.append(index)
            cursor = index + 1
        sections: list[Section] = []
        for n, doc in enumerate(docs):
            start = starts[n]
            end = starts[n + 1] if n + 1 < len(docs) else len(lines)
            path = tuple(
                originals.get((level + 2, doc.metadata[key]), doc.metadata[key])
                for level, key in enumerate(PATH_KEYS)
                if key in doc.metadata
            )
            body_lines = lines[start:end]
            # Drop heading lines of this section, then blank and rule lines at both ends.
            while body_lines and (
                _HEADING.match(body_lines[0]) or not body_lines[0].strip() or _HORIZONTAL_RULE.match(body_lines[0])
            ):
                body_lines, start = body_lines[1:], start + 1
            while body_lines and (not body_lines[-1].strip() or _HORIZONTAL_RULE.match(body_lines[-1])):
                body_lines = body_lines[:-1]
            if not body_lines:
                continue
            sections.append(
                Section(
                    guide=guide.slug,
                    heading_path=path,
                    line_start=guide.body_start_line + start,
                    line_end=guide.body_start_line + start + len(body_lines) - 1,
                    text="\n".join(body_lines),
                )
            )
        return sections

    # -- chunks -------------------------------------------------------------------------------
    def _budget(self, guide: Guide, path: tuple[str, ...]) -> int:
        overhead = self.count_tokens(self.context(guide, path))
        return max(32, min(self.max_tokens, self.token_limit - overhead))

    def _prose_chunks(self, prose: list[tuple[int, str]], budget: int) -> list[tuple[int, int, str]]:
        """(first line, last line, text) pieces of the non-table lines of a section."""
        if not prose:
            return []
        text = "\n".join(line for _, line in prose)
        numbers = [number for number, _ in prose]
        if self.count_tokens(plain(text)) <= budget:
            return [(numbers[0], numbers[-1], text)]
        splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            chunk_size=budget,
            chunk_overlap=min(self.overlap_tokens, budget // 4),
            length_function=lambda s: self.count_tokens(plain(s)),
            keep_separator="end",
            add_start_index=True,
            strip_whitespace=True,
        )
        pieces = []
        for doc in splitter.create_documents([text]):
            start = doc.metadata.get("start_index", -1)
            start = max(start, 0)
            first = text.count("\n", 0, start)
            last = first + doc.page_content.count("\n")
            pieces.append((numbers[first], numbers[min(last, len(numbers) - 1)], doc.page_content))
        return pieces

    def split(self, guide: Guide) -> ChunkedGuide:
        """Sections, chunks and units of one guide (chunk ids count from 0 within the guide)."""
        sections = self.sections(guide)
        chunks: list[Chunk] = []
        units: list[Unit] = []

        def add(kind: str, first: int, last: int, text: str, section: int, path: tuple[str, ...]) -> None:
            chunk = Chunk(
                id=len(chunks),
                guide=guide.slug,
                heading_path=path,
                line_start=first,
                line_end=last,
                text=text,
                kind=kind,
                section=section,
            )
            chunks.append(chunk)
            if kind == "table_row":
                units.append(Unit(chunk=chunk.id, text=text, line=first))
            else:
                for sentence, line in split_units(text, first):
                    units.append(Unit(chunk=chunk.id, text=sentence, line=line))

        for s_index, section in enumerate(sections):
            budget = self._budget(guide, section.heading_path)
            lines = section.text.split("\n")
            prose: list[tuple[int, str]] = []
            i = 0
            while i < len(lines):
                number = section.line_start + i
                is_table = (
                    lines[i].strip().startswith("|")
                    and i + 1 < len(lines)
                    and _TABLE_RULE.match(lines[i + 1].strip())
                )
                if not is_table:
                    if not _HORIZONTAL_RULE.match(lines[i]):
                        prose.append((number, lines[i]))
                    i += 1
                    continue
                header = _cells(lines[i])
                i += 2
                while i < len(lines) and lines[i].strip().startswith("|"):
                    row = table_row_text(header, _cells(lines[i]))
                    if row:
                        for piece in self._fit(row, budget):
                            add("table_row", section.line_start + i, section.line_start + i, piece, s_index,
                                section.heading_path)
                    i += 1
            if any(line.strip() for _, line in prose):
                while prose and not prose[0][1].strip():
                    prose.pop(0)
                while prose and not prose[-1][1].strip():
                    prose.pop()
                for first, last, text in self._prose_chunks(prose, budget):
                    add("text", first, last, text, s_index, section.heading_path)
        return ChunkedGuide(sections=sections, chunks=chunks, units=units)

    def _fit(self, text: str, budget: int) -> list[str]:
        """A table row, split on punctuation only if it alone exceeds the token budget."""
        if self.count_tokens(text) <= budget:
            return [text]
        splitter = RecursiveCharacterTextSplitter(
            separators=[" / ", *SEPARATORS], chunk_size=budget, chunk_overlap=0,
            length_function=self.count_tokens, keep_separator="end",
        )
        return splitter.split_text(text)
