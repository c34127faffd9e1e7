"""Where calibrations live, and which one an index should use.

Looked up in this order, for the embedding model's fingerprint (and the reranker, if any):

1. ``<data_dir>/calibrations/<key>/`` — fitted here by ``rag tune`` (or automatically for a
   model that has no shipped calibration);
2. ``rag/calibrations/<key>/`` inside the package — the shipped default for the bundled model.

An index version holds a copy of the calibration it was built with (``calibration/``) and its
manifest records the calibration's id, so an index always answers with the fit it was
published with.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..errors import CalibrationError
from .artifact import Calibration

log = logging.getLogger("rag.fitting")

#: Calibrations shipped with the package (one folder per model fingerprint).
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "calibrations"


def calibration_key(fingerprint: str, reranker: str = "") -> str:
    """Folder name of the calibration for a model fingerprint (and a reranker, if any)."""
    if not reranker:
        return fingerprint
    return f"{fingerprint}-rerank-{hashlib.sha256(reranker.encode()).hexdigest()[:8]}"


class CalibrationStore:
    """Finds the calibration for a model among the tuned and the shipped ones."""

    def __init__(self, data_dir: Path, shipped_dir: Path = SHIPPED_DIR) -> None:
        self.data_dir = Path(data_dir)
        self.shipped_dir = Path(shipped_dir)

    def tuned_folder(self, fingerprint: str, reranker: str = "") -> Path:
        """Where ``rag tune`` saves the calibration of this model."""
        return self.data_dir / "calibrations" / calibration_key(fingerprint, reranker)

    def shipped_folder(self, fingerprint: str, reranker: str = "") -> Path:
        """Where a shipped calibration of this model would be."""
        return self.shipped_dir / calibration_key(fingerprint, reranker)

    def find(self, name: str, fingerprint: str, reranker: str = "") -> tuple[Calibration, str] | None:
        """The calibration to use and its source ("tuned" or "shipped"), or None."""
        for source, folder in (
            ("tuned", self.tuned_folder(fingerprint, reranker)),
            ("shipped", self.shipped_folder(fingerprint, reranker)),
        ):
            if not folder.is_dir():
                continue
            try:
                calibration = Calibration.load(folder)
                calibration.check_model(name, fingerprint)
            except CalibrationError as exc:
                log.warning("ignoring calibration in %s: %s", folder, exc)
                continue
            return calibration, source
        return None
