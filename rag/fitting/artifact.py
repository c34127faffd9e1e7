"""The calibration artifact: every fitted component for one embedding model, as plain files.

A calibration is a folder::

    calibration.json      format, model name and fingerprint, data hash, linear models, metrics
    type_prototypes.npy   (types, d) section-type prototypes
    intent_weights.npy    (types, d) and intent_bias.npy (types,): question intent
    scope_weights.npy     (d,): does a career guide answer this kind of question
    shape_weights.npy     (shapes, d) and shape_bias.npy (shapes,): the answer shape asked for
    vocabulary.json       content terms of the training guides (career vocabulary)

All arrays are read with ``allow_pickle=False``. A calibration belongs to the model whose
fingerprint it carries; loading it for another model is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CalibrationError
from .intent import SECTION_TYPES, IntentModel, ScopeModel, SectionTyper
from .linear import LinearModel

#: Answer shapes the shape classifier chooses between (rag.answers.shape.SHAPES).
ANSWER_SHAPES = ("explanation", "list", "table", "steps")
#: Bump when the folder's layout changes; older calibrations are refitted.
CALIBRATION_FORMAT = 1
CALIBRATION_FILE = "calibration.json"
VOCABULARY_FILE = "vocabulary.json"
_ARRAYS = ("type_prototypes", "intent_weights", "intent_bias", "scope_weights", "shape_weights", "shape_bias")


def _read_vocabulary(path: Path) -> frozenset[str]:
    """The terms of a calibration's ``vocabulary.json`` (empty when the file is absent)."""
    if not path.exists():
        return frozenset()
    terms = json.loads(path.read_text(encoding="utf-8")).get("terms", [])
    if not isinstance(terms, list):
        raise ValueError(f"{path.name} must hold a list under 'terms'")
    return frozenset(str(t) for t in terms)


@dataclass(frozen=True)
class Calibration:
    """Fitted ranking, abstention, section types, question intent and scope, and answer shapes."""

    model: str
    model_fingerprint: str
    dimension: int
    ranker: LinearModel
    abstention: LinearModel
    threshold: float  # abstain when P(answerable) is below this
    typer: SectionTyper
    intent: IntentModel
    scope: ScopeModel
    shape: IntentModel | None = None  # p(answer shape | question vector), see rag.answers.shape
    #: P(the question is about the first section's parent as a whole), see rag.answers.breadth
    breadth: LinearModel | None = None
    reranker: str = ""
    #: Terms that answerable training questions of several guides use ("コツ", "japan"): the way
    #: people ask, not a topic, so a guide need not contain them.
    question_terms: frozenset[str] = frozenset()
    #: Content terms of the training guides: ordinary career vocabulary. A missing term of a
    #: question is named to the reader only when it is a name or loanword or lies outside this
    #: (「楽天」「天気」, not 「比較」「初心者」).
    vocabulary: frozenset[str] = frozenset()
    #: Cross-lingual claim support for generated answers: the least similarity (mean of best
    #: sentence and whole passage cosine) at which a cited passage supports a claim in another
    #: language (rag.llm.verification); None when no labelled claims were available.
    claim_support: float | None = None
    data: dict[str, Any] = field(default_factory=dict)  # hash, files, counts, guides, split
    metrics: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # fitted knobs (candidate guides, ...)
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    format: int = CALIBRATION_FORMAT

    @property
    def data_hash(self) -> str:
        """Hash of the labelled data the calibration was fitted on."""
        return str(self.data.get("hash", ""))

    @property
    def id(self) -> str:
        """Short content hash: two calibrations with the same id are the same fit."""
        blob = json.dumps(self._json(), sort_keys=True, ensure_ascii=False).encode()
        digest = hashlib.sha256(blob)
        digest.update("\n".join(sorted(self.vocabulary)).encode())
        for name in _ARRAYS:
            array = self._array(name)
            if array is not None:
                digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        return digest.hexdigest()[:16]

    def _array(self, name: str) -> np.ndarray | None:
        return {
            "type_prototypes": self.typer.prototypes,
            "intent_weights": self.intent.weights,
            "intent_bias": self.intent.bias,
            "scope_weights": self.scope.weights,
            "shape_weights": self.shape.weights if self.shape is not None else None,
            "shape_bias": self.shape.bias if self.shape is not None else None,
        }[name]

    def _json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "model": self.model,
            "model_fingerprint": self.model_fingerprint,
            "dimension": self.dimension,
            "created_at": self.created_at,
            "types": list(SECTION_TYPES),
            "ranker": self.ranker.to_json(),
            "abstention": self.abstention.to_json(),
            "breadth": self.breadth.to_json() if self.breadth is not None else None,
            "threshold": self.threshold,
            "scope_bias": self.scope.bias,
            "claim_support": self.claim_support,
            "reranker": self.reranker,
            "question_terms": sorted(self.question_terms),
            "settings": self.settings,
            "data": self.data,
            "metrics": self.metrics,
        }

    def check_model(self, name: str, fingerprint: str) -> None:
        """:class:`CalibrationError` unless this calibration was fitted for that model."""
        if fingerprint != self.model_fingerprint:
            raise CalibrationError(
                f"calibration was fitted for model {self.model!r} (fingerprint {self.model_fingerprint}), "
                f"not for {name!r} ({fingerprint}); run `rag tune --model {name}` to fit one"
            )

    # -- persistence ---------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write the calibration into ``folder`` atomically (a temporary folder, then a rename)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = folder.parent / f".{folder.name}.tmp-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for name in _ARRAYS:
                array = self._array(name)
                if array is not None:
                    np.save(tmp / f"{name}.npy", np.ascontiguousarray(array, dtype=np.float32), allow_pickle=False)
            (tmp / VOCABULARY_FILE).write_text(
                json.dumps({"terms": sorted(self.vocabulary)}, ensure_ascii=False) + "\n", encoding="utf-8"
            )
            (tmp / CALIBRATION_FILE).write_text(
                json.dumps(self._json() | {"id": self.id}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
            old = None
            if folder.exists():
                old = folder.parent / f".{folder.name}.old-{uuid.uuid4().hex[:8]}"
                os.rename(folder, old)
            os.rename(tmp, folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: Path) -> Calibration:
        """Read a calibration folder; :class:`CalibrationError` names what is wrong."""
        folder = Path(folder)
        path = folder / CALIBRATION_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CalibrationError(f"{path} is missing") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise CalibrationError(f"{path} cannot be read ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            found = data.get("format") if isinstance(data, dict) else None
            raise CalibrationError(
                f"{path} has format {found!r}, this version reads {CALIBRATION_FORMAT}; run `rag tune` to refit"
            )
        if data.get("types") != list(SECTION_TYPES):
            raise CalibrationError(f"{path} was fitted for other section types; run `rag tune` to refit")
        try:
            arrays = {}
            for name in _ARRAYS:
                file = folder / f"{name}.npy"
                arrays[name] = np.load(file, allow_pickle=False) if file.exists() else None
            dim = int(data["dimension"])
            calibration = cls(
                model=str(data["model"]),
                model_fingerprint=str(data["model_fingerprint"]),
                dimension=dim,
                ranker=LinearModel.from_json(data["ranker"]),
                abstention=LinearModel.from_json(data["abstention"]),
                threshold=float(data["threshold"]),
                typer=SectionTyper(np.asarray(arrays["type_prototypes"], dtype=np.float32)),
                intent=IntentModel(
                    np.asarray(arrays["intent_weights"], dtype=np.float64),
                    np.asarray(arrays["intent_bias"], dtype=np.float64),
                ),
                scope=ScopeModel(np.asarray(arrays["scope_weights"], dtype=np.float64), float(data["scope_bias"])),
                shape=None
                if arrays["shape_weights"] is None
                else IntentModel(
                    np.asarray(arrays["shape_weights"], dtype=np.float64), np.asarray(arrays["shape_bias"], dtype=np.float64)
                ),
                breadth=None if data.get("breadth") is None else LinearModel.from_json(data["breadth"]),
                reranker=str(data.get("reranker", "")),
                question_terms=frozenset(str(t) for t in data.get("question_terms", [])),
                vocabulary=_read_vocabulary(folder / VOCABULARY_FILE),
                claim_support=None if data.get("claim_support") is None else float(data["claim_support"]),
                data=dict(data.get("data", {})),
                metrics=dict(data.get("metrics", {})),
                settings=dict(data.get("settings", {})),
                created_at=str(data.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError, OSError) as exc:
            raise CalibrationError(f"calibration in {folder} is damaged ({type(exc).__name__}: {exc}); run `rag tune`") from None
        if calibration.breadth is not None:
            from ..answers.breadth import BREADTH_FEATURES

            unknown = sorted(set(calibration.breadth.features) - set(BREADTH_FEATURES))
            if unknown:
                raise CalibrationError(f"{path} has unknown breadth features {unknown}; run `rag tune` to refit")
        k = len(SECTION_TYPES)
        shapes = {
            "type_prototypes": (calibration.typer.prototypes.shape, (k, dim)),
            "intent_weights": (calibration.intent.weights.shape, (k, dim)),
            "intent_bias": (calibration.intent.bias.shape, (k,)),
            "scope_weights": (calibration.scope.weights.shape, (dim,)),
        }
        if calibration.shape is not None:
            shapes["shape_weights"] = (calibration.shape.weights.shape, (len(ANSWER_SHAPES), dim))
            shapes["shape_bias"] = (calibration.shape.bias.shape, (len(ANSWER_SHAPES),))
        for name, (found, wanted) in shapes.items():
            if found != wanted:
                raise CalibrationError(f"{folder / (name + '.npy')} has shape {found}, expected {wanted}; run `rag tune`")
        return calibration
