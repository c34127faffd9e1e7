"""Batch evaluation: question files, section ranks and the summary metrics."""

from __future__ import annotations

import json

import pytest

from rag.documents import Chunk
from rag.evaluation import QuestionFileError, evaluate, format_summary, load_questions, section_rank, summarise, wilson
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
    low, high, n = s["interval95"]["hit@1"]
    assert n == 2 and low < 0.5 < high  # two questions say little
    assert s["interval95"]["unanswerable_abstained"][2] == 1 and "guide@1" not in s["interval95"]
    assert "(95 % " in format_summary(s).splitlines()[3]  # printed beside hit@1


def test_wilson_interval_matches_the_textbook_values():
    assert wilson(0, 10) == (0.0, 0.278)
    assert wilson(10, 10) == (0.722, 1.0)
    low, high = wilson(140, 197)  # a held-out hit@1 of 0.711
    assert (low, high) == (0.644, 0.769)


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


def test_a_judged_round_shows_readers_only_changed_answers_and_carries_the_rest(tmp_path):
    """scripts/judge_round.py: changed answers go to the readers blind (A/B, key kept apart);
    the folder gets their verdicts, identical answers carry the previous folder's."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("judge_round", REPO / "scripts" / "judge_round.py")
    judge_round = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(judge_round)

    def run(prefix, answers):
        for split in ("heldout", "seed"):
            rows = [
                {"id": qid, "question": f"q {qid}", "history": [], "answer": text}
                for qid, text in answers.items()
                if qid.startswith("ciso") == (split == "seed")
            ]
            (tmp_path / f"{prefix}-{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(tmp_path / prefix)

    before = run("before", {"nurse-001": "same", "nurse-002": "old", "ciso-001": "same too"})
    after = run("after", {"nurse-001": "same", "nurse-002": "new", "ciso-001": "same too"})
    previous = tmp_path / "previous"
    previous.mkdir()
    items = {q: {"A": "after", "B": "before", "guide": q.rsplit("-", 1)[0]} for q in ("nurse-001", "nurse-002", "ciso-001")}
    (previous / "key.json").write_text(json.dumps({"items": items}))
    (previous / "nurse.jsonl").write_text(
        json.dumps({"id": "nurse-001", "answerable": True, "A": "GOOD", "B": "PARTIAL"}) + "\n"
        + json.dumps({"id": "nurse-002", "answerable": True, "A": "WRONG", "B": "WRONG"}) + "\n"
    )
    (previous / "ciso.jsonl").write_text(json.dumps({"id": "ciso-001", "answerable": False, "A": "ABSTAIN_OK", "B": "ABSTAIN_OK"}) + "\n")

    round_dir = tmp_path / "round"
    assert judge_round.main(["prepare", str(round_dir), after, before, "--guides-dir", str(REPO / "eval" / "guides")]) == 0
    shown = [json.loads(line) for line in (round_dir / "nurse.jsonl").read_text().splitlines()]
    assert [r["id"] for r in shown] == ["nurse-002"] and {shown[0]["A"], shown[0]["B"]} == {"old", "new"}
    assert not (round_dir / "ciso.jsonl").exists()  # nothing changed there
    brief = (round_dir / "brief_nurse.md").read_text()
    assert "ANSWERED_UNANSWERABLE" in brief and "nurse.verdicts.jsonl" in brief and "nurse.md" in brief
    assert "after" not in brief and "before" not in brief  # the reader is not told which answer is new
    key = json.loads((tmp_path / "round_key.json").read_text())
    new_slot = "A" if key["nurse-002"]["A"] == "after" else "B"

    out = tmp_path / "out"
    assert judge_round.main(["assemble", str(round_dir), after, str(previous), str(out), "--after", "x", "--before", "y"]) == 1
    verdict = {"id": "nurse-002", "answerable": True, "A": "PARTIAL", "B": "PARTIAL", "reason_A": "", "reason_B": ""}
    verdict[new_slot] = "GOOD"
    (round_dir / "nurse.verdicts.jsonl").write_text(json.dumps(verdict) + "\n")
    assert judge_round.main(["assemble", str(round_dir), after, str(previous), str(out), "--after", "x", "--before", "y"]) == 0
    rows = {json.loads(line)["id"]: json.loads(line) for f in out.glob("*.jsonl") for line in f.read_text().splitlines()}
    record = json.loads((out / "key.json").read_text())["items"]
    slot = {q: "A" if record[q]["A"] == "after" else "B" for q in record}
    assert rows["nurse-002"][slot["nurse-002"]] == "GOOD" and not rows["nurse-002"]["carried"]
    assert rows["nurse-001"][slot["nurse-001"]] == "GOOD" and rows["nurse-001"]["carried"]  # the previous "after"
    assert rows["ciso-001"]["A"] == "ABSTAIN_OK" and rows["ciso-001"][f"sha_{slot['ciso-001']}"] == judge_round.sha("same too")
