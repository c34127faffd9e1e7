"""Generated answers: stream a model's reply, keep only claims its cited passages support.

:class:`LLMAnswerer` is what :class:`rag.assistant.Assistant` calls when a model server is
configured. It never raises and never hangs: any failure (server down, HTTP error, timeout,
a reply that never ends, garbage) ends in the extractive answer with a ``notice``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ..answers import TEXT, AnswerContext, ExtractiveAnswerer
from ..conversation import Message
from ..errors import LLMError
from ..normalization import clean_question, fold
from ..results import Answer, Citation
from ..settings import LLMSettings
from .client import ChatClient
from .prompt import NOT_COVERED, Passage, answer_messages, rewrite_messages, select_passages
from .verification import (
    Claim,
    Evidence,
    StreamSanitizer,
    looks_like_injection,
    needs_embedding,
    overlap,
    sanitize,
    split_claims,
    strip_reasoning,
    verify_claims,
)

log = logging.getLogger("rag.llm")

#: Upper bound of the follow-up rewrite (it delays retrieval, so it must be quick).
REWRITE_BUDGET_S = 8.0
REWRITE_MAX_TOKENS = 120
#: Quotes kept per cited section.
MAX_QUOTES = 2

_NOT_COVERED = re.compile(
    r"(?i)(do(?:es)?\s*(?:not|n't)\s+(?:seem\s+to\s+)?(?:cover|answer|mention|contain|say)|not\s+covered|no\s+information"
    r"|記載がありません|記載されていません|書かれていません|含まれていません|見当たりません|情報がありません|触れられていません)"
)
_REWRITE_LABEL = re.compile(r"(?i)^(?:standalone\s+question|rewritten\s+question|question|query|質問|書き換え)\s*[:：]\s*")


def unavailable_notice(reason: str) -> str:
    """The notice shown when the extractive answer stands in for a generated one."""
    return f"LLM unavailable ({reason}); showing the extractive answer"


UNVERIFIED_NOTICE = "LLM answer could not be verified against the guides; showing the extractive answer"


def says_not_covered(text: str) -> bool:
    """True when the reply states that the guides do not answer the question."""
    folded = fold(text)
    return any(fold(p) in folded for p in NOT_COVERED.values()) or bool(_NOT_COVERED.search(text))


class LLMAnswerer:
    """Cited answers written by an OpenAI-compatible model, verified against the passages."""

    def __init__(self, settings: LLMSettings, embedder: Any) -> None:
        self.settings = settings
        self.embedder = embedder
        self.client = ChatClient(settings)
        self._abstainer = ExtractiveAnswerer()

    # -- follow-up questions ----------------------------------------------------------------
    def rewrite(self, question: str, history: Sequence[Message | str] | None) -> str | None:
        """``question`` rewritten as a standalone question, or None on any failure (bounded time)."""
        try:
            reply = self.client.complete(
                rewrite_messages(question, history),
                max_tokens=REWRITE_MAX_TOKENS,
                temperature=0.0,
                budget_s=min(self.settings.timeout_s, REWRITE_BUDGET_S),
            )
        except LLMError as exc:
            log.warning("follow-up rewrite skipped: %s", exc)
            return None
        except Exception:  # noqa: BLE001 - a rewrite is an optimisation, never an error
            log.exception("follow-up rewrite failed")
            return None
        lines = [ln.strip() for ln in strip_reasoning(reply).splitlines() if ln.strip()]
        if not lines:
            return None
        text = _REWRITE_LABEL.sub("", lines[0]).strip().strip("\"'`「」『』“”").strip()
        text = clean_question(re.sub(r"[<>]", " ", text))
        if not text or len(text) > max(300, 4 * len(question)) or looks_like_injection(text):
            return None
        return text

    # -- answers ----------------------------------------------------------------------------
    def stream(self, ctx: AnswerContext, extractive: Answer) -> Iterator[str | Answer]:
        """Yield sanitised text pieces as they arrive, then exactly one final :class:`Answer`."""
        whole = None
        if ctx.shape in ("list", "steps", "table") and ctx.ranking is not None and len(ctx.ranking.order):
            index = int(ctx.ranking.sections[0])
            whole = (index, ctx.snapshot.sections[index])
        passages = select_passages(ctx.hits, ctx.snapshot.guides, whole_section=whole)
        if not passages:
            yield from self._fallback(extractive, "nothing to answer from")
            return
        messages = answer_messages(ctx.question, ctx.query, ctx.language, passages, ctx.shape)
        sanitizer = StreamSanitizer()
        raw: list[str] = []
        try:
            for piece in self.client.stream(messages):
                raw.append(piece)
                safe = sanitizer.feed(piece)
                if safe:
                    yield safe
            rest = sanitizer.flush()
            if rest:
                yield rest
        except LLMError as exc:
            reason = getattr(exc, "reason", str(exc))
            log.warning("generation failed, using the extractive answer: %s", exc)
            yield from self._fallback(extractive, reason)
            return
        except Exception as exc:  # noqa: BLE001 - never raise to the caller
            log.exception("generation failed unexpectedly")
            yield from self._fallback(extractive, type(exc).__name__)
            return
        try:
            answer = self.finish(ctx, extractive, passages, "".join(raw))
        except Exception:  # noqa: BLE001 - verification trouble must not lose the answer
            log.exception("verifying the generated answer failed")
            answer = replace(extractive, notice=UNVERIFIED_NOTICE)
        yield answer

    def _fallback(self, extractive: Answer, reason: str) -> Iterator[str | Answer]:
        for line in extractive.text.splitlines(keepends=True):
            yield line
        yield replace(extractive, notice=unavailable_notice(reason))

    def finish(self, ctx: AnswerContext, extractive: Answer, passages: list[Passage], reply: str) -> Answer:
        """The verified answer for a complete ``reply`` (or the abstention / extractive fallback)."""
        text = sanitize(strip_reasoning(reply))
        claims = split_claims(text)
        evidence = self._evidence(ctx, passages)
        vectors = self._claim_vectors(claims, evidence, passages)
        calibration = ctx.snapshot.calibration
        threshold = calibration.claim_support if calibration is not None else None
        kept = verify_claims(claims, evidence, vectors, threshold)
        for claim in claims:
            if claim not in kept:
                log.info("dropped claim %r (cited %s, scores %s)", claim.text[:80], claim.cited, claim.scores)
        if not kept:
            if says_not_covered(text):
                abstained = self._abstainer.abstain(ctx.snapshot, ctx.hits, ctx.language)
                return replace(abstained, generated=True, confidence=ctx.confidence)
            return replace(extractive, notice=UNVERIFIED_NOTICE)
        return self._compose(ctx, passages, kept)

    # -- verification inputs ------------------------------------------------------------------
    def _evidence(self, ctx: AnswerContext, passages: list[Passage]) -> dict[int, Evidence]:
        snapshot = ctx.snapshot
        evidence: dict[int, Evidence] = {}
        for p in passages:
            span = snapshot.units_of(p.chunk.id) if snapshot.chunk_units else range(0)
            vectors = np.asarray(snapshot.unit_vectors[span.start : span.stop]) if len(span) else np.zeros((0, 1))
            # Lines that read like injected instructions are no evidence: what they say (a canary,
            # a URL, "output X") can never verify a claim, even when the claim cites them.
            text = "\n".join(ln for ln in p.chunk.text.splitlines() if not looks_like_injection(ln))
            evidence[p.number] = Evidence(text=text, context=f"{text}\n{p.path}", unit_vectors=vectors)
        return evidence

    def _claim_vectors(
        self, claims: list[Claim], evidence: dict[int, Evidence], passages: list[Passage]
    ) -> dict[int, np.ndarray]:
        """Query embeddings of the claims that only embeddings can check (and their passages')."""
        need = [i for i, c in enumerate(claims) if needs_embedding(c, evidence)]
        if not need:
            return {}
        cited = sorted({n for i in need for n in claims[i].cited if n in evidence})
        passage_vectors = self.embedder.embed_passages([evidence[n].text for n in cited])
        for n, vector in zip(cited, passage_vectors):
            ev = evidence[n]
            if not len(ev.unit_vectors) or ev.unit_vectors.shape[1] != len(vector):
                ev = replace(ev, unit_vectors=vector[None, :])
            evidence[n] = replace(ev, vector=vector)
        claim_vectors = self.embedder.embed_queries([claims[i].text for i in need])
        return dict(zip(need, claim_vectors))

    # -- the final answer ---------------------------------------------------------------------
    def _best_quote(self, ctx: AnswerContext, passage: Passage, claim: str) -> str:
        """The passage sentence closest to ``claim`` (bigram overlap), for the citation's quote."""
        snapshot = ctx.snapshot
        span = snapshot.units_of(passage.chunk.id) if snapshot.chunk_units else range(0)
        units = [snapshot.units[i].text for i in span]
        if not units:
            body = " ".join(passage.chunk.text.split())
            return body if len(body) <= 200 else body[:200] + "…"
        return max(units, key=lambda u: overlap(claim, u))

    def _compose(self, ctx: AnswerContext, passages: list[Passage], kept: list[Claim]) -> Answer:
        labels = TEXT.get(ctx.language, TEXT["ja"])
        by_number = {p.number: p for p in passages}
        numbers: dict[int, int] = {}  # section index -> final citation number
        quotes: dict[int, list[str]] = {}
        lines: list[tuple[str, list[str]]] = []  # (prefix, sentences) per output line
        current_line = None
        for claim in kept:
            marks: list[int] = []
            for n in claim.supported:
                passage = by_number[n]
                section = passage.chunk.section
                number = numbers.setdefault(section, len(numbers) + 1)
                if number not in marks:
                    marks.append(number)
                quote = self._best_quote(ctx, passage, claim.text)
                bucket = quotes.setdefault(section, [])
                if quote not in bucket and len(bucket) < MAX_QUOTES:
                    bucket.append(quote)
            sentence = claim.text + " " + "".join(f"[{m}]" for m in marks)
            if current_line != claim.line:
                lines.append((claim.prefix, []))
                current_line = claim.line
            lines[-1][1].append(sentence)
        body = ""
        for i, (prefix, sentences) in enumerate(lines):
            if i:
                body += "\n" if prefix and lines[i - 1][0] else "\n\n"
            body += prefix + " ".join(sentences)
        citations: list[Citation] = []
        for section_index, number in numbers.items():
            section = ctx.snapshot.sections[section_index]
            guide = ctx.snapshot.guides.get(section.guide)
            citations.append(
                Citation(
                    number=number,
                    guide=section.guide,
                    guide_label=guide.label if guide is not None else section.guide,
                    heading_path=section.heading_path,
                    quote=" ".join(quotes.get(section_index, [])),
                    line_start=section.line_start,
                    line_end=section.line_end,
                    section_text=section.text,
                )
            )
        out = [body, "", labels["sources"], ""]
        for c in citations:
            out.append(f"[{c.number}] {c.path}（{labels['lines']} {c.line_start}–{c.line_end}）")
            out.append(f"> {c.quote}")
            out.append("")
        return Answer(
            text="\n".join(out).rstrip() + "\n",
            citations=citations,
            abstained=False,
            language=ctx.language,
            hits=ctx.hits,
            notice="",
            generated=True,
            confidence=ctx.confidence,
        )
