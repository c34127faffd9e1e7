"""Content terms of a text, and whether the indexed guides use them at all.

A question's content terms are its noun compounds (「看護師国家試験」, 「ビザ」), Latin words
(``AWS``, ``Google``) and katakana loanwords, found with MeCab (fugashi, unidic-lite). The index
keeps the vocabulary of its guides built the same way, so "which terms of the question occur
nowhere in the guides" is a set lookup, taken from the guides themselves and not from a list
of topics kept by hand.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from .normalization import fold

_LATIN = re.compile(r"^[a-z0-9][a-z0-9+#.\-]*$")
_HAS_LETTER = re.compile(r"[a-z\u3040-\u30ff\u3400-\u9fff]")
_WRITTEN = re.compile(r"[A-Za-z0-9Ａ-Ｚａ-ｚ０-９][A-Za-z0-9Ａ-Ｚａ-ｚ０-９+#.\-]*")
_KATAKANA = re.compile(r"^[\u30a0-\u30ffー・]+$")
_KANA = re.compile(r"^[\u3041-\u3096\u30a1-\u30faー]+$")
# A capitalised Latin word that does not start a sentence, or an acronym anywhere ("AWS", "Big 4").
_CAPITALISED = re.compile(r"(?:(?<=[a-z0-9,;:] )|(?<=[a-z0-9,;:]  ))([A-Z][A-Za-z0-9&+.-]*)|\b([A-Z]{2,}[A-Za-z0-9]*)\b")
_EN_STOP = frozenset(
    "a an and are as at be by can do does for from has have how i in is it its of on or that the their "
    "them they this to was what when where which who why will with you your me my we our should would "
    "could about into than then there these those if so not no yes any some all more most much many "
    "also just only very really get got am being been did doing one ones like want need know".split()
)
#: Noun kinds that carry no topic: numbers, counters, pronouns, time adverbs (unidic pos2/pos3).
_SKIP_POS2 = {"数詞", "代名詞"}
_SKIP_POS3 = {"助数詞可能", "副詞可能"}


@dataclass(frozen=True)
class Term:
    """One content term of a text: the folded compound and the folded morphemes it is made of."""

    text: str
    parts: tuple[str, ...]
    foreign: bool  # Latin script or a katakana loanword: a name, a product, a borrowed concept
    proper: bool = False  # written with capitals in Latin script (a name or an acronym: "Rakuten", "AWS")
    written: str = ""  # its Latin words as the text wrote them ("US", "慶應SFC"); "" when that is ``text``

    @property
    def shown(self) -> str:
        """The term as it may be shown to a reader: a Latin word as it was written (the folded
        "us" of "coming from the US" would read as the pronoun)."""
        return self.written or self.text


class TermExtractor:
    """Finds content terms with MeCab (fugashi + unidic-lite); safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    @cached_property
    def _tagger(self):  # noqa: ANN202 - fugashi.Tagger, imported lazily
        import fugashi

        return fugashi.Tagger()

    def terms(self, text: str) -> list[Term]:
        """Noun compounds and Latin words of ``text``, in order, without repeats."""
        capitalised = {fold(m.group(1) or m.group(2)) for m in _CAPITALISED.finditer(text)}
        written = {fold(w): w for w in reversed(_WRITTEN.findall(text))}  # the first spelling wins
        folded = fold(text)
        with self._lock:  # MeCab taggers are not re-entrant
            words = [(w.surface, w.feature.pos1, w.feature.pos2, w.feature.pos3, w.feature.goshu) for w in self._tagger(folded)]
        found: list[Term] = []
        run: list[tuple[str, bool]] = []
        has_noun = False

        def close() -> None:
            nonlocal has_noun
            parts = [surface for surface, _ in run if _HAS_LETTER.search(surface)]
            if parts and has_noun:
                text_ = "".join(surface for surface, _ in run).strip()
                foreign = any(flag for _, flag in run)
                if not (len(parts) == 1 and _LATIN.match(parts[0]) and parts[0] in _EN_STOP):
                    shown = "".join(written.get(surface, surface) if _LATIN.match(surface) else surface for surface, _ in run).strip()
                    found.append(Term(text_, tuple(parts), foreign, any(p in capitalised for p in parts), shown if shown != text_ else ""))
            run.clear()
            has_noun = False

        for surface, pos1, pos2, pos3, goshu in words:
            surface = surface.strip()
            noun = pos1 == "名詞" and pos2 not in _SKIP_POS2 and pos3 not in _SKIP_POS3
            # prefixes open a compound, suffixes close one; an adjectival noun joins one
            # (「サイバー」+「エージェント」) but is no term on its own (「重要」)
            affix = pos1 in ("接頭辞", "形状詞") or (pos1 == "接尾辞" and bool(run))
            has_noun = has_noun or noun
            if surface and (noun or affix):
                latin = bool(_LATIN.match(surface))
                run.append((surface, latin or goshu == "外" or bool(_KATAKANA.match(surface) and len(surface) > 1)))
                if latin:  # Latin words stand alone ("aws の" / "cissp と cism")
                    close()
            else:
                close()
        close()
        unique: dict[str, Term] = {}
        for term in found:
            unique.setdefault(term.text, term)
        return list(unique.values())

    def reading(self, text: str) -> str:
        """The reading of ``text`` in katakana, by MeCab ("" when a word of it has none)."""
        with self._lock:
            words = [(w.surface, w.feature.kana) for w in self._tagger(text)]
        out: list[str] = []
        for surface, kana in words:
            if kana and kana != "*":
                out.append(kana)
            elif _KANA.match(surface):
                out.append(surface)
            else:
                return ""
        return "".join(out)

    def vocabulary(self, texts: Iterable[str]) -> set[str]:
        """Every compound and every morpheme of the content terms of ``texts``."""
        vocab: set[str] = set()
        for text in texts:
            for line in text.split("\n"):
                for term in self.terms(line):
                    vocab.add(term.text)
                    vocab.update(term.parts)
        return vocab


@dataclass(frozen=True)
class Coverage:
    """Which content terms of a question the guides use, and which they never mention."""

    terms: tuple[Term, ...]
    missing: tuple[Term, ...]

    @property
    def missing_share(self) -> float:
        """Share of the question's checkable terms that no guide mentions (0 when none)."""
        return len(self.missing) / len(self.terms) if self.terms else 0.0

    @property
    def missing_foreign(self) -> tuple[Term, ...]:
        """Missing names and loanwords (a company, a product, 「ビザ」)."""
        return tuple(t for t in self.missing if t.foreign)


def coverage(
    terms: list[Term],
    vocabulary: frozenset[str] | set[str],
    text: str = "",
    *,
    english: bool = False,
    ignore: frozenset[str] | set[str] = frozenset(),
) -> Coverage:
    """Which ``terms`` a guide uses: in its ``vocabulary``, or (a compound) inside its folded ``text``.

    「看護師国家試験」 is covered when the guide says 「看護師国家試験」, or says it inside a longer
    compound; a name made of common parts (「サイバーエージェント」) is not covered by a guide
    that only says 「サイバー」 and 「エージェント」 apart. For an English question only capitalised
    names and acronyms can be checked against Japanese guides; ordinary English words are left
    out rather than reported as missing. Terms in ``ignore`` (the ways people ask, learned from
    training questions) are not checked.
    """
    checkable = [t for t in terms if (not english or t.proper) and t.text not in ignore]
    missing = [
        t for t in checkable if t.text not in vocabulary and not (len(t.parts) > 1 and t.text in text)
    ]
    return Coverage(tuple(checkable), tuple(missing))
