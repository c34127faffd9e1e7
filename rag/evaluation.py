"""Batch evaluation over a JSONL question file: retrieval, citation, key-fact and abstention metrics."""

from __future__ import annotations

import json
import math
import re
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import RagError
from .normalization import fold

if TYPE_CHECKING:
    from .assistant import Assistant
    from .results import Answer, Hit


class QuestionFileError(RagError):
    """A question file cannot be read; the message names the line."""


#: Kinds reported by ``rag eval`` (derived from a question's labels when not given).
KINDS = ("direct", "paraphrase", "english", "follow-up", "table", "unanswerable")


@dataclass(frozen=True)
class EvalQuestion:
    """One line of a question file (see ``eval/corpus/README.md`` for the labels)."""

    question: str
    gold_sections: list[str] = field(default_factory=list)
    key_facts: list[str] = field(default_factory=list)
    answerable: bool = True
    history: list[Any] = field(default_factory=list)
    guide: str | None = None  # ask with this guide filter (the reader chose the guide)
    kind: str = ""
    id: str = ""
    target_guide: str = ""  # the guide the question is about (its gold sections are there)
    lang: str = ""
    shape: str = ""  # explanation, list, table or steps: what a good answer looks like
    answer_in: str = ""  # prose, list or table: where the guide holds the answer
    wording: str = ""  # direct (the guide's words) or paraphrase
    not_covered: list[str] = field(default_factory=list)  # parts of the question the guide leaves out
    asker: str = ""
    register: str = ""
    writer_expects: str = ""
    guide_selected: bool = False

    @property
    def derived_kind(self) -> str:
        """The kind reported: given, or unanswerable > follow-up > english > table > direct/paraphrase."""
        if self.kind:
            return self.kind
        if not self.answerable:
            return "unanswerable"
        if self.history:
            return "follow-up"
        if self.lang == "en":
            return "english"
        if self.answer_in == "table":
            return "table"
        return self.wording or "direct"


def load_questions(path: Path) -> list[EvalQuestion]:
    """Parse a JSONL question file; :class:`QuestionFileError` names the first bad line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError(f"cannot read question file {path}: {exc}") from None
    questions: list[EvalQuestion] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or not isinstance(record.get("question"), str):
            raise QuestionFileError(f'{path}:{number}: each line needs an object with a "question" string')
        known = {f for f in EvalQuestion.__dataclass_fields__}
        try:
            q = EvalQuestion(**{k: v for k, v in record.items() if k in known})
        except TypeError as exc:
            raise QuestionFileError(f"{path}:{number}: {exc}") from None
        if not isinstance(q.gold_sections, list) or not isinstance(q.key_facts, list):
            raise QuestionFileError(f"{path}:{number}: gold_sections and key_facts must be lists of strings")
        if not isinstance(q.history, list):
            raise QuestionFileError(f"{path}:{number}: history must be a list of earlier questions")
        questions.append(q)
    if not questions:
        raise QuestionFileError(f"question file {path} holds no questions")
    return questions


def _in_gold(heading_path: tuple[str, ...], wanted: set[str]) -> bool:
    """True when any heading of the path is one of the (folded) gold headings."""
    return bool(wanted & {fold(h) for h in heading_path})


def guide_rank(hits: Iterable[Hit], guide: str) -> int | None:
    """1-based rank of ``guide`` among the distinct guides of the hits, in order of first hit."""
    seen: list[str] = []
    for hit in hits:
        if hit.chunk.guide not in seen:
            seen.append(hit.chunk.guide)
            if hit.chunk.guide == guide:
                return len(seen)
    return None


def section_rank(hits: Iterable[Hit], gold: list[str], guide: str | None = None, depth: int = 10) -> int | None:
    """1-based rank of the first distinct section that matches a gold heading (None if absent)."""
    wanted = {fold(g) for g in gold}
    seen: list[tuple[str, tuple[str, ...]]] = []
    for hit in hits:
        key = (hit.chunk.guide, hit.chunk.heading_path)
        if key in seen:
            continue
        seen.append(key)
        if len(seen) > depth:
            return None
        if (guide is None or hit.chunk.guide == guide) and _in_gold(hit.chunk.heading_path, wanted):
            return len(seen)
    return None


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def evaluate_one(assistant: Assistant, q: EvalQuestion) -> dict[str, Any]:
    """Ask one question and score it."""
    hits = assistant.search(q.question, k=60, guide=q.guide, history=q.history)
    started = time.perf_counter()
    answer: Answer = assistant.ask(q.question, history=q.history, guide=q.guide)
    latency = (time.perf_counter() - started) * 1000
    target = q.target_guide or q.guide
    rank = section_rank(hits, q.gold_sections, target) if q.gold_sections else None
    wanted = {fold(g) for g in q.gold_sections}
    first = answer.citations[0] if answer.citations and not answer.abstained else None
    first_ok = bool(first and _in_gold(first.heading_path, wanted) and (not target or first.guide == target))
    cited = answer.citations if not answer.abstained else []
    cited_gold = sum(1 for c in cited if _in_gold(c.heading_path, wanted) and (not target or c.guide == target))
    text = fold(answer.text)
    facts_found = [f for f in q.key_facts if fold(f) in text] if not answer.abstained else []
    return {
        "id": q.id,
        "question": q.question,
        "kind": q.derived_kind,
        "target_guide": target or "",
        "filtered": bool(q.guide),
        "guide_rank": guide_rank(hits, target) if target and not q.guide else None,
        "history": q.history,
        "answerable": q.answerable,
        "gold_sections": q.gold_sections,
        "answer": answer.text,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "citations": [c.to_dict() for c in answer.citations],
        "top_hits": [h.to_dict() | {"text": h.chunk.text[:200]} for h in hits[:5]],
        "section_rank": rank,
        "first_citation_correct": first_ok,
        "citations_in_gold": cited_gold,
        "key_facts": q.key_facts,
        "key_facts_found": facts_found,
        "latency_ms": round(latency, 2),
        "summary_cited": any(_is_summary(c.heading_path) for c in cited),
        "shape_expected": q.shape,
        **({} if answer.abstained else answer_checks(answer)),
    }


_LABEL_LEAK = re.compile(r"(?:^|\n)(?:- |\d+\. )?(?:ガイドによると、)?[^\s:：/。、]{1,20}[:：] |No\.:|面接質問（技術）:")


def answer_checks(answer: Answer) -> dict[str, Any]:
    """Checks a program can make on an answer's body (the part above the sources)."""
    from .answers.prose import is_pointer
    from .rendering import answer_body

    body = answer_body(answer.text) if answer.citations else answer.text
    lines = [ln.strip() for ln in body.splitlines() if ln.strip()]
    content = [re.sub(r"\s*\[\d+\]$", "", re.sub(r"^(?:- |\d+\. )", "", ln)) for ln in lines]

    def announces_nothing(i: int) -> bool:
        """A pointer (「以下に…解説します。」, 「アクション:」) with no item or table after it."""
        following = lines[i + 1] if i + 1 < len(lines) else ""
        return not re.match(r"^(?:- |\d+\. |\|)", following)

    dangling = sum(
        1 for i, s in enumerate(content) if s and is_pointer(s) and not s.startswith("From the guides") and announces_nothing(i)
    )
    shown, total = answer.items
    return {
        "shape": answer.shape,
        "items_shown": shown,
        "items_total": total,
        "list_complete": (shown >= min(total, 15)) if total else None,
        "dangling_pointers": dangling,
        "label_leaks": len(_LABEL_LEAK.findall(body)),
        "duplicate_lines": len([s for s in content if s]) - len({s for s in content if s}),
        "answer_chars": len(body),
    }


def _is_summary(heading_path: tuple[str, ...]) -> bool:
    """True for the closing summary section of a template guide (🔟 まとめ)."""
    return bool(heading_path) and heading_path[0].startswith("🔟")


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate metrics over scored results."""
    answerable = [r for r in results if r["answerable"]]
    unanswerable = [r for r in results if not r["answerable"]]
    ranked = [r for r in answerable if r["gold_sections"]]

    counts: dict[str, tuple[int, int]] = {}

    def share(rows: list[dict[str, Any]], ok: Callable[[dict[str, Any]], bool], name: str = "") -> float:
        hits = sum(1 for r in rows if ok(r))
        if name and rows:
            counts[name] = (hits, len(rows))
        return round(hits / len(rows), 4) if rows else 0.0

    facts_total = sum(len(r["key_facts"]) for r in answerable)
    with_gold = [r for r in ranked if not r["abstained"]]
    cited_total = sum(len(r.get("citations", [])) for r in with_gold)
    cited_in_gold = sum(r.get("citations_in_gold", 0) for r in with_gold)
    facts_found = sum(len(r["key_facts_found"]) for r in answerable)
    latencies = [r["latency_ms"] for r in results]
    routed = [r for r in answerable if r.get("target_guide") and not r.get("filtered")]
    summary = {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit@1": share(ranked, lambda r: r["section_rank"] is not None and r["section_rank"] <= 1, "hit@1"),
        "hit@3": share(ranked, lambda r: r["section_rank"] is not None and r["section_rank"] <= 3, "hit@3"),
        "hit@5": share(ranked, lambda r: r["section_rank"] is not None and r["section_rank"] <= 5, "hit@5"),
        "mrr@10": round(statistics.fmean([1 / r["section_rank"] if r["section_rank"] else 0.0 for r in ranked]), 4)
        if ranked
        else 0.0,
        "first_citation_correct": share(answerable, lambda r: r["first_citation_correct"], "first_citation_correct"),
        "key_fact_recall": round(facts_found / facts_total, 4) if facts_total else 0.0,
        "citation_precision": round(cited_in_gold / cited_total, 4) if cited_total else 0.0,
        "abstention_accuracy": share(results, lambda r: r["abstained"] == (not r["answerable"])),
        "unanswerable_abstained": share(unanswerable, lambda r: r["abstained"], "unanswerable_abstained"),
        "answerable_abstained": share(answerable, lambda r: r["abstained"], "answerable_abstained"),
        # None when no question names its target guide (a file asked outside the corpus)
        "guide@1": share(routed, lambda r: r.get("guide_rank") == 1, "guide@1") if routed else None,
        **_answer_check_summary([r for r in answerable if not r["abstained"]]),
        "summary_cited": share(results, lambda r: r.get("summary_cited", False)),
        "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 2),
        # how far each share could move by chance: 95 % Wilson interval and the questions counted
        "interval95": {name: [*wilson(k, n), n] for name, (k, n) in counts.items()},
    }
    for key, field_name in (("by_kind", "kind"), ("by_guide", "target_guide")):
        values = sorted({r.get(field_name) or "" for r in results} - {""})
        if len(values) > (0 if key == "by_kind" else 1):
            summary[key] = {value: _brief([r for r in results if r.get(field_name) == value]) for value in values}
    return summary


def wilson(hits: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a share ``hits / total`` (95 % for the default ``z``)."""
    if total <= 0:
        return (0.0, 1.0)
    p = hits / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return (round(max(0.0, centre - half), 3), round(min(1.0, centre + half), 3))


def _answer_check_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The program checks over answered questions."""
    if not rows:
        return {}
    lists = [r for r in rows if r.get("list_complete") is not None]
    asked_list = [r for r in rows if r.get("shape_expected") in ("list", "steps", "table")]
    return {
        "list_complete": round(sum(bool(r["list_complete"]) for r in lists) / len(lists), 4) if lists else None,
        "list_questions_answered_as_lists": round(
            sum(r.get("shape") in ("list", "steps", "table") for r in asked_list) / len(asked_list), 4
        ) if asked_list else None,
        "answers_with_dangling_pointers": sum(1 for r in rows if r.get("dangling_pointers")),
        "answers_with_label_leaks": sum(1 for r in rows if r.get("label_leaks")),
        "answers_with_duplicate_lines": sum(1 for r in rows if r.get("duplicate_lines")),
        "answer_chars_p50": round(_percentile([float(r.get("answer_chars", 0)) for r in rows], 0.5)),
    }


def _brief(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures of a subset of results."""
    answerable = [r for r in rows if r["answerable"]]
    ranked = [r for r in answerable if r["gold_sections"]]

    def share(subset: list[dict[str, Any]], ok: Callable[[dict[str, Any]], bool]) -> float | None:
        return round(sum(1 for r in subset if ok(r)) / len(subset), 3) if subset else None

    return {
        "n": len(rows),
        "hit@1": share(ranked, lambda r: r["section_rank"] == 1),
        "hit@5": share(ranked, lambda r: r["section_rank"] is not None and r["section_rank"] <= 5),
        "first_citation": share(answerable, lambda r: r["first_citation_correct"]),
        "answerable_abstained": share(answerable, lambda r: r["abstained"]),
        "unanswerable_abstained": share([r for r in rows if not r["answerable"]], lambda r: r["abstained"]),
    }


@dataclass(frozen=True)
class EvalRun:
    """Per-question results and the summary."""

    results: list[dict[str, Any]]
    summary: dict[str, Any]

    def save(self, out: Path) -> Path:
        """Write results as JSONL to ``out`` and the summary beside it; returns the summary path."""
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "w", encoding="utf-8") as handle:
            for row in self.results:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        summary_path = out.with_name(out.stem + ".summary.json")
        summary_path.write_text(json.dumps(self.summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return summary_path


def evaluate(
    assistant: Assistant, questions: list[EvalQuestion], *, on_result: Callable[[dict[str, Any]], None] | None = None
) -> EvalRun:
    """Score every question (a warm-up question first, so the model load is not timed)."""
    assistant.search("warm-up", k=1)
    results = []
    for q in questions:
        row = evaluate_one(assistant, q)
        results.append(row)
        if on_result:
            on_result(row)
    return EvalRun(results, summarise(results))


def format_summary(summary: dict[str, Any]) -> str:
    """Human-readable lines of a summary."""
    keys = [k for k in summary if k not in ("by_kind", "by_guide", "interval95")]
    intervals = summary.get("interval95", {})

    def line(key: str) -> str:
        text = f"{key:>24}: {summary[key]}"
        if key in intervals:
            low, high, n = intervals[key]
            text += f"   (95 % {low:.3f}–{high:.3f}, {n} questions)"
        return text

    lines = [line(k) for k in keys]
    for key, label in (("by_kind", "kind"), ("by_guide", "guide")):
        for name, row in summary.get(key, {}).items():
            lines.append(f"{label + ' ' + name:>24}: {json.dumps(row, ensure_ascii=False)}")
    return "\n".join(lines)


__all__ = ["EvalQuestion", "EvalRun", "QuestionFileError", "evaluate", "load_questions", "summarise"]
