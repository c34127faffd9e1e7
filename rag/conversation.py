"""Follow-up questions: when a question leans on earlier turns, retrieval reads them too."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .normalization import clean_question, detect_language, fold

# Words that point back to something said before ("それに必要な資格は？", "What about its tools?").
_JA_ANAPHORA = re.compile(
    r"(それ|その|そこ|これ|この|あれ|あの|そういう|こういう|上記|前者|後者|同じ|他に|ほかに|他の|ほかの|"
    r"逆に|じゃあ|では|さらに|もっと|詳しく|具体的に|次に|その中|そちら|こちら|該当)"
)
_EN_ANAPHORA = re.compile(
    r"\b(it|its|it's|that|this|those|these|they|them|their|there|what about|how about|and then|"
    r"else|more|such|the same|former|latter|which of)\b",
    re.IGNORECASE,
)
_SHORT_JA_CHARS = 8
_SHORT_EN_WORDS = 3

Message = dict[str, Any]


def user_turns(history: Sequence[Message | str] | None) -> list[str]:
    """Earlier user questions, oldest first, from chat messages or plain strings."""
    turns: list[str] = []
    for item in history or []:
        if isinstance(item, str):
            text = item
        elif isinstance(item, dict) and item.get("role", "user") == "user":
            content = item.get("content", "")
            text = content if isinstance(content, str) else ""
        else:
            continue
        text = clean_question(text)
        if text:
            turns.append(text)
    return turns


def is_follow_up(question: str) -> bool:
    """True when the question refers back (pronouns, "what about") or is too short to stand alone."""
    if detect_language(question) == "en":
        return bool(_EN_ANAPHORA.search(question)) or len(question.split()) <= _SHORT_EN_WORDS
    return bool(_JA_ANAPHORA.search(question)) or len(question) <= _SHORT_JA_CHARS


_KANJI_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_EN_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10,
}
_JA_ORDINAL = re.compile(r"(\d{1,2}|[一二三四五六七八九十])\s*(?:つ目|個目|番目|点目)")
_EN_ORDINAL = re.compile(
    r"\b(?:the\s+)?(" + "|".join(_EN_ORDINALS) + r"|\d{1,2}(?:st|nd|rd|th))\s+(?:one|point|item|step|duty|question)\b"
    r"|\b(?:number|no\.?)\s*(\d{1,2})\b",
    re.IGNORECASE,
)


def ordinal(question: str) -> int | None:
    """The item number a question points at (「5つ目」, "the third one", "number 4"), if any."""
    text = fold(question)
    match = _JA_ORDINAL.search(text)
    if match:
        token = match.group(1)
        return int(token) if token.isdigit() else _KANJI_NUMBERS[token]
    match = _EN_ORDINAL.search(text)
    if match:
        token = match.group(1) or match.group(2)  # already lower case (folded)
        return _EN_ORDINALS.get(token) or int(re.sub(r"\D", "", token))
    return None


@dataclass(frozen=True)
class RetrievalQuery:
    """What retrieval reads for one question.

    ``text`` feeds the keyword index and the aspect checks; the vectors of ``parts`` are
    averaged into the query vector. For a follow-up the parts are the recent turns and the
    question itself, so the new question keeps as much weight as all the context together
    (on the 17 follow-ups of both question files: hit@1 0.76 against 0.65 for one embedding
    of the joined text).
    """

    text: str
    parts: tuple[str, ...]
    #: Earlier user turns (all of them, oldest first): the conversation's topic, read when the
    #: question names no guide itself, so that a conversation about nurses stays with nurses.
    context: str = ""

    @property
    def is_follow_up(self) -> bool:
        """True when earlier turns were added to the question."""
        return len(self.parts) > 1


def retrieval_query(question: str, history: Sequence[Message | str] | None, turns: int = 2) -> RetrievalQuery:
    """The question alone, or with recent user turns when it is a follow-up."""
    previous = user_turns(history)
    everything = " ".join(previous)
    if not previous or not is_follow_up(question):
        return RetrievalQuery(question, (question,), everything)
    context = " ".join(previous[-turns:])
    return RetrievalQuery(f"{context} {question}", (context, question), everything)
