"""Building an index snapshot in memory, re-embedding only guides whose content changed."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..chunking import Chunker
from ..documents import Chunk, Guide, Section, Unit
from ..embedding.embedder import Embedder
from ..glossary import build_glossary, glossary_config
from ..normalization import plain
from ..settings import Settings
from ..terms import TermExtractor
from ..tokenization import make_tokenizer
from .dense import DenseIndex
from .keyword import KeywordIndex
from .manifest import CHUNKER_VERSION, GuideEntry, Manifest
from .snapshot import IndexSnapshot

log = logging.getLogger("rag.index")


def context_line(title: str, heading_path: tuple[str, ...]) -> str:
    """The heading context embedded with every chunk: ``title › H2 › H3``."""
    return " › ".join((title, *heading_path))


def embedding_text(title: str, chunk: Chunk) -> str:
    """What the model reads for a chunk: its heading context, then its plain text."""
    return f"{context_line(title, chunk.heading_path)}\n{plain(chunk.text)}"


def unit_text(chunk: Chunk, unit: Unit) -> str:
    """What the model reads for a sentence or row: its nearest heading, then the sentence."""
    heading = chunk.heading_path[-1] if chunk.heading_path else ""
    return f"{heading}\n{unit.text}" if heading else unit.text


def section_text(title: str, section: Section) -> str:
    """What the model reads for a section's heading vector: ``title › H2 › H3``."""
    return context_line(title, section.heading_path)


def guide_text(guide: Guide) -> str:
    """What the model reads for a guide's vector: title, description and keywords."""
    meta = guide.metadata
    parts = [guide.title]
    for key in ("meta_description", "description"):
        if isinstance(meta.get(key), str):
            parts.append(meta[key])
    words = [w for key in ("keywords", "tags") for w in (meta.get(key) or []) if isinstance(w, str)]
    if words:
        parts.append("、".join(words))
    return "\n".join(parts)


def vocabulary_texts(guide: Guide, sections: list[Section]) -> list[str]:
    """The texts whose content terms make up a guide's vocabulary."""
    words = [str(w) for key in ("keywords", "tags") for w in (guide.metadata.get(key) or [])]
    return [guide.title, guide.label, *words, *(h for s in sections for h in s.heading_path), *(s.text for s in sections)]


def keyword_text(chunk: Chunk) -> str:
    """What the keyword index reads for a chunk: headings and text."""
    return "\n".join((*chunk.heading_path, chunk.text))


def build_config(settings: Settings) -> dict[str, object]:
    """The settings an index depends on; a change to any of them means a rebuild."""
    return {
        "chunker_version": CHUNKER_VERSION,
        "max_chunk_tokens": settings.max_chunk_tokens,
        "chunk_overlap_tokens": settings.chunk_overlap_tokens,
        "keyword_tokenizer": settings.keyword_tokenizer,
        "exact_search_max_chunks": settings.exact_search_max_chunks,
        "glossary": glossary_config(),
    }


#: Settings that change no vector: a guide embedded under other values is reused as it is.
_EMBEDDING_NEUTRAL = ("glossary",)


def _embedding_config(config: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in config.items() if k not in _EMBEDDING_NEUTRAL}


@dataclass(frozen=True)
class BuildReport:
    """What a build did: guides embedded afresh, guides reused, time taken."""

    embedded: list[str]
    reused: list[str]
    chunks: int
    units: int
    seconds: float


def _is_row(part: _GuideParts, unit: Unit) -> bool:
    chunk = part.chunks[unit.chunk]
    return chunk.kind == "table_row" and unit.text == chunk.text


@dataclass
class _GuideParts:
    guide: Guide
    sections: list[Section]
    chunks: list[Chunk]
    units: list[Unit]
    chunk_vectors: np.ndarray
    unit_vectors: np.ndarray
    section_vectors: np.ndarray
    guide_vector: np.ndarray


class IndexBuilder:
    """Chunks and embeds guides into a new :class:`IndexSnapshot`."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder

    def chunker(self) -> Chunker:
        """A chunker sized to the embedding model's sequence limit."""
        return Chunker(
            self.embedder.count_tokens,
            max_tokens=self.settings.max_chunk_tokens,
            overlap_tokens=self.settings.chunk_overlap_tokens,
            token_limit=self.embedder.max_seq_length,
            context=lambda guide, path: context_line(guide.title, path),
        )

    def _reusable(self, previous: IndexSnapshot | None) -> dict[str, tuple[int, GuideEntry]]:
        if previous is None:
            return {}
        m = previous.manifest
        if (
            m.model != self.embedder.name
            or m.model_fingerprint != self.embedder.fingerprint
            or _embedding_config(m.build_config) != _embedding_config(build_config(self.settings))
        ):
            return {}
        return {g.content_hash: (i, g) for i, g in enumerate(m.guides)}

    def _reuse(
        self, guide: Guide, entry: GuideEntry, position: int, previous: IndexSnapshot, vectors: np.ndarray
    ) -> _GuideParts:
        c0, c1 = entry.chunks
        u0, u1 = entry.units
        s0, s1 = entry.sections
        return _GuideParts(
            guide=guide,
            sections=[replace(s, guide=guide.slug) for s in previous.sections[s0:s1]],
            chunks=[replace(c, id=c.id - c0, section=c.section - s0, guide=guide.slug) for c in previous.chunks[c0:c1]],
            units=[replace(u, chunk=u.chunk - c0) for u in previous.units[u0:u1]],
            chunk_vectors=np.asarray(vectors[c0:c1], dtype=np.float32),
            unit_vectors=np.asarray(previous.unit_vectors[u0:u1], dtype=np.float32),
            section_vectors=np.asarray(previous.section_vectors[s0:s1], dtype=np.float32),
            guide_vector=np.asarray(previous.guide_vectors[position], dtype=np.float32),
        )

    def build(
        self, guides: list[Guide], previous: IndexSnapshot | None = None, *, progress: bool = False
    ) -> tuple[IndexSnapshot, BuildReport]:
        """A complete snapshot (not yet saved) of ``guides``, reusing ``previous`` where possible."""
        self.embedder.model  # noqa: B018 - load the model first: the build time excludes loading it
        started = time.perf_counter()
        reusable = self._reusable(previous)
        previous_vectors = previous.dense.vectors() if reusable and previous is not None else None
        parts: list[_GuideParts] = []
        fresh: list[_GuideParts] = []
        chunker = self.chunker()
        for guide in guides:
            found = reusable.get(guide.content_hash)
            if found is not None and previous is not None and previous_vectors is not None:
                parts.append(self._reuse(guide, found[1], found[0], previous, previous_vectors))
                continue
            cut = chunker.split(guide)
            empty = np.zeros((0, 0), dtype=np.float32)
            part = _GuideParts(guide, cut.sections, cut.chunks, cut.units, empty, empty, empty, empty)
            parts.append(part)
            fresh.append(part)
        self._embed(fresh, progress=progress)
        snapshot = self._assemble(parts)
        report = BuildReport(
            embedded=[p.guide.slug for p in fresh],
            reused=[p.guide.slug for p in parts if p not in fresh],
            chunks=len(snapshot.chunks),
            units=len(snapshot.units),
            seconds=time.perf_counter() - started,
        )
        return snapshot, report

    def _embed(self, parts: list[_GuideParts], *, progress: bool) -> None:
        """Embed chunks, units, section headings and guides in one batch run; a table row's
        unit reuses its chunk's vector."""
        texts: list[str] = []
        for part in parts:
            texts.extend(embedding_text(part.guide.title, c) for c in part.chunks)
            texts.extend(unit_text(part.chunks[u.chunk], u) for u in part.units if not _is_row(part, u))
            texts.extend(section_text(part.guide.title, s) for s in part.sections)
            texts.append(guide_text(part.guide))
        if not texts:
            return
        limit = self.embedder.max_seq_length
        too_long = [t for t in texts if self.embedder.count_tokens(t) > limit]
        if too_long:  # the chunker sizes chunks to fit; this guards against silent truncation
            raise RuntimeError(f"{len(too_long)} passages exceed the model's {limit}-token limit: {too_long[0][:80]!r}")
        vectors = self.embedder.embed_passages(texts, progress=progress)
        at = 0
        for part in parts:
            n = len(part.chunks)
            part.chunk_vectors = vectors[at : at + n]
            at += n
            rows = []
            for u in part.units:
                if _is_row(part, u):
                    rows.append(part.chunk_vectors[u.chunk])
                else:
                    rows.append(vectors[at])
                    at += 1
            part.unit_vectors = np.stack(rows) if rows else np.zeros((0, vectors.shape[1]), np.float32)
            n = len(part.sections)
            part.section_vectors = vectors[at : at + n]
            at += n
            part.guide_vector = vectors[at]
            at += 1

    def _assemble(self, parts: list[_GuideParts]) -> IndexSnapshot:
        dim = self.embedder.dimension
        sections: list[Section] = []
        chunks: list[Chunk] = []
        units: list[Unit] = []
        entries: list[GuideEntry] = []
        chunk_vectors: list[np.ndarray] = []
        unit_vectors: list[np.ndarray] = []
        section_vectors: list[np.ndarray] = []
        guide_vectors: list[np.ndarray] = []
        extractor = TermExtractor()
        vocabulary: dict[str, frozenset[str]] = {}
        for part in parts:
            c0, u0, s0 = len(chunks), len(units), len(sections)
            sections.extend(part.sections)
            chunks.extend(replace(c, id=c.id + c0, section=c.section + s0) for c in part.chunks)
            units.extend(replace(u, chunk=u.chunk + c0) for u in part.units)
            chunk_vectors.append(part.chunk_vectors.reshape(-1, dim))
            unit_vectors.append(part.unit_vectors.reshape(-1, dim))
            section_vectors.append(part.section_vectors.reshape(-1, dim))
            guide_vectors.append(part.guide_vector.reshape(-1, dim))
            vocabulary[part.guide.slug] = frozenset(extractor.vocabulary(vocabulary_texts(part.guide, part.sections)))
            entries.append(
                GuideEntry(
                    slug=part.guide.slug,
                    path=part.guide.path,
                    content_hash=part.guide.content_hash,
                    chunks=(c0, len(chunks)),
                    units=(u0, len(units)),
                    sections=(s0, len(sections)),
                )
            )
        all_chunk_vectors = np.concatenate(chunk_vectors) if chunk_vectors else np.zeros((0, dim), np.float32)
        all_unit_vectors = np.concatenate(unit_vectors) if unit_vectors else np.zeros((0, dim), np.float32)
        all_section_vectors = np.concatenate(section_vectors) if section_vectors else np.zeros((0, dim), np.float32)
        all_guide_vectors = np.concatenate(guide_vectors) if guide_vectors else np.zeros((0, dim), np.float32)
        dense = DenseIndex.build(all_chunk_vectors, exact_max=self.settings.exact_search_max_chunks)
        keyword = KeywordIndex.build([keyword_text(c) for c in chunks], make_tokenizer(self.settings.keyword_tokenizer))
        glossary = build_glossary(vocabulary.values(), extractor.reading)
        manifest = Manifest(
            model=self.embedder.name,
            model_fingerprint=self.embedder.fingerprint,
            dimension=dim,
            max_seq_length=self.embedder.max_seq_length,
            build_config=build_config(self.settings),
            guides=entries,
            counts={"guides": len(parts), "sections": len(sections), "chunks": len(chunks), "units": len(units)},
            files={},
            dense_kind=dense.kind,
        )
        return IndexSnapshot(
            path=Path(),
            manifest=manifest,
            guides={p.guide.slug: replace(p.guide, body="") for p in parts},
            sections=sections,
            chunks=chunks,
            units=units,
            unit_vectors=all_unit_vectors,
            dense=dense,
            keyword=keyword,
            section_vectors=all_section_vectors,
            guide_vectors=all_guide_vectors,
            vocabulary=vocabulary,
            glossary=glossary,
        )
