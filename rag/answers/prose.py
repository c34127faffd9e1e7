"""Sentence hygiene: what may stand in an answer, and how a row or an item reads.

* A **pointer** announces content that follows (「以下に…解説します。」, 「15個紹介します。」):
  it is never an answer on its own.
* A **fragment** ends in a bare noun phrase (「…、そして組織を動かすリーダーシップ。」): it is
  never a lead or a supporting point of an explanation.
* A **label** prefix (「詳細: …」, 「活用方法: …」) is dropped; a table row reads as its row
  label followed by its detail, and so does a list item whose label names it (one that occurs
  once in the collection, 「ステップ3（1年半〜3年）」, not a template's 「目的」).
"""

from __future__ import annotations

import re
import threading
from functools import cached_property

from ..normalization import plain
from .structure import Table

_POINTER = re.compile(
    r"(?:以下|次|下記)(?:に|の|で|では|を)?[^。]{0,40}(?:解説|紹介|説明|挙げ|まとめ|示し|見て)(?:します|していきます|ます|ましょう|いきます)[。！]?$"
    r"|(?:\d+|[一二三四五六七八九十]+)(?:つ|個|問|点|項目|件)(?:を|の)?[^。]{0,20}(?:紹介|解説|挙げ|説明|まとめ)(?:します|していきます|ます)[。！]?$"
    r"|(?:以下|次)の(?:通り|とおり)(?:です)?[。：:]?$"
    r"|(?:以下|次|下記)のような[^。]{0,20}(?:です|になります|があります|が一般的です)[。！]?$"
    r"|[:：]$"
    # the guide speaking of itself (「本記事では、…を徹底的に解説します。」「ここでは、…を紹介します。」)
    r"|^(?:本記事|この記事|本章|この章|ここでは|ここからは)[^。]*(?:解説|紹介|説明|まとめ|整理)(?:します|していきます|ます|しましょう)[。！]?$"
)
# a short label before a colon: no sentence punctuation and no bracket left open inside it; a
# clock time (「9:00 出社:」) is part of a label, never a label of its own
_LABEL = re.compile(r"^((?:\d{1,2}[:：]\d{2}|[^:：。/（(）)]|（[^）:：]*）|\([^):：]*\)){1,20})[:：](?!\d)\s*(?=\S)")
_FINAL_PUNCT = re.compile(r"[。！？!?」』）)\s]+$")


# A sentence about the text itself (「…の一日を紹介します。」「最後に、…を整理しておきます。」「例えば
# 次のような質問が考えられます。」) or a parenthetical aside: it announces, it does not answer.
_ANNOUNCES = re.compile(
    r"(?:(?:紹介|整理|解説|説明|まとめ)し?(?:ます|ましょう|ておきます|ていきます|ていきましょう)|見ていきます|見ていきましょう|見てみましょう)[。！]?$"
    r"|^[^。]{0,12}(?:次|以下|下記)の[^。]{0,12}(?:です|があります|が考えられます)[。！]?$"
    r"|^[（(]"
)


def announces(sentence: str) -> bool:
    """True for a sentence that talks about the guide's text rather than the job (a pointer, or
    「…を紹介します。」 however long)."""
    return is_pointer(sentence) or bool(_ANNOUNCES.search(sentence.strip()))


# A sentence that points forward to what follows it (「次のような特徴を持つ人は…」「以下の資格が…」
# 「業務は、次の3つです。」): at the end of a paragraph followed by a list, it announces that list.
_FORWARD = re.compile(r"(?:次|以下|下記)の")


def points_forward(sentence: str) -> bool:
    """True for a sentence that refers to what follows it (「次のような…」「以下の…」)."""
    return bool(_FORWARD.search(sentence))


# A sentence that turns what the sentence before it said (「確かに…が」「しかし実際には…」).
_TURN = re.compile(r"^(?:しかし|一方|ただし|確かに|実際に|とはいえ|それでも|むしろ|もっとも|ですが|でも、)")


def turns(sentence: str) -> bool:
    """True for a sentence that opens by turning what the one before it said (「確かに…が」
    「しかし実際には…」): with that one it answers, after a sentence stating a view."""
    return bool(_TURN.match(sentence))


# A concession (「確かに…」「もちろん…」) grants a point before the turn that answers it.
_CONCESSION = re.compile(r"^(?:確かに|たしかに|もちろん)")


def concedes(sentence: str) -> bool:
    """True for a sentence that opens by granting a point (「確かに…」): the turn comes after it."""
    return bool(_CONCESSION.match(sentence))


def is_pointer(sentence: str) -> bool:
    """True for a sentence that only announces what comes next."""
    return bool(_POINTER.search(sentence.strip()))


_LIST_ITEM = re.compile(r"^\s*(?:[*+-]|\d{1,2}[.)])\s+")


def is_list_item(line: str) -> bool:
    """True for a Markdown list item line (「*   **目的:** …」, 「1. …」)."""
    return bool(_LIST_ITEM.match(line))


def item_label(line: str) -> str:
    """The label of a Markdown list item line (「*   **ステップ1（入社〜半年）:** シャンプー…」 →
    「ステップ1（入社〜半年）」), "" when the line is no list item or has no label."""
    if not _LIST_ITEM.match(line):
        return ""
    found = _LABEL.match(plain(_LIST_ITEM.sub("", line, count=1)))
    return found.group(1).strip() if found else ""


_CLOCK = re.compile(r"^\d{1,2}[:：]\d{2}")


# A schedule's entry opens with a time of day or a weekday (「**8:30 朝礼**」「月曜日」「Monday」).
_SCHEDULE_ENTRY = re.compile(
    r"^(?:\*\*)?\s*(?:\d{1,2}[:：]\d{2}|\d{1,2}時|[月火水木金土日]曜|(?:mon|tues|wednes|thurs|fri|satur|sun)day)", re.IGNORECASE
)


def is_schedule_entry(text: str) -> bool:
    """True for an item or row that opens with a time of day or a weekday (a schedule's entry)."""
    return bool(_SCHEDULE_ENTRY.match(text.strip()))


def is_clock_label(label: str) -> bool:
    """The label is a time of day (「11:00」, 「9:30 出社」): in a schedule it names its item, though
    every schedule of the collection has one."""
    return bool(_CLOCK.match(label))


def strip_label(text: str) -> str:
    """「詳細: 経営層と…」 → 「経営層と…」 (a short label before a colon is dropped)."""
    return _LABEL.sub("", text.strip(), count=1)


def shorten(text: str, limit: int) -> str:
    """``text`` cut at a sentence or clause end near ``limit`` characters, marked with …."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[:limit]
    for mark in ("。", "、", "，", ",", " "):
        at = cut.rfind(mark)
        if at >= limit // 2:
            return cut[: at + 1].rstrip("、，, ") + "…"
    return cut + "…"


def row_text(table: Table, row: tuple[str, ...], columns: list[int] | None = None, limit: int = 120) -> str:
    """A table row as its label followed by its detail: 「**SIEM/SOAR** — Splunk, …」."""
    label_at = table.label_column()
    label = row[label_at] if label_at < len(row) else ""
    wanted = columns if columns is not None else [i for i in range(len(row)) if i != label_at and not table.is_counter(i)]
    details = [row[i] for i in wanted if i < len(row) and i != label_at and row[i]]
    detail = " / ".join(details)
    if not label:
        return shorten(detail, limit)
    return f"**{label}** — {shorten(detail, limit)}" if detail else f"**{label}**"


class FragmentDetector:
    """Finds sentences without a predicate (体言止め) with MeCab; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _tagger(self):  # noqa: ANN202 - fugashi.Tagger, imported lazily
        import fugashi

        return fugashi.Tagger()

    def is_fragment(self, sentence: str) -> bool:
        """True when a Japanese sentence ends in a noun phrase instead of a predicate."""
        body = _FINAL_PUNCT.sub("", sentence.strip())
        if not body or not re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", body):
            return False
        with self._lock:
            words = [(w.surface, w.feature.pos1, w.feature.pos2) for w in self._tagger(body)]
        while words and words[-1][1] in ("補助記号", "記号"):
            words.pop()
        if not words:
            return False
        surface, pos1, pos2 = words[-1]
        if pos1 in ("名詞", "接尾辞") and pos2 != "助動詞語幹":
            return True
        return False
