"""Keyword tokenizers for Japanese and English text: character bigrams or morphemes."""

from __future__ import annotations

import re
from typing import Protocol

from .normalization import fold

# Runs of CJK characters (kanji, kana, prolonged sound mark) versus runs of Latin letters/digits.
_CJK_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\u30fc\uff66-\uff9f々〆ヵヶ]+")
_WORD = re.compile(r"[a-z0-9][a-z0-9+#.]*[a-z0-9+#]|[a-z0-9]")
_EN_STOP = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or "
    "that the their them they this to was what when where which who why will with you your "
    "me my we our should would could about into than then there these those".split()
)


class KeywordTokenizer(Protocol):
    """Turns text into index terms; one required method."""

    name: str

    def tokenize(self, text: str) -> list[str]:
        """Terms of ``text`` in order (duplicates kept: they are term frequencies)."""
        ...


class BigramTokenizer:
    """NFKC-folded character bigrams for Japanese runs, whole words for Latin script."""

    name = "bigram"

    def tokenize(self, text: str) -> list[str]:
        """Bigrams of every CJK run (a lone character stays a unigram) plus Latin words."""
        folded = fold(text)
        terms: list[str] = []
        for run in _CJK_RUN.findall(folded):
            if len(run) == 1:
                terms.append(run)
            else:
                terms.extend(run[i : i + 2] for i in range(len(run) - 1))
        terms.extend(w for w in _WORD.findall(folded) if w not in _EN_STOP)
        return terms


class FugashiTokenizer:
    """Content morphemes (base forms) from MeCab via fugashi with the unidic-lite dictionary."""

    name = "fugashi"
    _CONTENT = ("名詞", "動詞", "形容詞", "形状詞", "副詞", "接頭辞", "記号")

    def __init__(self) -> None:
        import fugashi  # heavy import, only when chosen

        self._tagger = fugashi.Tagger()

    def tokenize(self, text: str) -> list[str]:
        """Lemmas of content words; Latin words as folded words."""
        folded = fold(text)
        terms: list[str] = []
        for word in self._tagger(folded):
            pos = word.feature.pos1
            if pos not in self._CONTENT or pos == "記号" and not _WORD.fullmatch(word.surface):
                continue
            lemma = word.feature.lemma or word.surface
            if _WORD.fullmatch(word.surface):
                if word.surface in _EN_STOP:
                    continue
                lemma = word.surface
            terms.append(lemma.lower())
        return terms


def make_tokenizer(name: str) -> KeywordTokenizer:
    """The keyword tokenizer called ``name`` ("bigram" or "fugashi")."""
    if name == "bigram":
        return BigramTokenizer()
    if name == "fugashi":
        return FugashiTokenizer()
    raise ValueError(f"keyword tokenizer {name!r} is unknown; use 'bigram' or 'fugashi'")
