"""One loaded index version: documents, vectors and both search structures, read-only.

A snapshot is immutable once loaded; a rebuild produces a new snapshot and the assistant
swaps its reference, so a question is always answered from exactly one version.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Chunk, Guide, Section, Unit
from ..errors import CalibrationError, IndexCorruptError
from ..fitting.artifact import Calibration
from ..glossary import GLOSSARY, Glossary
from ..normalization import fold
from ..tokenization import make_tokenizer
from .dense import DenseIndex
from .keyword import KeywordIndex
from .manifest import MANIFEST, Manifest

GUIDES = "guides.jsonl"
SECTIONS = "sections.jsonl"
CHUNKS = "chunks.jsonl"
UNITS = "units.jsonl"
DENSE = "dense.faiss"
UNIT_VECTORS = "unit_vectors.npy"
SECTION_VECTORS = "section_vectors.npy"
GUIDE_VECTORS = "guide_vectors.npy"
VOCABULARY = "vocabulary.json"
CALIBRATION_DIR = "calibration"
KEYWORD = "keyword"


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    """One JSON object per line, UTF-8."""
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Inverse of :func:`write_jsonl`."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def file_sizes(folder: Path) -> dict[str, int]:
    """Size of every file under ``folder`` except the manifest, keyed by relative path."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): p.stat().st_size
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


@dataclass(frozen=True)
class IndexSnapshot:
    """An index version in memory (unit vectors memory-mapped)."""

    path: Path
    manifest: Manifest
    guides: dict[str, Guide]
    sections: list[Section]
    chunks: list[Chunk]
    units: list[Unit]
    unit_vectors: np.ndarray
    dense: DenseIndex
    keyword: KeywordIndex
    section_vectors: np.ndarray  # one per section: its heading path (``title › H2 › H3``)
    guide_vectors: np.ndarray  # one per guide, in manifest order: title, description, keywords
    vocabulary: dict[str, frozenset[str]]  # content terms of each guide (see rag.terms)
    calibration: Calibration | None = None  # the fitted ranking and abstention this version uses
    glossary: Glossary = field(default_factory=Glossary)  # English words -> guide terms (rag.glossary)

    @cached_property
    def chunk_units(self) -> list[tuple[int, int]]:
        """For each chunk, the ``[start, end)`` slice of its units (derived from the unit list)."""
        return chunk_unit_ranges(len(self.chunks), self.units)

    @property
    def guide_ranges(self) -> dict[str, tuple[int, int]]:
        """Chunk-id range ``[start, end)`` of each guide."""
        return {g.slug: g.chunks for g in self.manifest.guides}

    @cached_property
    def layout(self) -> IndexLayout:
        """Index arrays that say where each chunk, unit and section lies (derived, cached)."""
        return IndexLayout.of(self)

    @cached_property
    def guide_aliases(self) -> list[tuple[str, ...]]:
        """Folded names of each guide (manifest order) that a question may use."""
        from ..naming import aliases_of

        return [aliases_of(self.guides[g.slug]) for g in self.manifest.guides]

    @cached_property
    def chunk_vectors(self) -> np.ndarray:
        """Every chunk vector, in id order (a copy out of FAISS, for scoring whole guides)."""
        return np.ascontiguousarray(self.dense.vectors(), dtype=np.float32)

    @cached_property
    def folded_text(self) -> dict[str, str]:
        """Each guide's title, metadata and sections in matching form (NFKC, lower case)."""
        parts: dict[str, list[str]] = {
            slug: [g.title, g.label, json.dumps(g.metadata, ensure_ascii=False)] for slug, g in self.guides.items()
        }
        for section in self.sections:
            parts[section.guide].extend((*section.heading_path, section.text))
        return {slug: fold("\n".join(texts)) for slug, texts in parts.items()}

    @cached_property
    def item_labels(self) -> Counter[str]:
        """How often each list-item label (「**目的:**」) occurs in the collection: a template's
        labels recur, a label that occurs once names its item."""
        from ..answers.prose import item_label

        return Counter(label for s in self.sections for line in s.text.split("\n") if (label := item_label(line)))

    def units_of(self, chunk_id: int) -> range:
        """Indexes of the units inside one chunk."""
        start, end = self.chunk_units[chunk_id]
        return range(start, end)

    def section_of(self, chunk: Chunk) -> Section:
        """The whole section a chunk belongs to."""
        return self.sections[chunk.section]

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        """Write every file except the manifest (the builder writes it last)."""
        folder = Path(folder)
        write_jsonl(folder / GUIDES, [g.to_record() for g in self.guides.values()])
        write_jsonl(folder / SECTIONS, [s.to_record() for s in self.sections])
        write_jsonl(folder / CHUNKS, [c.to_record() for c in self.chunks])
        write_jsonl(folder / UNITS, [u.to_record() for u in self.units])
        for name, array in (
            (UNIT_VECTORS, self.unit_vectors),
            (SECTION_VECTORS, self.section_vectors),
            (GUIDE_VECTORS, self.guide_vectors),
        ):
            np.save(folder / name, np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
        (folder / VOCABULARY).write_text(
            json.dumps({"guides": {g: sorted(t) for g, t in self.vocabulary.items()}}, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        self.glossary.save(folder)
        self.dense.save(folder / DENSE)
        (folder / KEYWORD).mkdir(exist_ok=True)
        self.keyword.save(folder / KEYWORD)

    @classmethod
    def load(cls, folder: Path) -> IndexSnapshot:
        """Read and cross-check an index version; :class:`IndexCorruptError` if anything is off."""
        folder = Path(folder)
        fix = f"run `rag build --rebuild --index-dir {folder.parent}` to build the index again"
        try:
            manifest = Manifest.read(folder)
        except FileNotFoundError:
            raise IndexCorruptError(f"{folder / MANIFEST} is missing; {fix}") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise IndexCorruptError(f"{folder / MANIFEST} is damaged ({exc}); {fix}") from None
        sizes = file_sizes(folder)
        for name, size in manifest.files.items():
            if name not in sizes:
                raise IndexCorruptError(f"index file {folder / name} is missing; {fix}")
            if sizes[name] != size:
                raise IndexCorruptError(
                    f"index file {folder / name} has {sizes[name]} bytes, the manifest says {size}; {fix}"
                )
        try:
            guides = {g.slug: g for g in (Guide.from_record(r) for r in read_jsonl(folder / GUIDES))}
            sections = [Section.from_record(r) for r in read_jsonl(folder / SECTIONS)]
            chunks = [Chunk.from_record(r) for r in read_jsonl(folder / CHUNKS)]
            units = [Unit.from_record(r) for r in read_jsonl(folder / UNITS)]
            unit_vectors = np.load(folder / UNIT_VECTORS, mmap_mode="r", allow_pickle=False)
            section_vectors = np.load(folder / SECTION_VECTORS, allow_pickle=False)
            guide_vectors = np.load(folder / GUIDE_VECTORS, allow_pickle=False)
            raw_vocabulary = json.loads((folder / VOCABULARY).read_text(encoding="utf-8"))["guides"]
            if not isinstance(raw_vocabulary, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in raw_vocabulary.values()
            ):
                raise ValueError(f"{VOCABULARY} must map each guide to a list of terms under 'guides'")
            vocabulary = {g: frozenset(v) for g, v in raw_vocabulary.items()}
            # an index older than the glossary has none (its build settings say so: it is stale)
            glossary = Glossary.load(folder) if (folder / GLOSSARY).is_file() else Glossary()
            dense = DenseIndex.load(folder / DENSE)
            tokenizer = make_tokenizer(str(manifest.build_config.get("keyword_tokenizer", "bigram")))
            keyword = KeywordIndex.load(folder / KEYWORD, tokenizer)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, json.JSONDecodeError) as exc:
            raise IndexCorruptError(f"index in {folder} cannot be read ({type(exc).__name__}: {exc}); {fix}") from None
        problems = []
        if dense.size != len(chunks):
            problems.append(f"the FAISS file holds {dense.size} vectors for {len(chunks)} chunks")
        if dense.dimension != manifest.dimension:
            problems.append(f"the FAISS file has dimension {dense.dimension}, the manifest {manifest.dimension}")
        if keyword.size != len(chunks):
            problems.append(f"the keyword index holds {keyword.size} documents for {len(chunks)} chunks")
        if unit_vectors.ndim != 2 or unit_vectors.shape != (len(units), manifest.dimension):
            problems.append(f"unit vectors have shape {unit_vectors.shape}, expected ({len(units)}, {manifest.dimension})")
        if section_vectors.ndim != 2 or section_vectors.shape != (len(sections), manifest.dimension):
            problems.append(
                f"section vectors have shape {section_vectors.shape}, expected ({len(sections)}, {manifest.dimension})"
            )
        if guide_vectors.ndim != 2 or guide_vectors.shape != (len(manifest.guides), manifest.dimension):
            problems.append(
                f"guide vectors have shape {guide_vectors.shape}, expected ({len(manifest.guides)}, {manifest.dimension})"
            )
        if set(vocabulary) != set(guides):
            problems.append("the vocabulary does not list the same guides as the index")
        if any(c.id != i for i, c in enumerate(chunks)):
            problems.append("chunk ids are not consecutive")
        if any(not 0 <= c.section < len(sections) for c in chunks):
            problems.append("a chunk points to a section that does not exist")
        if any(not 0 <= u.chunk < len(chunks) for u in units):
            problems.append("a unit points to a chunk that does not exist")
        if any(units[i].chunk > units[i + 1].chunk for i in range(len(units) - 1)):
            problems.append("units are not in chunk order")
        if {c.guide for c in chunks} - set(guides):
            problems.append("a chunk names a guide that is not in the index")
        calibration = None
        if manifest.calibration:
            try:
                calibration = Calibration.load(folder / CALIBRATION_DIR)
            except CalibrationError as exc:
                problems.append(f"its calibration cannot be used ({exc})")
            else:
                if calibration.id != manifest.calibration.get("id"):
                    problems.append(f"its calibration is {calibration.id}, the manifest says {manifest.calibration.get('id')}")
        if problems:
            raise IndexCorruptError(f"index in {folder} is inconsistent: {'; '.join(problems)}; {fix}")
        return cls(
            path=folder,
            manifest=manifest,
            guides=guides,
            sections=sections,
            chunks=chunks,
            units=units,
            unit_vectors=unit_vectors,
            dense=dense,
            keyword=keyword,
            section_vectors=section_vectors,
            guide_vectors=guide_vectors,
            vocabulary=vocabulary,
            calibration=calibration,
            glossary=glossary,
        )


@dataclass(frozen=True)
class IndexLayout:
    """Where things lie: the section of each chunk, the guide of each section, section ranges.

    Chunks of one section, units of one chunk and sections of one guide are contiguous, so a
    section's best chunk or unit is one ``np.maximum.reduceat`` over its range.
    """

    guide_slugs: tuple[str, ...]  # manifest order
    chunk_section: np.ndarray  # (chunks,) section index of each chunk
    unit_chunk: np.ndarray  # (units,) chunk index of each unit
    section_guide: np.ndarray  # (sections,) guide position of each section
    section_chunks: np.ndarray  # (sections, 2) [start, end) chunk range (end == start: no chunk)
    section_units: np.ndarray  # (sections, 2) [start, end) unit range
    section_depth: np.ndarray  # (sections,) 0 for an H2, 1 for an H3, ...
    section_parent: np.ndarray  # (sections,) index of the top-level (H2) section, or itself
    section_has_children: np.ndarray  # (sections,) bool: an H2 introduction followed by subsections
    section_has_table: np.ndarray  # (sections,) bool

    @classmethod
    def of(cls, snapshot: IndexSnapshot) -> IndexLayout:
        """Derive the arrays from a snapshot's records."""
        n_sections = len(snapshot.sections)
        slugs = tuple(g.slug for g in snapshot.manifest.guides)
        position = {slug: i for i, slug in enumerate(slugs)}
        chunk_section = np.array([c.section for c in snapshot.chunks], dtype=np.int64)
        unit_chunk = np.array([u.chunk for u in snapshot.units], dtype=np.int64)
        section_guide = np.array([position[s.guide] for s in snapshot.sections], dtype=np.int64)
        section_chunks = np.zeros((n_sections, 2), dtype=np.int64)
        section_units = np.zeros((n_sections, 2), dtype=np.int64)
        has_table = np.zeros(n_sections, dtype=bool)
        seen: set[int] = set()
        for c in snapshot.chunks:
            units = snapshot.chunk_units[c.id]
            if c.section not in seen:
                seen.add(c.section)
                section_chunks[c.section] = (c.id, c.id + 1)
                section_units[c.section] = units
            else:
                section_chunks[c.section, 1] = c.id + 1
                if units[1] > units[0]:
                    if section_units[c.section, 1] == section_units[c.section, 0]:
                        section_units[c.section] = units
                    else:
                        section_units[c.section, 1] = units[1]
            has_table[c.section] |= c.kind == "table_row"
        depth = np.array([max(0, len(s.heading_path) - 1) for s in snapshot.sections], dtype=np.int64)
        parent = np.arange(n_sections, dtype=np.int64)
        children = np.zeros(n_sections, dtype=bool)
        top: dict[tuple[str, str], int] = {}
        for i, s in enumerate(snapshot.sections):
            if not s.heading_path:
                continue
            key = (s.guide, s.heading_path[0])
            if len(s.heading_path) == 1:
                top.setdefault(key, i)
            elif key in top:
                parent[i] = top[key]
                children[top[key]] = True
        return cls(
            guide_slugs=slugs,
            chunk_section=chunk_section,
            unit_chunk=unit_chunk,
            section_guide=section_guide,
            section_chunks=section_chunks,
            section_units=section_units,
            section_depth=depth,
            section_parent=parent,
            section_has_children=children,
            section_has_table=has_table,
        )


def chunk_unit_ranges(n_chunks: int, units: list[Unit]) -> list[tuple[int, int]]:
    """For each chunk, the ``[start, end)`` slice of the (chunk-ordered) unit list."""
    ranges = [(0, 0)] * n_chunks
    start = 0
    for i in range(1, len(units) + 1):
        if i == len(units) or units[i].chunk != units[start].chunk:
            ranges[units[start].chunk] = (start, i)
            start = i
    return ranges
