"""One loaded index version: documents, vectors and both search structures, read-only.

A snapshot is immutable once loaded; a rebuild produces a new snapshot and the assistant
swaps its reference, so a question is always answered from exactly one version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Chunk, Guide, Section, Unit
from ..errors import IndexCorruptError
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

    @cached_property
    def chunk_units(self) -> list[tuple[int, int]]:
        """For each chunk, the ``[start, end)`` slice of its units (derived from the unit list)."""
        return chunk_unit_ranges(len(self.chunks), self.units)

    @property
    def guide_ranges(self) -> dict[str, tuple[int, int]]:
        """Chunk-id range ``[start, end)`` of each guide."""
        return {g.slug: g.chunks for g in self.manifest.guides}

    @cached_property
    def folded_text(self) -> dict[str, str]:
        """Each guide's title, metadata and sections in matching form (NFKC, lower case)."""
        parts: dict[str, list[str]] = {
            slug: [g.title, g.label, json.dumps(g.metadata, ensure_ascii=False)] for slug, g in self.guides.items()
        }
        for section in self.sections:
            parts[section.guide].extend((*section.heading_path, section.text))
        return {slug: fold("\n".join(texts)) for slug, texts in parts.items()}

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
        np.save(folder / UNIT_VECTORS, np.ascontiguousarray(self.unit_vectors, dtype=np.float32), allow_pickle=False)
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
