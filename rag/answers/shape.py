"""What shape an answer takes: an explanation, a list, a table or steps.

The question says what the reader needs; a calibration carries a classifier fitted on the
labelled ``shape`` of the corpus questions (multinomial logistic on the question vector).
Without one, interrogative patterns decide. The matched section then says what is possible
(a list question over a section without items becomes an explanation).
"""

from __future__ import annotations

import re

import numpy as np

from ..fitting.artifact import ANSWER_SHAPES
from ..fitting.intent import IntentModel

SHAPES = ANSWER_SHAPES

_STEPS = re.compile(
    r"順番|順序|ステップ|手順|ロードマップ|何から|まず何|最初に何|どうやって.{0,12}(?:なる|なれ|目指)|なるには|なるため|"
    r"目指すには|ルート|道のり|\bsteps?\b|\broadmap\b|where (?:do|should) i start|how (?:do|can|would) i (?:become|get)",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"全部|すべて|全て|一覧|リスト|いくつか|挙げ|どんな.{0,12}(?:が|は)?(?:ある|あります)|"
    r"(?:スキル|資格|ツール|質問|企業|会社|就職先|職場|仕事内容|業務|役割|知識|科目|本)(?:は|って|を)?(?:何|なに|どれ|教えて)|"
    r"\bwhat (?:are|kinds?|types?)\b|\bwhich\b.{0,30}\b(?:skills|tools|certifications|questions|companies|employers)\b|\blist\b",
    re.IGNORECASE,
)
_TABLE = re.compile(r"比較|違い|表で|一覧表|\bcompare\b|\bcomparison\b|\bdifference\b|\bvs\.?\b", re.IGNORECASE)


# Words that ask for a format outright: they decide before any classifier.
_EXPLICIT = (
    ("table", re.compile(r"表で|表に|一覧表|比較|\btable\b|\bcompare\b|\bcomparison\b", re.IGNORECASE)),
    ("steps", re.compile(r"順番|順序|ステップ|手順|\bstep[- ]by[- ]step\b|\bsteps\b|\bin order\b", re.IGNORECASE)),
    ("list", re.compile(r"全部|すべて|全て|一覧|リストで|\blist (?:all|every)\b|\ball (?:the )?\w+s\b", re.IGNORECASE)),
)


# Asks where to begin (「最初に何を」「どれから」, "which … first"): in a list of steps, the first.
_FIRST = re.compile(
    r"最初に|最初は|まず(?:は)?(?:何|なに|どれ)|何から|なにから|どれから|一番最初|いちばん最初|手始め|"
    r"\b(?:what|which)\b[^.?!]*\bfirst\b(?!\s*[a-z])|where (?:do|should|would|can) i (?:start|begin)|\bstart with\b",
    re.IGNORECASE,
)


def asks_first(question: str) -> bool:
    """The question asks what to do or take first (「まず何から」, "which should I learn first?")."""
    return bool(_FIRST.search(question))


# Asks whether something is needed (「資格は必要ですか？」「専門学校に行かないとダメ？」, "do I need a
# degree?"): the answer is a sentence that states what is (or is not) required.
_ASKS_NEED = re.compile(
    r"必要(?:ですか|ある|あり|です|な[のん]|か|？|\?)|必須|(?:いる|要る|いります|要ります)(?:の)?(?:ですか|？|\?)|"
    r"なくても|ないと(?:ダメ|だめ|無理|いけない)|じゃないと|でないと|"
    r"\bneeds?\b|\brequired?\b|\brequirements?\b|\bnecessary\b|\bhave to\b|\bmust\b",
    re.IGNORECASE,
)
_STATES_NEED = re.compile(r"必要|必須|不要|問わ|なくても|欠かせ|求められ|義務|なければ(?:なら|いけ)|限られ")


def asks_need(question: str) -> bool:
    """The question asks whether something is required (「国家資格は必要ですか？」, "do I need…")."""
    return bool(_ASKS_NEED.search(question))


def states_need(text: str) -> bool:
    """The sentence says what is, or is not, required (「必須の資格はありません」「学歴は問わない」)."""
    return bool(_STATES_NEED.search(text))


def explicit_shape(question: str) -> str | None:
    """The shape a question asks for in so many words (「表で比較して」, "list all"), if any."""
    for shape, pattern in _EXPLICIT:
        if pattern.search(question):
            return shape
    return None


def shape_by_rules(question: str) -> str:
    """The shape a question asks for, by its interrogatives."""
    if _STEPS.search(question):
        return "steps"
    if _TABLE.search(question):
        return "table"
    if _LIST.search(question):
        return "list"
    return "explanation"


def question_shape(question: str, vector: np.ndarray | None, model: IntentModel | None) -> str:
    """A format asked for outright; else the fitted classifier's shape; else the rules'."""
    explicit = explicit_shape(question)
    if explicit is not None:
        return explicit
    if model is None or vector is None:
        return shape_by_rules(question)
    return SHAPES[int(np.argmax(model.probabilities(vector)))]
