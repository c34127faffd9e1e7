"""Batch evaluation: question files, section ranks and the summary metrics."""

from __future__ import annotations

import json

import pytest

from rag.documents import Chunk
from rag.evaluation import QuestionFileError, evaluate, load_questions, section_rank, summarise
from rag.results import Hit
from tests.conftest import REPO


def _hit(path: tuple[str, ...], guide: str = "g") -> Hit:
    return Hit(chunk=Chunk(id=0, guide=guide, heading_path=path, line_start=1, line_end=1, text=""), score=1.0)


def test_section_rank_counts_distinct_sections():
    hits = [_hit(("A", "a1")), _hit(("A", "a1")), _hit(("B",)), _hit(("C", "c1"))]
    assert section_rank(hits, ["a1"]) == 1
    assert section_rank(hits, ["B"]) == 2  # the repeated A › a1 counts once
    assert section_rank(hits, ["c1"]) == 3
    assert section_rank(hits, ["C"]) == 3  # an H2 gold matches its subsections
    assert section_rank(hits, ["missing"]) is None
    assert section_rank(hits, ["a1"], guide="other") is None


def test_summary_metrics_from_rows():
    rows = [
        dict(answerable=True, gold_sections=["x"], section_rank=1, first_citation_correct=True, key_facts=["a", "b"],
             key_facts_found=["a"], abstained=False, latency_ms=10.0, kind="direct",
             citations=[{}, {}, {}, {}], citations_in_gold=3),
        dict(answerable=True, gold_sections=["x"], section_rank=4, first_citation_correct=False, key_facts=["c"],
             key_facts_found=[], abstained=True, latency_ms=30.0, kind="paraphrase"),
        dict(answerable=False, gold_sections=[], section_rank=None, first_citation_correct=False, key_facts=[],
             key_facts_found=[], abstained=True, latency_ms=20.0, kind="unanswerable"),
    ]
    s = summarise(rows)
    assert (s["hit@1"], s["hit@3"], s["hit@5"]) == (0.5, 0.5, 1.0)
    assert s["mrr@10"] == pytest.approx((1 + 1 / 4) / 2, abs=1e-4)
    assert s["first_citation_correct"] == 0.5
    assert s["key_fact_recall"] == pytest.approx(1 / 3, abs=1e-4)
    assert s["abstention_accuracy"] == pytest.approx(2 / 3, abs=1e-4)
    assert s["unanswerable_abstained"] == 1.0 and s["answerable_abstained"] == 0.5
    assert s["latency_ms_p50"] == 20.0
    assert s["citation_precision"] == 0.75  # abstained answers cite nothing and are left out


def test_bad_question_files_name_the_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "ok"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match=r"bad.jsonl:2"):
        load_questions(bad)
    bad.write_text('{"q": "no question key"}\n', encoding="utf-8")
    with pytest.raises(QuestionFileError, match='"question"'):
        load_questions(bad)


def test_shipped_question_sets_are_well_formed():
    for name in ("questions.jsonl", "dev_questions.jsonl"):
        questions = load_questions(REPO / "eval" / name)
        assert len(questions) >= 60 if name == "questions.jsonl" else len(questions) >= 50
        guide = (REPO / "seeds" / "ciso.md").read_text(encoding="utf-8")
        for q in questions:
            for heading in q.gold_sections:
                assert f"# {heading}\n" in guide, heading
            for fact in q.key_facts:
                assert fact in guide, fact
        kinds = {q.kind for q in questions}
        assert {"paraphrase", "english", "table", "followup", "unanswerable"} <= kinds


def test_evaluate_end_to_end_on_the_seed(seed_assistant, tmp_path):
    questions = load_questions(REPO / "eval" / "questions.jsonl")[:6]
    run = evaluate(seed_assistant, questions)
    assert len(run.results) == 6
    summary_path = run.save(tmp_path / "r.jsonl")
    saved = json.loads(summary_path.read_text(encoding="utf-8"))
    assert saved == run.summary and saved["questions"] == 6
    assert all(r["latency_ms"] > 0 for r in run.results)
