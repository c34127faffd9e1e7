"""Follow-up questions: when a question leans on earlier turns, retrieval reads them too."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .normalization import clean_question, detect_language

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

    @property
    def is_follow_up(self) -> bool:
        """True when earlier turns were added to the question."""
        return len(self.parts) > 1


def retrieval_query(question: str, history: Sequence[Message | str] | None, turns: int = 2) -> RetrievalQuery:
    """The question alone, or with recent user turns when it is a follow-up."""
    previous = user_turns(history)
    if not previous or not is_follow_up(question):
        return RetrievalQuery(question, (question,))
    context = " ".join(previous[-turns:])
    return RetrievalQuery(f"{context} {question}", (context, question))
