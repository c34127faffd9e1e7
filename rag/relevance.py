"""Do the guides answer this question? A fitted probability from retrieval and coverage evidence.

The abstention model of the calibration (logistic, fitted per embedding model by ``rag tune``)
reads :data:`~rag.fitting.features.QUESTION_FEATURES`: how well the best sections match, how
clearly the ranker preferred one, how sure the intent model is, which content terms of the
question the guides never use (from the index's vocabulary), and whether the question asks
how to become a role no guide mentions (:func:`known_role`). Below the fitted threshold the
assistant abstains.

Without a calibration (a model nobody has fitted yet) nothing here can judge the model's
scores, so only the role check abstains; :mod:`rag.assistant` warns and says what to run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .fitting.artifact import Calibration
from .fitting.features import QUESTION_FEATURES
from .index.snapshot import IndexSnapshot
from .normalization import fold
from .retrieval import Ranking, best_chunks
from .terms import Coverage, Term, TermExtractor, coverage

# "<role>になるには", "<role>に転職", "<role>として働く": the role is a run of kanji, katakana or
# Latin letters that ends like a job title (看護師, 弁護士, 研究者, 公務員, デザイナー, …).
_ROLE_SUFFIX = r"(?:師|士|者|員|家|官|手|医|職|人|ナー|ター|ニア|スト|ャー|マン|ラー|サー|ト|ン)"
_ROLE_QUESTION = re.compile(
    r"([\u4e00-\u9fff\u30a0-\u30ffA-Za-z0-9ー・]{1,24}" + _ROLE_SUFFIX + r")"
    r"(?:に|へ)(?:なる|なり|なれ|転職|就職|就き|つき)|"
    r"([\u4e00-\u9fff\u30a0-\u30ffA-Za-z0-9ー・]{1,24}" + _ROLE_SUFFIX + r")として(?:働|活躍|就職|転職)"
)

#: Sections whose scores describe "the best match" of a question.
TOP_SECTIONS = 3

# What kind of answer a question expects, from its interrogatives: a date, or an amount.
_ASKS_WHEN = re.compile(
    r"いつ|何月|何日|日程|締切|締め切り|^\s*when\b|\bwhen(?:'s| is| are| will| does| do| can| should)\b|\bdeadline|\bwhat date\b",
    re.IGNORECASE,
)
_ASKS_AMOUNT = re.compile(
    r"いくら|何円|何万|どれくらい|どのくらい|どれぐらい|どのぐらい|何年|何時間|何人|何割|何[%％]|頻度|"
    r"\bhow (?:much|many|long|often)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"[0-9０-９]|[一二三四五六七八九十百千万]+(?:年|円|時間|人|割|か月|ヶ月)")


def asks_amount(question: str) -> bool:
    """The question asks for an amount, a duration or a frequency (「何年」「いくら」, "how long")."""
    return bool(_ASKS_AMOUNT.search(question))


def holds_number(text: str) -> bool:
    """The text states a number (「2〜4年」「約400万円」「三年」)."""
    return bool(_NUMBER.search(text))


def roles_asked(text: str) -> set[str]:
    """Job titles a Japanese question asks how to become or work as (NFKC, lower case)."""
    return {fold(m.group(1) or m.group(2)) for m in _ROLE_QUESTION.finditer(text)}


# Endings that make the same job of a stem (「翻訳家」 is a 「翻訳者」).
_ROLE_ENDINGS = ("者", "家", "士", "師", "員", "官", "人")


def known_role(role: str, snapshot: IndexSnapshot) -> bool:
    """Some indexed guide speaks of ``role`` (folded): its text uses it, it is an indexed job with
    words before it (「正看護師」, 「将来機械学習エンジニア」), or it is the same stem with another
    job ending (「翻訳家」 where the guide says 「翻訳者」)."""
    texts = snapshot.folded_text.values()
    if any(role in t for t in texts):
        return True
    if any(role.endswith(name) for names in snapshot.guide_aliases for name in names if len(name) >= 2):
        return True
    stem = role[:-1]
    return role.endswith(_ROLE_ENDINGS) and len(stem) >= 2 and any(stem + e in t for e in _ROLE_ENDINGS for t in texts)


def used_anywhere(snapshot: IndexSnapshot, term: str) -> bool:
    """Some indexed guide uses ``term`` (folded): in its vocabulary or anywhere in its text.

    The missing-term decision feature reads the answering guide alone; a message that says
    「ガイドには『X』についての記載はありません」 must hold for every guide the reader can
    search (the question may have ranked another job's guide first)."""
    return any(term in words for words in snapshot.vocabulary.values()) or any(
        term in text for text in snapshot.folded_text.values()
    )


@dataclass(frozen=True)
class Judgement:
    """Whether to answer: the probability, the threshold, and the evidence behind them."""

    probability: float  # P(the guides answer the question)
    threshold: float
    features: dict[str, float]
    coverage: Coverage
    missing_roles: tuple[str, ...] = ()
    calibrated: bool = True
    forced: bool = False  # the reader asked about one section explicitly
    named: tuple[Term, ...] = ()  # missing terms worth naming when abstaining (「ビザ」「楽天」)

    @property
    def answer(self) -> bool:
        """True when the assistant should answer: likely enough, and no role asked about is missing."""
        return self.forced or (self.probability >= self.threshold and not self.missing_roles)


class RelevanceModel:
    """Computes question features and applies the calibration's abstention model."""

    def __init__(self, extractor: TermExtractor | None = None) -> None:
        self.extractor = extractor or TermExtractor()

    def features(
        self,
        snapshot: IndexSnapshot,
        question: str,
        language: str,
        ranking: Ranking,
        question_terms: frozenset[str] = frozenset(),
        scope: float = 0.0,
    ) -> tuple[np.ndarray, Coverage, tuple[str, ...]]:
        """The :data:`QUESTION_FEATURES` row, the term coverage and the missing roles."""
        ev = ranking.evidence
        top = ranking.order[:TOP_SECTIONS]
        values = dict.fromkeys(QUESTION_FEATURES, 0.0)
        if len(top):
            values["top_unit"] = float(ev.column("unit")[top].max())
            values["top_dense"] = float(ev.column("dense")[top].max())
            values["top_heading"] = float(ev.column("heading")[top].max())
            values["top_guide"] = float(ev.column("guide").max())
            if len(ranking.order) > 1:
                values["score_margin"] = float(ranking.scores[ranking.order[0]] - ranking.scores[ranking.order[1]])
        if ranking.intent is not None:
            values["intent_max"] = float(np.max(ranking.intent))
        values["scope"] = scope
        guide = snapshot.sections[int(ranking.sections[0])].guide if len(ranking.order) else ""
        cover = coverage(
            self.extractor.terms(question),
            snapshot.vocabulary.get(guide, frozenset()),
            snapshot.folded_text.get(guide, ""),
            english=language == "en",
            ignore=question_terms,
        )
        values["missing_share"] = cover.missing_share
        values["missing_foreign"] = float(bool(cover.missing_foreign))
        roles = tuple(r for r in sorted(roles_asked(question)) if not known_role(r, snapshot))
        # the guide is known: the question (or its conversation) names it, or only one guide is
        # searched (a one-guide collection, or the reader's filter)
        values["names_guide"] = float(bool(ranking.named) or len(ranking.guides) == 1)
        values["english"] = float(language == "en")
        values["asks_when"] = float(bool(_ASKS_WHEN.search(question)))
        values["asks_amount"] = float(asks_amount(question))
        if len(top):
            best = best_chunks(snapshot, ev)
            texts_top = [snapshot.chunks[best[int(s)]].text for s in ranking.sections[:TOP_SECTIONS] if int(s) in best]
            values["numbers_in_top"] = sum(holds_number(t) for t in texts_top) / max(len(texts_top), 1)
        for name in ("top_unit", "top_dense", "top_heading", "top_guide", "scope", "names_guide"):
            values[f"en_{name}"] = values[name] * values["english"]
        return np.array([values[f] for f in QUESTION_FEATURES]), cover, roles

    def judge(
        self,
        snapshot: IndexSnapshot,
        question: str,
        language: str,
        ranking: Ranking,
        calibration: Calibration | None,
        vector: np.ndarray,
    ) -> Judgement:
        """Answer or abstain, with the evidence."""
        terms = calibration.question_terms if calibration is not None else frozenset()
        scope = calibration.scope.logit(vector) if calibration is not None else 0.0
        row, cover, roles = self.features(snapshot, question, language, ranking, terms, scope)
        values = dict(zip(QUESTION_FEATURES, row.tolist()))
        career = calibration.vocabulary if calibration is not None else frozenset()
        worth = tuple(
            t for t in cover.missing
            if len(t.text) > 1 and (t.foreign or t.proper or t.text not in career) and not used_anywhere(snapshot, t.text)
        )
        names = {"named": worth}
        if calibration is None:
            probability = 0.0 if not len(ranking.order) else 1.0
            return Judgement(probability, 0.5, values, cover, roles, calibrated=False, **names)
        if not len(ranking.order):
            return Judgement(0.0, calibration.threshold, values, cover, roles, **names)
        x = row[[QUESTION_FEATURES.index(f) for f in calibration.abstention.features]]
        probability = float(calibration.abstention.probability(x[None, :])[0])
        return Judgement(probability, calibration.threshold, values, cover, roles, **names)
