"""The index folder's life cycle: is it fresh, load it, (re)build and publish it atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..documents import Guide
from ..embedding.embedder import Embedder
from ..errors import IndexCorruptError, IndexMissingError
from ..fitting.artifact import Calibration
from ..fitting.store import CalibrationStore
from ..settings import Settings
from . import layout
from .builder import BuildReport, IndexBuilder, build_config
from .manifest import FORMAT_VERSION
from .snapshot import CALIBRATION_DIR, IndexSnapshot, file_sizes

log = logging.getLogger("rag.index")


@dataclass(frozen=True)
class Freshness:
    """Why an index no longer matches the guides and settings (empty ``reasons``: it does)."""

    reasons: list[str] = field(default_factory=list)

    @property
    def fresh(self) -> bool:
        """True when nothing changed."""
        return not self.reasons


class IndexStore:
    """Loads, checks and builds the index kept in ``settings.index_dir``."""

    def __init__(self, settings: Settings, embedder: Embedder) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index_dir = Path(settings.index_dir)
        self.calibrations = CalibrationStore(settings.data_dir)

    def calibration(self) -> tuple[Calibration, str] | None:
        """The calibration an index built now would use, and its source (None: not fitted)."""
        return self.calibrations.find(self.embedder.name, self.embedder.fingerprint, self.settings.reranker)

    def load(self) -> IndexSnapshot:
        """The active version; :class:`IndexMissingError` or :class:`IndexCorruptError` otherwise."""
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise IndexCorruptError(
                f"index folder {self.index_dir} is a file, not a folder; "
                "remove it or choose another --index-dir"
            )
        version = layout.current_version(self.index_dir)
        if version is None:
            raise IndexMissingError(
                f"no index in {self.index_dir}; run `rag build --index-dir {self.index_dir}` to build it"
            )
        if not version.is_dir():
            raise IndexCorruptError(
                f"{self.index_dir / layout.CURRENT} names {version.name}, which does not exist; "
                "run `rag build --rebuild` to build the index again"
            )
        return IndexSnapshot.load(version)

    def freshness(self, snapshot: IndexSnapshot, guides: list[Guide]) -> Freshness:
        """Compare an index with the guides on disk and the current model and settings."""
        m = snapshot.manifest
        reasons: list[str] = []
        if m.format != FORMAT_VERSION:
            reasons.append(f"index format {m.format} is not the current {FORMAT_VERSION}")
        if m.model != self.embedder.name:
            reasons.append(f"index was built with model {m.model!r}, the setting is {self.embedder.name!r}")
        elif m.model_fingerprint != self.embedder.fingerprint or m.dimension != self.embedder.dimension:
            reasons.append(f"model {m.model!r} changed since the index was built (dimension {m.dimension})")
        if m.build_config != build_config(self.settings):
            reasons.append("chunking or index settings changed")
        found = self.calibration()
        wanted = found[0].id if found else ""
        if m.calibration.get("id", "") != wanted:
            reasons.append(
                f"calibration changed ({m.calibration.get('id') or 'none'} -> {wanted or 'none'})"
            )
        built = {g.slug: g.content_hash for g in m.guides}
        current = {g.slug: g.content_hash for g in guides}
        added = sorted(set(current) - set(built))
        removed = sorted(set(built) - set(current))
        changed = sorted(s for s in set(current) & set(built) if current[s] != built[s])
        if added:
            reasons.append(f"new guides: {', '.join(added)}")
        if removed:
            reasons.append(f"removed guides: {', '.join(removed)}")
        if changed:
            reasons.append(f"changed guides: {', '.join(changed)}")
        return Freshness(reasons)

    def build(self, guides: list[Guide], *, rebuild: bool = False, progress: bool = False) -> tuple[IndexSnapshot, BuildReport]:
        """Build, save and publish a new version; unchanged guides keep their embeddings."""
        builder = IndexBuilder(self.settings, self.embedder)
        if self.index_dir.exists() and not self.index_dir.is_dir():
            raise IndexCorruptError(
                f"index folder {self.index_dir} is a file, not a folder; remove it or choose another --index-dir"
            )
        with layout.build_lock(self.index_dir):
            previous = None
            if not rebuild:
                try:
                    previous = self.load()
                except (IndexMissingError, IndexCorruptError) as exc:
                    log.info("not reusing the previous index: %s", exc)
            snapshot, report = builder.build(guides, previous, progress=progress)
            build_dir = layout.new_build_dir(self.index_dir)
            snapshot.save(build_dir)
            found = self.calibration()
            record: dict[str, str] = {}
            if found is not None:
                calibration, source = found
                calibration.save(build_dir / CALIBRATION_DIR)
                record = {"id": calibration.id, "source": source, "data_hash": calibration.data_hash}
            manifest = replace(
                snapshot.manifest,
                files=file_sizes(build_dir),
                build_seconds=round(report.seconds, 3),
                calibration=record,
            )
            manifest.write(build_dir)  # written last: a folder without it is never loaded
            final = layout.publish(self.index_dir, build_dir)
            layout.clean_up(self.index_dir)
        return IndexSnapshot.load(final), report
