"""Fit a calibration from labelled questions (``rag tune``) and measure it on held-out guides.

Protocol (leave-guides-out): every fitted part — section-type prototypes, the intent model,
the ranker's weights, the abstention model and its threshold — reads only the questions and
guides of the corpus's ``train`` split (plus extra question files and chat feedback when
given). Hyper-parameters (ridge penalties, the threshold) are chosen by leave-one-guide-out
cross-validation *inside* the training guides. The ``heldout`` guides and the product's seed
guide are only measured, before and after, with the full ``ask`` path.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..conversation import RetrievalQuery, retrieval_query
from ..evaluation import EvalQuestion, evaluate
from ..normalization import detect_language, fold
from ..retrieval import RERANK_FEATURE
from ..settings import Settings
from .artifact import Calibration
from .corpus import Corpus, data_hash
from .features import QUESTION_FEATURES, RANK_FEATURES, SectionEvidence, section_evidence
from .feedback_pairs import FeedbackPair, feedback_pairs
from .intent import SECTION_TYPES, IntentModel, ScopeModel, SectionTyper, template_type
from .linear import LinearModel, RankingGroup, fit_logistic, fit_ranker, fit_softmax_classifier
from .store import CalibrationStore

if TYPE_CHECKING:
    from ..assistant import Assistant
    from ..reranking import Reranker
    from ..embedding.embedder import Embedder
    from ..index.snapshot import IndexSnapshot

log = logging.getLogger("rag.fitting")

#: Ridge penalties tried by leave-one-guide-out cross-validation.
RANKER_L2 = (0.3, 3.0, 30.0)
INTENT_L2 = (0.01, 0.1, 1.0)
SCOPE_L2 = (1.0, 10.0, 100.0)
ABSTAIN_L2 = (0.3, 3.0, 30.0)
#: The abstention threshold keeps at most this share of answerable training questions unanswered
#: (leave-one-guide-out) and, within that, abstains on as many unanswerable ones as it can.
MAX_ANSWERABLE_ABSTAINED = 0.05
#: A term counts as a way of asking (not a topic) when answerable questions of this many
#: training guides use it.
COMMON_TERM_GUIDES = 3


@dataclass
class Sample:
    """One labelled question, embedded and matched against the fitting index."""

    question: EvalQuestion
    query: RetrievalQuery
    vector: np.ndarray
    keyword: np.ndarray
    guides: list[int]
    named: set[int]
    gold: set[int]  # acceptable sections (global indexes) in the target guide
    target: int  # target guide position, -1 when unknown
    language: str
    negative: set[int] = field(default_factory=set)  # sections a reader marked wrong (feedback)
    weight: float = 1.0

    @property
    def guide_key(self) -> str:
        """The guide a sample belongs to (for leave-one-guide-out folds)."""
        return self.question.target_guide or "?"


class FitSession:
    """Samples and features over one fitting index (an :class:`~rag.Assistant` on the corpus guides)."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.snapshot: IndexSnapshot = assistant.snapshot
        self.slugs = self.snapshot.layout.guide_slugs

    # -- samples ---------------------------------------------------------------------------------
    def gold_sections(self, q: EvalQuestion) -> set[int]:
        """Sections of the target guide whose heading path holds a gold heading."""
        wanted = {fold(g) for g in q.gold_sections}
        if not wanted:
            return set()
        target = q.target_guide or q.guide
        return {
            i
            for i, s in enumerate(self.snapshot.sections)
            if (not target or s.guide == target) and wanted & {fold(h) for h in s.heading_path}
        }

    def prepare(self, questions: Sequence[EvalQuestion], *, batch: int = 64) -> list[Sample]:
        """Embed and match every question (queries embedded in batches)."""
        assistant, snapshot = self.assistant, self.snapshot
        queries = [
            retrieval_query(assistant._clean(q.question), q.history, assistant.settings.history_turns) for q in questions
        ]
        texts = [part for query in queries for part in query.parts]
        vectors = np.concatenate(
            [assistant.embedder.embed_queries(texts[i : i + batch]) for i in range(0, len(texts), batch)]
        ) if texts else np.zeros((0, 1))
        samples: list[Sample] = []
        at = 0
        for q, query in zip(questions, queries):
            v = vectors[at : at + len(query.parts)].sum(axis=0)
            at += len(query.parts)
            v = (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)
            gold = self.gold_sections(q)
            if q.answerable and q.gold_sections and not gold:
                log.warning("question %s: no section of %s has the gold headings %s", q.id, q.target_guide, q.gold_sections)
            keyword, named, guides = assistant.retriever.gather(snapshot, query, v, q.guide)
            target = self.slugs.index(q.target_guide) if q.target_guide in self.slugs else -1
            samples.append(
                Sample(q, query, v, keyword, guides, named, gold, target, detect_language(q.question))
            )
        return samples

    def with_filter(self, sample: Sample, guide: str) -> Sample:
        """``sample`` asked with the guide filter ``guide`` (the same question vector)."""
        q = replace(sample.question, guide=guide, guide_selected=True)
        keyword, named, guides = self.assistant.retriever.gather(self.snapshot, sample.query, sample.vector, guide)
        return replace(sample, question=q, keyword=keyword, named=named, guides=guides)

    def evidence(self, sample: Sample, types: np.ndarray | None, intent: np.ndarray | None) -> SectionEvidence:
        """Section features of one sample under given section types and intent."""
        return section_evidence(
            self.snapshot, sample.vector, sample.keyword, sample.guides, named=sample.named, intent=intent, section_types=types
        )

    def question_row(
        self,
        sample: Sample,
        ev: SectionEvidence,
        scores: np.ndarray,
        intent: np.ndarray | None,
        question_terms: frozenset[str] = frozenset(),
        scope: float = 0.0,
    ) -> np.ndarray:
        """The abstention features of one sample, given its section scores."""
        from ..retrieval import Ranking

        order = np.argsort(-scores, kind="stable")
        ranking = Ranking(ev, scores, order, sample.guides, sample.named, intent)
        row, _, _ = self.assistant.relevance.features(
            self.snapshot, self.assistant._clean(sample.question.question), sample.language, ranking, question_terms, scope
        )
        return row

    def common_terms(self, samples: Sequence[Sample], min_guides: int = COMMON_TERM_GUIDES) -> frozenset[str]:
        """Terms used by answerable questions of at least ``min_guides`` different guides."""
        guides_of: dict[str, set[str]] = {}
        extractor = self.assistant.relevance.extractor
        for s in samples:
            if s.question.answerable and not s.negative:
                for term in extractor.terms(s.question.question):
                    guides_of.setdefault(term.text, set()).add(s.guide_key)
        return frozenset(t for t, g in guides_of.items() if len(g) >= min_guides)


# -- fitting ---------------------------------------------------------------------------------------
def _folds(samples: Sequence[Sample]) -> list[str]:
    return sorted({s.guide_key for s in samples})


def fit_typer(snapshot: IndexSnapshot, guides: Sequence[str]) -> SectionTyper:
    """Type prototypes from the template-numbered top-level headings of the training guides."""
    rows, labels = [], []
    for i, section in enumerate(snapshot.sections):
        if section.guide in guides and len(section.heading_path) == 1:
            t = template_type(section.heading_path[0])
            if t is not None:
                rows.append(snapshot.section_vectors[i])
                labels.append(t)
    if not rows:
        raise ValueError("no training guide has template-numbered top-level headings (1️⃣ … 🔟)")
    return SectionTyper.fit(np.asarray(rows, dtype=np.float32), np.asarray(labels))


def _intent_targets(samples: Sequence[Sample], types: np.ndarray) -> np.ndarray:
    t = np.zeros((len(samples), len(SECTION_TYPES)))
    for i, s in enumerate(samples):
        for section in s.gold:
            t[i, types[section]] += 1.0
        t[i] /= max(t[i].sum(), 1.0)
    return t


def fit_intent(samples: Sequence[Sample], types: np.ndarray, l2: float) -> IntentModel:
    """Multinomial logistic p(type | question vector) on the labelled answerable samples."""
    labelled = [s for s in samples if s.gold]
    x = np.stack([s.vector for s in labelled]).astype(np.float64)
    w, b = fit_softmax_classifier(x, _intent_targets(labelled, types), l2=l2)
    return IntentModel(w, b)


def out_of_fold_intent(
    samples: Sequence[Sample], types: np.ndarray, l2_grid: Sequence[float] = INTENT_L2
) -> tuple[float, dict[int, np.ndarray]]:
    """The ridge penalty with the best leave-one-guide-out log-likelihood, and each sample's
    intent from the model fitted without its guide."""
    folds = _folds(samples)
    best: tuple[float, float, dict[int, np.ndarray]] | None = None
    for l2 in l2_grid:
        probs: dict[int, np.ndarray] = {}
        loglik, count = 0.0, 0
        for guide in folds:
            train = [s for s in samples if s.guide_key != guide]
            model = fit_intent(train, types, l2)
            for i, s in enumerate(samples):
                if s.guide_key == guide:
                    p = model.probabilities(s.vector)
                    probs[i] = p
                    if s.gold:
                        t = _intent_targets([s], types)[0]
                        loglik += float(t @ np.log(p + 1e-12))
                        count += 1
        score = loglik / max(count, 1)
        if best is None or score > best[0]:
            best = (score, l2, probs)
    assert best is not None
    return best[1], best[2]


def _rerank_column(session: FitSession, sample: Sample, ev: SectionEvidence, scores: np.ndarray, rerank: Reranker) -> np.ndarray:
    from ..retrieval import rerank_column

    if not len(ev.sections):
        return np.zeros(0)
    return rerank_column(session.snapshot, sample.query.text, ev, scores, rerank)


def fit_scope(samples: Sequence[Sample], l2_grid: Sequence[float] = SCOPE_L2) -> tuple[ScopeModel, float, dict[int, float]]:
    """Logistic p(answerable | question vector); the penalty by leave-one-guide-out log-loss,
    and each sample's out-of-fold log-odds."""
    usable = [i for i, s in enumerate(samples) if not (s.negative and not s.gold)]
    x = np.stack([samples[i].vector for i in usable]).astype(np.float64)
    y = np.array([1.0 if samples[i].question.answerable else 0.0 for i in usable])
    keys = np.array([samples[i].guide_key for i in usable])
    names = [f"v{j}" for j in range(x.shape[1])]
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in l2_grid:
        oof = np.zeros(len(y))
        for guide in sorted(set(keys.tolist())):
            held = keys == guide
            model = fit_logistic(x[~held], y[~held], names, l2=l2)
            oof[held] = model.score(x[held])
        p = 1 / (1 + np.exp(-oof))
        loss = -float(np.mean(y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        if best is None or loss < best[0]:
            best = (loss, l2, oof)
    assert best is not None
    model = fit_logistic(x, y, names, l2=best[1])
    # fold the standardisation into plain weights: logit = v · w + b
    weights = model.weights / model.scale
    bias = model.bias - float(model.mean @ weights)
    return ScopeModel(weights, bias), best[1], {usable[k]: float(best[2][k]) for k in range(len(usable))}


def fit_shape(samples: Sequence[Sample], l2_grid: Sequence[float] = INTENT_L2) -> tuple[IntentModel | None, dict[str, Any]]:
    """The answer-shape classifier on the labelled ``shape`` of the training questions, with its
    leave-one-guide-out accuracy next to that of the interrogative rules."""
    from ..answers.shape import SHAPES, explicit_shape, shape_by_rules

    labelled = [s for s in samples if s.question.shape in SHAPES]
    if len({s.question.shape for s in labelled}) < 2:
        return None, {"questions": len(labelled)}
    x = np.stack([s.vector for s in labelled]).astype(np.float64)
    t = np.zeros((len(labelled), len(SHAPES)))
    for i, s in enumerate(labelled):
        t[i, SHAPES.index(s.question.shape)] = 1.0
    keys = np.array([s.guide_key for s in labelled])
    explicit = [explicit_shape(s.question.question) for s in labelled]
    best: tuple[float, float, float] | None = None
    for l2 in l2_grid:
        right = right_with_explicit = 0
        for guide in sorted(set(keys.tolist())):
            held = keys == guide
            w, b = fit_softmax_classifier(x[~held], t[~held], l2=l2)
            predicted = np.argmax(x[held] @ w.T + b, axis=1)
            truth = np.argmax(t[held], axis=1)
            right += int(np.sum(predicted == truth))
            for p, y, e in zip(predicted, truth, [e for e, h in zip(explicit, held) if h]):
                right_with_explicit += int((SHAPES.index(e) if e else p) == y)
        accuracy = right / len(labelled)
        if best is None or accuracy > best[0]:
            best = (accuracy, l2, right_with_explicit / len(labelled))
    assert best is not None
    w, b = fit_softmax_classifier(x, t, l2=best[1])
    rules = float(np.mean([shape_by_rules(s.question.question) == s.question.shape for s in labelled]))
    return IntentModel(w, b), {
        "questions": len(labelled),
        "l2": best[1],
        "cv_accuracy": round(best[0], 4),
        "cv_accuracy_with_explicit_format_words": round(best[2], 4),
        "rules_accuracy": round(rules, 4),
    }


def _groups(session: FitSession, samples: Sequence[Sample], types: np.ndarray | None, intents: dict[int, np.ndarray], columns: list[int]) -> list[tuple[int, RankingGroup, SectionEvidence]]:
    groups = []
    for i, s in enumerate(samples):
        if not (s.gold or s.negative):
            continue
        ev = session.evidence(s, types, intents.get(i))
        positive = np.isin(ev.sections, list(s.gold)) if s.gold else np.zeros(len(ev.sections), dtype=bool)
        negative = np.isin(ev.sections, list(s.negative)) if s.negative else None
        groups.append((i, RankingGroup(ev.x[:, columns], positive, negative, s.weight), ev))
    return groups


def _hit1(scores: np.ndarray, group: RankingGroup) -> float:
    """1.0 when the best of ``scores`` (one per candidate of ``group``) is acceptable; NaN when
    no candidate is."""
    if not group.positive.any():
        return float("nan")
    return float(group.positive[int(np.argmax(scores))])


def fit_ranking(
    groups: list[tuple[int, RankingGroup, SectionEvidence]],
    samples: Sequence[Sample],
    features: Sequence[str],
    l2_grid: Sequence[float] = RANKER_L2,
) -> tuple[LinearModel, float, dict[int, np.ndarray], dict[str, float], dict[str, float]]:
    """Choose the ridge penalty by leave-one-guide-out log-loss; return the final ranker, the
    penalty, out-of-fold scores per sample, and the cross-validated hit@1 and log-loss per
    penalty.

    Log-loss (the ranker's own objective: minus the log of the probability it gives the
    acceptable sections) and not hit@1 chooses: the ranker's probabilities are read downstream
    (a second part at a share of the first section's probability, the breadth model), and
    hit@1 over a few hundred questions ties or flips on two questions. On the 20 training
    guides of the default calibration hit@1 picked the largest penalty by one question (0.618
    against 0.617) whose probabilities were the flattest (log-loss 1.231 against 1.181).
    """
    folds = _folds(samples)
    results: dict[float, tuple[float, dict[int, np.ndarray], float]] = {}
    for l2 in l2_grid:
        hits: list[float] = []
        losses: list[float] = []
        oof: dict[int, np.ndarray] = {}
        for guide in folds:
            train = [g for i, g, _ in groups if samples[i].guide_key != guide]
            if not train:
                continue
            model = fit_ranker(train, features, l2=l2)
            for i, g, _ in groups:
                if samples[i].guide_key == guide:
                    oof[i] = model.score(g.x)
                    h = _hit1(oof[i], g)
                    if not np.isnan(h):
                        hits.append(h)
                        p = np.exp(oof[i] - oof[i].max())
                        losses.append(-float(np.log(p[g.positive].sum() / p.sum() + 1e-12)))
        results[l2] = (float(np.mean(hits)) if hits else 0.0, oof, float(np.mean(losses)) if losses else 0.0)
    l2 = min(results, key=lambda k: (results[k][2], -k))
    final = fit_ranker([g for _, g, _ in groups], features, l2=l2)
    return (
        final,
        l2,
        results[l2][1],
        {str(k): round(v[0], 4) for k, v in results.items()},
        {str(k): round(v[2], 4) for k, v in results.items()},
    )


def fit_breadth(
    session: FitSession,
    samples: Sequence[Sample],
    groups: list[tuple[int, RankingGroup, SectionEvidence]],
    scores: dict[int, np.ndarray],
    l2_grid: Sequence[float] = ABSTAIN_L2,
) -> tuple[LinearModel | None, dict[str, Any]]:
    """The breadth model (rag.answers.breadth) on the training questions whose first section
    (out-of-fold ranking) is a subsection; the penalty by leave-one-guide-out accuracy. Its
    accuracy is reported next to always answering the subsection alone."""
    from ..answers.breadth import BREADTH_FEATURES, breadth_row, broad_label

    heading = RANK_FEATURES.index("heading")
    rows, ys, keys = [], [], []
    for i, _, ev in groups:
        sample = samples[i]
        if not sample.gold or i not in scores:
            continue
        question = session.assistant._clean(sample.question.question)  # as the assistant reads it
        row = breadth_row(session.snapshot, ev.sections, scores[i], ev.x[:, heading], question)
        if row is None:
            continue
        rows.append(row)
        ys.append(float(bool(broad_label(session.snapshot, int(ev.sections[np.argmax(scores[i])]), sample.gold))))
        keys.append(sample.guide_key)
    y = np.asarray(ys)
    if len(set(ys)) < 2 or len(set(keys)) < 2:
        return None, {"questions": len(ys)}
    x, keys_arr = np.asarray(rows), np.asarray(keys)
    # the model is used as a classifier (widen at p >= 0.5), so the penalty is the one with the
    # best cross-validated accuracy (ties: the larger penalty), as the ranker's is chosen by hit@1
    results: dict[float, float] = {}
    for l2 in l2_grid:
        oof = np.zeros(len(y))
        for guide in sorted(set(keys)):
            held = keys_arr == guide
            if len(set(y[~held].tolist())) < 2:
                oof[held] = float(y[~held].mean())
                continue
            oof[held] = fit_logistic(x[~held], y[~held], BREADTH_FEATURES, l2=l2).probability(x[held])
        results[l2] = float(np.mean((oof >= 0.5) == (y == 1)))
    l2 = max(results, key=lambda k: (results[k], k))
    model = fit_logistic(x, y, BREADTH_FEATURES, l2=l2)
    return model, {
        "questions": len(y),
        "whole_section": round(float(y.mean()), 4),
        "l2": l2,
        "cv_accuracy": {str(k): round(v, 4) for k, v in results.items()},
        "cv_accuracy_subsection_alone": round(float(np.mean(y == 0)), 4),
        "weights": model.described(),
    }


def choose_threshold(p: np.ndarray, answerable: np.ndarray, max_abstained: float = MAX_ANSWERABLE_ABSTAINED) -> float:
    """The threshold that abstains on the most unanswerable questions while leaving at most
    ``max_abstained`` of the answerable ones unanswered (out-of-fold probabilities)."""
    candidates = np.unique(np.concatenate([p, [0.0, 1.0]]))
    best, best_key = 0.5, (-1.0, -1.0)
    for t in candidates:
        abstain = p < t
        ans_abst = float(abstain[answerable].mean()) if answerable.any() else 0.0
        unans_abst = float(abstain[~answerable].mean()) if (~answerable).any() else 0.0
        feasible = ans_abst <= max_abstained
        key = (float(feasible), unans_abst - ans_abst if feasible else -ans_abst)
        if key > best_key:
            best, best_key = float(t), key
    # halfway to the next probability up, so that a tie at the boundary is not decided by noise
    above = p[p >= best]
    below = p[p < best]
    if len(below) and len(above):
        return float((below.max() + above.min()) / 2)
    return best


@dataclass
class FitResult:
    """A fitted calibration and what cross-validation said about it."""

    calibration: Calibration
    report: dict[str, Any]


CLAIMS_FILE = "claims.jsonl"
#: Weight of accepting an unsupported claim against dropping a supported one.
FALSE_ACCEPT_COST = 2


def fit_claim_support(session: FitSession, path: Path) -> dict[str, Any]:
    """The cross-lingual claim-support threshold of this model, from labelled claims.

    Each line of ``path`` names a guide, a phrase that locates its passage, a claim and
    whether the passage supports it. Claims in another script than their passage, and that the
    identifier check lets through (an invented figure or name never reaches the similarity),
    are scored as the verifier scores them; the threshold minimises the errors with a false acceptance
    counted :data:`FALSE_ACCEPT_COST` times (a claim shown without support is worse than a
    supported one dropped: the extractive answer stands in).
    """
    from ..llm.verification import Evidence, cross_lingual_similarity, same_script, ungrounded_tokens

    if not Path(path).is_file():
        return {"claims": 0}
    snapshot, embedder = session.snapshot, session.assistant.embedder
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    scored: list[tuple[float, bool]] = []
    caught = 0  # claims the identifier check rejects before any similarity is computed
    for row in rows:
        chunk = next(
            (c for c in snapshot.chunks if c.guide == row.get("guide") and row.get("phrase", "\0") in c.text), None
        )
        if chunk is None or same_script(row["claim"], chunk.text):
            continue
        if ungrounded_tokens(row["claim"], chunk.text):
            caught += 1
            continue
        span = snapshot.units_of(chunk.id)
        units = np.asarray(snapshot.unit_vectors[span.start : span.stop]) if len(span) else np.zeros((0, 1))
        passage = embedder.embed_passages([chunk.text])[0]
        ev = Evidence(text=chunk.text, context=chunk.text, unit_vectors=units if len(units) else passage[None, :], vector=passage)
        claim = embedder.embed_queries([row["claim"]])[0]
        scored.append((cross_lingual_similarity(claim, ev), bool(row["supported"])))
    if len({s for _, s in scored}) < 2:
        return {"claims": len(scored), "rejected_by_identifier_check": caught}
    scores = np.array([s for s, _ in scored])
    labels = np.array([y for _, y in scored])
    candidates = np.unique(scores)
    errors = [
        int(np.sum((scores < t) & labels)) + FALSE_ACCEPT_COST * int(np.sum((scores >= t) & ~labels))
        for t in candidates
    ]
    best = candidates[int(np.argmin(errors))]
    below = scores[scores < best]
    threshold = float((below.max() + best) / 2) if len(below) else float(best)
    return {
        "claims": len(scored),
        "rejected_by_identifier_check": caught,
        "threshold": round(threshold, 4),
        "false_accepts": int(np.sum((scores >= threshold) & ~labels)),
        "false_rejects": int(np.sum((scores < threshold) & labels)),
        "supported_range": [round(float(scores[labels].min()), 4), round(float(scores[labels].max()), 4)],
        "unsupported_range": [round(float(scores[~labels].min()), 4), round(float(scores[~labels].max()), 4)],
    }


def fit_calibration(
    session: FitSession,
    train: Sequence[Sample],
    *,
    train_guides: Sequence[str],
    model_name: str,
    fingerprint: str,
    data: dict[str, Any],
    features: Sequence[str] = RANK_FEATURES,
    question_features: Sequence[str] = QUESTION_FEATURES,
    use_intent: bool = True,
    rerank: Reranker | None = None,
    filtered: Sequence[tuple[int, Sample]] = (),
) -> FitResult:
    """Fit every part on ``train`` (see the module docstring for the protocol).

    With ``rerank`` (a cross-encoder), a first ranker without it picks each question's top
    sections, the cross-encoder scores them, and the final ranker is fitted with its score as
    one more feature (``rerank``).
    """
    snapshot = session.snapshot
    started = time.perf_counter()
    typer = fit_typer(snapshot, train_guides)
    types = typer.types_of(snapshot.section_vectors)[snapshot.layout.section_parent]
    labelled = [s for s in train if s.gold]
    intent_l2, oof_intent = out_of_fold_intent(train, types)
    intent = fit_intent(labelled, types, intent_l2)
    if not use_intent:
        oof_intent = {}
    features = [f for f in features if f != RERANK_FEATURE]
    columns = [RANK_FEATURES.index(f) for f in features]
    groups = _groups(session, train, types, oof_intent, columns)
    ranker, ranker_l2, oof_scores, cv_hit1, cv_loss = fit_ranking(groups, train, features)
    base = ranker
    if rerank is not None:
        groups = [
            (i, replace(g, x=np.hstack([g.x, _rerank_column(session, train[i], ev, base.score(g.x), rerank)[:, None]])), ev)
            for i, g, ev in groups
        ]
        features = [*features, RERANK_FEATURE]
        ranker, ranker_l2, oof_scores, cv_hit1, cv_loss = fit_ranking(groups, train, features)
    by_kind: dict[str, list[float]] = {}
    for i, g, _ in groups:
        if i in oof_scores and not np.isnan(h := _hit1(oof_scores[i], g)):
            by_kind.setdefault(train[i].question.derived_kind, []).append(h)
    cv_by_kind = {k: {"n": len(v), "hit@1": round(float(np.mean(v)), 4)} for k, v in sorted(by_kind.items())}
    by_index = {i: ev for i, _, ev in groups}

    def section_scores(sample: Sample, ev: SectionEvidence) -> np.ndarray:
        x = ev.x[:, columns]
        if rerank is not None:
            x = np.hstack([x, _rerank_column(session, sample, ev, base.score(x), rerank)[:, None]])
        return ranker.score(x)

    shape, shape_report = fit_shape(train)
    # each ranked question's section scores: out of fold where the cross-validation gave them
    ranked_scores = {i: oof_scores[i] if i in oof_scores else ranker.score(g.x) for i, g, _ in groups}
    breadth, breadth_report = fit_breadth(session, train, groups, ranked_scores)

    # abstention: features from out-of-fold section scores and scope, for every training question
    scope, scope_l2, oof_scope = fit_scope(train)
    common = session.common_terms(train)
    rows, ys, keys = [], [], []
    # copies asked with a guide filter have the original's question vector, so its out-of-fold
    # intent and scope; their sections are scored by the final ranker (as unanswerable ones are)
    samples = [(i, s, i in by_index) for i, s in enumerate(train)] + [(i, s, False) for i, s in filtered]
    for i, s, ranked in samples:
        if s.negative and not s.gold:  # a disliked answer says nothing about answerability
            continue
        if ranked:
            ev = by_index[i]
            scores = ranked_scores[i]
        else:
            ev = session.evidence(s, types, oof_intent.get(i))
            scores = section_scores(s, ev)
        rows.append(session.question_row(s, ev, scores, oof_intent.get(i), common, oof_scope.get(i, 0.0)))
        ys.append(1.0 if s.question.answerable else 0.0)
        keys.append(s.guide_key)
    qcols = [QUESTION_FEATURES.index(f) for f in question_features]
    x = np.asarray(rows)[:, qcols]
    y = np.asarray(ys)
    w = np.ones(len(y))
    keys_arr = np.asarray(keys)
    best: tuple[float, float, np.ndarray] | None = None
    for l2 in ABSTAIN_L2:
        oof = np.zeros(len(y))
        for guide in sorted(set(keys)):
            held = keys_arr == guide
            model = fit_logistic(x[~held], y[~held], question_features, l2=l2, sample_weight=w[~held])
            oof[held] = model.probability(x[held])
        loss = -float(np.mean(y * np.log(oof + 1e-12) + (1 - y) * np.log(1 - oof + 1e-12)))
        if best is None or loss < best[0]:
            best = (loss, l2, oof)
    assert best is not None
    abstain_l2, oof_p = best[1], best[2]
    abstention = fit_logistic(x, y, question_features, l2=abstain_l2, sample_weight=w)
    threshold = choose_threshold(oof_p, y.astype(bool))
    cv_abstain = {
        "answerable_abstained": round(float((oof_p[y == 1] < threshold).mean()), 4) if (y == 1).any() else None,
        "unanswerable_abstained": round(float((oof_p[y == 0] < threshold).mean()), 4) if (y == 0).any() else None,
    }
    report = {
        "seconds": round(time.perf_counter() - started, 1),
        "train_questions": len(train),
        "ranked_questions": len(groups),
        "abstention_questions": len(y),
        "type_accuracy_train_guides": _type_accuracy(snapshot, typer, train_guides),
        "intent_l2": intent_l2,
        "ranker_l2": ranker_l2,
        "ranker_cv_hit@1": cv_hit1,
        "ranker_cv_logloss": cv_loss,
        "ranker_cv_hit@1_by_kind": cv_by_kind,
        "scope_l2": scope_l2,
        "shape": shape_report,
        "breadth": breadth_report,
        "abstain_l2": abstain_l2,
        "abstain_cv": cv_abstain,
        "threshold": round(threshold, 4),
        "common_question_terms": len(common),
        "ranker_weights": ranker.described(),
        "abstention_weights": abstention.described(),
    }
    calibration = Calibration(
        model=model_name,
        model_fingerprint=fingerprint,
        dimension=int(snapshot.manifest.dimension),
        ranker=ranker,
        abstention=abstention,
        threshold=threshold,
        typer=typer,
        intent=intent,
        scope=scope,
        shape=shape,
        breadth=breadth,
        reranker=rerank.name if rerank is not None else "",
        question_terms=common,
        vocabulary=frozenset().union(*(snapshot.vocabulary.get(g, frozenset()) for g in train_guides)),
        data=data,
        metrics={"cross_validation": {k: report[k] for k in ("ranker_cv_hit@1", "abstain_cv", "threshold")}},
    )
    return FitResult(calibration, report)


def _type_accuracy(snapshot: IndexSnapshot, typer: SectionTyper, guides: Sequence[str] | None = None) -> float:
    """Share of template-numbered top-level sections whose fitted type matches their number."""
    right = total = 0
    for i, section in enumerate(snapshot.sections):
        if len(section.heading_path) != 1 or (guides is not None and section.guide not in guides):
            continue
        t = template_type(section.heading_path[0])
        if t is None:
            continue
        total += 1
        right += int(typer.types_of(snapshot.section_vectors[i : i + 1])[0] == t)
    return round(right / total, 4) if total else 0.0


# -- the fitting index and the whole procedure -----------------------------------------------------
def fitting_guides_dir(settings: Settings, corpus: Corpus, fingerprint: str, *, with_seeds: bool) -> Path:
    """A folder of links to the corpus guides (and the product's guides, for feedback)."""
    folder = Path(settings.cache_dir) / "tune" / fingerprint / "guides"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    sources = [corpus.guides_dir] + ([Path(settings.seeds_dir)] if with_seeds else [])
    seen: set[str] = set()
    for source in sources:
        for path in sorted(Path(source).rglob("*.md")):
            real = path.resolve()
            if real.name in seen:
                continue
            seen.add(real.name)
            os.symlink(real, folder / real.name)
    return folder


def fitting_assistant(
    settings: Settings,
    corpus: Corpus,
    embedder: Embedder,
    *,
    with_seeds: bool = False,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> Assistant:
    """An assistant over the corpus guides (and the product's, ``with_seeds``) with its index in
    the cache, one per model fingerprint, built without a calibration."""
    from ..assistant import Assistant

    fingerprint = embedder.fingerprint
    guides_dir = fitting_guides_dir(settings, corpus, fingerprint, with_seeds=with_seeds)
    fit_settings = settings.replace(
        seeds_dir=guides_dir,
        index_dir=Path(settings.cache_dir) / "tune" / fingerprint / "index",
        auto_tune=False,
    )
    if say is not None:
        say(f"fitting index of {len(list(guides_dir.iterdir()))} guides with {settings.model} in {fit_settings.index_dir}")
    assistant = Assistant(fit_settings, embedder=embedder)
    assistant.refresh(progress=progress, calibrate=False)
    return assistant


@dataclass
class TuneReport:
    """What ``rag tune`` did: where the calibration went, and figures before and after."""

    calibration: Calibration
    saved_to: Path
    fit: dict[str, Any]
    before: dict[str, dict[str, Any]]
    after: dict[str, dict[str, Any]]


def tune(
    settings: Settings,
    corpus: Corpus,
    *,
    embedder: Embedder | None = None,
    extra_questions: Sequence[Path] = (),
    feedback: Path | None = None,
    out: Path | None = None,
    progress: bool = False,
    measure: bool = True,
    on_step: Callable[[str], None] | None = None,
) -> TuneReport:
    """Fit a calibration for ``settings.model`` on the corpus's training guides, measure it on
    the held-out guides and the seed guide (before and after), and save it.

    The calibration is saved to ``out`` or to the tuned calibrations of ``settings.data_dir``,
    where the next build of any index with this model picks it up.
    """
    from ..embedding.embedder import Embedder
    from ..evaluation import load_questions

    say = on_step or (lambda message: log.info("%s", message))
    embedder = embedder or Embedder.from_settings(settings)
    fingerprint = embedder.fingerprint
    assistant = fitting_assistant(settings, corpus, embedder, with_seeds=feedback is not None, progress=progress, say=say)
    session = FitSession(assistant)
    before_calibration = assistant.snapshot.calibration

    train_q = corpus.questions("train")
    extra: list[EvalQuestion] = []
    for path in extra_questions:
        extra.extend(load_questions(path))
    pairs: list[FeedbackPair] = feedback_pairs(feedback, assistant.snapshot) if feedback else []
    say(f"preparing {len(train_q) + len(extra) + len(pairs)} training questions")
    train = session.prepare([*train_q, *extra])
    for pair, sample in zip(pairs, session.prepare([p.question for p in pairs])):
        sample.gold, sample.negative = set(pair.positive), set(pair.negative)
        train.append(sample)

    files = corpus.files("train") + [Path(p) for p in extra_questions] + ([Path(feedback)] if feedback else [])
    if (corpus.root / CLAIMS_FILE).is_file():
        files.append(corpus.root / CLAIMS_FILE)
    data = {
        "hash": data_hash(files),
        "corpus": str(corpus.root),
        "train_guides": list(corpus.split["train"]),
        "validation_guides": list(corpus.split["validation"]),
        "heldout_guides": list(corpus.split["heldout"]),
        "files": [str(p) for p in files],
        "questions": len(train_q) + len(extra),
        "feedback_pairs": len(pairs),
    }
    # the abstention also learns from copies asked with a guide filter (the reader's choice, or
    # a collection of one guide): questions that guide cannot answer are typed there too
    filter_guides = corpus.guides("train")
    filtered = [
        (i, session.with_filter(train[i], guide))
        for i, q in enumerate(train_q)
        if (guide := corpus.filter_for(q, filter_guides))
    ]
    data["filtered_copies"] = len(filtered)
    say("fitting section types, intent, ranker and abstention (leave-one-guide-out)")
    result = fit_calibration(
        session,
        train,
        filtered=filtered,
        train_guides=corpus.split["train"],
        model_name=embedder.name,
        fingerprint=fingerprint,
        data=data,
        rerank=assistant.reranker,
    )
    claims = fit_claim_support(session, corpus.root / CLAIMS_FILE)
    result.report["claim_support"] = claims
    calibration = replace(result.calibration, claim_support=claims.get("threshold"))
    before: dict[str, dict[str, Any]] = {}
    after: dict[str, dict[str, Any]] = {}
    if measure:
        parts = {part: corpus.questions(part) for part in ("validation", "heldout", "seed", "offtopic")}
        parts["offtopic_filtered"] = corpus.with_filter(parts["offtopic"], corpus.guides("heldout"))
        for part, questions in parts.items():
            if not questions:
                continue
            say(f"measuring {len(questions)} {part} questions before and after")
            assistant.use_calibration(before_calibration)
            before[part] = evaluate(assistant, questions).summary
            assistant.use_calibration(calibration)
            after[part] = evaluate(assistant, questions).summary
        calibration = replace(
            calibration,
            metrics=calibration.metrics | {part: _headline(summary) for part, summary in after.items()},
        )
    target = out or CalibrationStore(settings.data_dir).tuned_folder(fingerprint, settings.reranker)
    calibration.save(target)
    (Path(target) / "report.json").write_text(
        json.dumps({"fit": result.report, "before": before, "after": after}, ensure_ascii=False, indent=2) + "\n",
        encoding="utf-8",
    )
    return TuneReport(calibration, Path(target), result.report, before, after)


HEADLINE = (
    "hit@1",
    "hit@5",
    "first_citation_correct",
    "guide@1",
    "unanswerable_abstained",
    "answerable_abstained",
    "key_fact_recall",
    "summary_cited",
)


def _headline(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in HEADLINE}
