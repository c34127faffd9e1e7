"""Do the guides answer this question? A calibrated confidence from retrieval evidence.

Two checks decide:

* **Topic**: the best sentence or table row of the top chunks must be close enough to the
  question. Unrelated questions (weather, recipes, hobbies) fall below. The midpoint depends on
  the question's language, because Japanese questions against Japanese guides score higher
  cosines across the board, related or not. Each sits just above the closest unrelated question
  of that language in ``eval/dev_questions.jsonl``: answer whatever matches better than any
  known unrelated question.
* **Aspect coverage**: questions about a concrete aspect that career guides often leave out
  (pay, working hours, remote work, age, degrees, dress code, fees, job-market numbers) are
  answered only if the retrieved passages mention that aspect at all. Otherwise a salary
  question would be "answered" with the closest passage about the role in general.
* **Role coverage**: a Japanese question about becoming or working as a named role
  (「看護師になるには」) is answered only if some indexed guide mentions that role. Otherwise
  the study advice of the CISO guide would be offered to a future nurse.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from .index.snapshot import IndexSnapshot
from .normalization import detect_language, fold
from .results import Hit

#: Terms that name an aspect; a question using one needs passages that use one too.
ASPECTS: dict[str, tuple[str, ...]] = {
    "pay": (
        "年収", "給与", "給料", "月収", "収入", "賞与", "ボーナス", "手取り", "時給", "初任給", "万円",
        "salary", "salaries", "paid", "income", "compensation", "wage", "bonus", "earn",
    ),
    "hours": (
        "残業", "労働時間", "勤務時間", "夜勤", "休日出勤", "呼び出", "定時", "有給", "休暇", "激務", "休み",
        "overtime", "working hours", "work hours", "night shift", "on-call", "on call", "vacation", "holidays",
    ),
    "place": (
        "リモート", "在宅", "テレワーク", "出社", "通勤", "転勤", "勤務地",
        "remote", "work from home", "commute", "relocate", "relocation",
    ),
    "age": ("年齢", "歳", "age limit", "years old", "too old", "how old"),
    "degree": ("学位", "学歴", "大卒", "大学", "修士", "博士", "degree", "university", "college", "bachelor", "phd"),
    "dress": ("服装", "スーツ", "私服", "ビジネスカジュアル", "dress", "suit", "attire", "outfit"),
    "fees": ("受験料", "受講料", "学費", "料金", "費用", "値段", "fee", "fees", "cost", "price", "tuition"),
    "market": (
        "求人", "倍率", "男女比", "女性", "何人", "人数", "離職率", "転職エージェント", "エージェント",
        "job openings", "openings", "how many", "percentage", "women", "recruiter", "agency",
    ),
    "balance": ("ワークライフ", "プライベート", "work-life", "work life"),
    "language": ("toeic", "toefl", "英検", "英語力", "語学", "english skills", "english score"),
    "employers": ("社名", "企業名", "会社名", "company names", "which companies are hiring"),
}
_ASCII = re.compile(r"^[a-z0-9 .'-]+$")

# "<role>になるには", "<role>に転職", "<role>として働く": the role is a run of kanji, katakana or
# Latin letters that ends like a job title (看護師, 弁護士, 研究者, 公務員, デザイナー, …).
_ROLE_SUFFIX = r"(?:師|士|者|員|家|官|手|医|職|人|ナー|ター|ニア|スト|ャー|マン|ラー|サー|ト|ン)"
_ROLE_QUESTION = re.compile(
    r"([\u4e00-\u9fff\u30a0-\u30ffA-Za-z0-9ー・]{1,24}" + _ROLE_SUFFIX + r")"
    r"(?:に|へ)(?:なる|なり|なれ|転職|就職|就き|つき)|"
    r"([\u4e00-\u9fff\u30a0-\u30ffA-Za-z0-9ー・]{1,24}" + _ROLE_SUFFIX + r")として(?:働|活躍|就職|転職)"
)


def roles_asked(text: str) -> set[str]:
    """Job titles a Japanese question asks how to become or work as (NFKC, lower case)."""
    return {fold(m.group(1) or m.group(2)) for m in _ROLE_QUESTION.finditer(text)}


# Topic check: logistic around a best-sentence cosine (multilingual-e5-small scale): the highest
# cosine of an unrelated development question plus 0.001 (Japanese 0.8283, English 0.8221; the
# hardest answerable ones score 0.8408 and 0.8304).
TOPIC_MIDPOINTS = {"ja": 0.8293, "en": 0.8231}
TOPIC_SCALE = 0.003


def _term_pattern(term: str) -> re.Pattern[str]:
    if _ASCII.match(term):  # Latin word start, also right after Japanese text ("必要なtoeic")
        return re.compile(rf"(?<![a-z0-9]){re.escape(term)}")
    return re.compile(re.escape(term))


_PATTERNS = {aspect: [_term_pattern(t) for t in terms] for aspect, terms in ASPECTS.items()}


def aspects_of(text: str) -> set[str]:
    """Aspects whose terms occur in ``text``."""
    folded = fold(text)
    return {aspect for aspect, patterns in _PATTERNS.items() if any(p.search(folded) for p in patterns)}


@dataclass(frozen=True)
class Evidence:
    """Signals of how well the best passages match a question."""

    dense: float  # cosine of the best chunk
    sentence: float  # cosine of the best sentence or row in the top chunks
    missing_aspects: tuple[str, ...]  # aspects asked about that no top passage mentions
    missing_roles: tuple[str, ...] = ()  # roles asked about that no guide mentions


class RelevanceModel:
    """Maps retrieval evidence to a confidence in [0, 1]; below ``threshold`` the assistant abstains."""

    def __init__(self, threshold: float = 0.5, *, passages: int = 5) -> None:
        self.threshold = threshold
        self.passages = passages

    def evidence(self, snapshot: IndexSnapshot, query: str, vector: np.ndarray, hits: list[Hit]) -> Evidence:
        """Signals from the top hits."""
        dense = max((h.dense_score for h in hits), default=0.0)
        best = 0.0
        for hit in hits[: self.passages]:
            span = snapshot.units_of(hit.chunk.id)
            if len(span):
                sims = np.asarray(snapshot.unit_vectors[span.start : span.stop]) @ vector
                best = max(best, float(sims.max()))
        asked = aspects_of(query)
        covered = aspects_of("\n".join(h.chunk.text for h in hits[: self.passages])) if asked else set()
        texts = snapshot.folded_text
        roles = [r for r in sorted(roles_asked(query)) if not any(r in t for t in texts.values())]
        return Evidence(
            dense=dense, sentence=best, missing_aspects=tuple(sorted(asked - covered)), missing_roles=tuple(roles)
        )

    def confidence(
        self, snapshot: IndexSnapshot, query: str, vector: np.ndarray, hits: list[Hit], guide: str | None = None
    ) -> float:
        """Probability-like score that the top passages answer the question."""
        ev = self.evidence(snapshot, query, vector, hits)
        midpoint = TOPIC_MIDPOINTS.get(detect_language(query), TOPIC_MIDPOINTS["ja"])
        topic = 1.0 / (1.0 + math.exp(-(ev.sentence - midpoint) / TOPIC_SCALE))
        if ev.missing_aspects or ev.missing_roles:
            topic *= 0.2
        return topic
