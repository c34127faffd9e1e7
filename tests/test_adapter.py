"""The embedding adapter: fitted on pairs, saved as plain files, merged when the model loads."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from rag.embedding.adapter import (
    ADAPTER_VERSION,
    ARRAYS_FILE,
    CONFIG_FILE,
    Adapter,
    AdapterConfig,
    TrainingPair,
    fit_adapter,
    shared_pairs,
)
from rag.embedding.embedder import SHIPPED_ADAPTERS, Embedder
from rag.errors import ModelError

PAIRS = [
    TrainingPair("CISOの仕事は？", "CISO › 主な業務\nCISOは情報セキュリティ戦略を統括する。"),
    TrainingPair("What does a pharmacist do?", "薬剤師 › 仕事内容\n薬剤師は処方箋を監査し、調剤する。"),
    TrainingPair("看護師の夜勤は？", "看護師 › 働き方\n病棟の看護師は二交代や三交代で夜勤に入る。"),
    TrainingPair("建築士の資格は？", "建築士 › 資格\n一級建築士は国土交通大臣の免許。"),
    TrainingPair(
        "建築士の資格は？ 難しい？", "建築士 › 試験\n一級建築士試験の合格率は約10%。", ("建築士の資格は？", "難しい？")
    ),
]
TEXTS = ["CISOの仕事は？", "薬剤師は処方箋を監査する。"]


@pytest.fixture(scope="module")
def embedder(settings):
    """The bundled model as it is (no adapter): what adapters are fitted on."""
    base = Embedder(settings.model, cache_dir=settings.cache_dir)
    base.model  # noqa: B018 - load once
    return base


@pytest.fixture(scope="module")
def fitted(settings, embedder, tmp_path_factory):
    """A tiny adapter fitted on five pairs (one a follow-up; two steps), saved under the base model's fingerprint."""
    config = AdapterConfig(
        base_model=embedder.name, base_fingerprint=embedder.fingerprint, rank=2, epochs=2, batch_size=5, learning_rate=1e-2
    )
    adapter = fit_adapter(embedder.model, PAIRS, config)
    root = tmp_path_factory.mktemp("adapters")
    adapter.save(root / embedder.fingerprint)
    return adapter, root


def test_a_question_s_other_section_is_not_its_negative():
    """A question two sections answer gives two pairs: neither passage may push the other away,
    nor may a passage shared by two questions; a follow-up is told apart by its turns."""
    batch = [
        TrainingPair("CISOの仕事は？", "p1"),
        TrainingPair("CISOの仕事は？", "p2"),  # the same question, its second section
        TrainingPair("CISOの役割は？", "p1"),  # another question, the same section
        TrainingPair("その中で一番大事なのは？", "p3", ("CISOの仕事は？", "その中で一番大事なのは？")),
        TrainingPair("その中で一番大事なのは？", "p4", ("看護師の仕事は？", "その中で一番大事なのは？")),
    ]
    shared = shared_pairs(batch)
    assert all(shared[i][i] for i in range(len(batch)))
    assert shared[0][1] and shared[1][0] and shared[0][2] and shared[2][0]
    assert not shared[1][2] and not shared[0][3] and not shared[3][4] and not shared[4][3]


def test_fitting_leaves_the_model_as_it_was(embedder, fitted):
    fresh = Embedder(embedder.name, cache_dir=embedder.cache_dir)
    assert np.allclose(embedder.embed_queries(TEXTS), fresh.embed_queries(TEXTS), atol=1e-6)


def test_save_load_merge_round_trip(embedder, fitted):
    adapter, root = fitted
    folder = root / embedder.fingerprint
    assert json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))["version"] == ADAPTER_VERSION
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
        assert len(arrays.files) == 2 * len(adapter.weights)
    loaded = Adapter.load(folder)
    assert loaded.id == adapter.id and loaded.config.report["loss_per_epoch"] == adapter.config.report["loss_per_epoch"]
    assert all(np.array_equal(loaded.weights[k][0], adapter.weights[k][0]) for k in adapter.weights)

    adapted = Embedder(embedder.name, cache_dir=embedder.cache_dir, adapter_dirs=[root])
    again = Embedder(embedder.name, cache_dir=embedder.cache_dir, adapter_dirs=[root])
    vectors = adapted.embed_queries(TEXTS)
    assert adapted.adapter is not None and adapted.adapter.id == adapter.id
    assert np.array_equal(vectors, again.embed_queries(TEXTS))  # the same merge, the same vectors
    assert not np.allclose(vectors, embedder.embed_queries(TEXTS), atol=1e-4)  # and it moved them
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    # the adapted model is another model to the index and the calibrations
    assert adapted.base_fingerprint == embedder.fingerprint
    assert adapted.fingerprint != embedder.fingerprint


def test_an_adapter_of_another_model_is_not_used(embedder, fitted, tmp_path):
    adapter, _ = fitted
    adapter.save(tmp_path / "0123456789abcdef")  # filed under another model's fingerprint
    other = Embedder(embedder.name, cache_dir=embedder.cache_dir, adapter_dirs=[tmp_path])
    assert other.fingerprint == embedder.fingerprint and other.adapter is None

    misfiled = replace(adapter.config, base_fingerprint="0123456789abcdef")
    Adapter(misfiled, adapter.weights).save(tmp_path / embedder.fingerprint)
    with pytest.raises(ModelError, match="fitted for fingerprint 0123456789abcdef"):
        Embedder(embedder.name, cache_dir=embedder.cache_dir, adapter_dirs=[tmp_path]).model  # noqa: B018


def test_damaged_adapters_are_refused_with_what_to_run(embedder, fitted, tmp_path):
    adapter, _ = fitted
    folder = adapter.save(tmp_path / "a")
    (folder / ARRAYS_FILE).write_bytes((folder / ARRAYS_FILE).read_bytes()[:100])
    with pytest.raises(ModelError, match="rag adapt"):
        Adapter.load(folder)

    folder = adapter.save(tmp_path / "b")
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    (folder / CONFIG_FILE).write_text(json.dumps(config | {"version": 99}), encoding="utf-8")
    with pytest.raises(ModelError, match="version 99"):
        Adapter.load(folder)

    folder = adapter.save(tmp_path / "c")
    name = sorted(adapter.weights)[0]
    a, b = adapter.weights[name]
    bad = Adapter(adapter.config, adapter.weights | {name: (a[:, :10], b)})
    with pytest.raises(ModelError, match="shape"):
        bad.merge_into(Embedder(embedder.name, cache_dir=embedder.cache_dir).model)


def test_the_bundled_model_ships_an_adapter_and_a_calibration_for_it(settings):
    """``--adapter`` works out of the box: the shipped adapter, and the calibration of the adapted
    model beside the plain model's (the default)."""
    from rag.fitting.store import SHIPPED_DIR

    assert not settings.adapter
    adapted = Embedder.from_settings(settings.replace(adapter=True))
    assert adapted.adapter is not None
    assert (SHIPPED_ADAPTERS / adapted.base_fingerprint / CONFIG_FILE).is_file()
    assert (SHIPPED_DIR / adapted.fingerprint / "calibration.json").is_file()
    plain = Embedder.from_settings(settings)
    assert plain.adapter is None and plain.fingerprint == adapted.base_fingerprint
    assert (SHIPPED_DIR / plain.fingerprint / "calibration.json").is_file()
