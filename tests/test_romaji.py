"""Romaji: readings of guide terms in Latin letters, compared in one canonical spelling."""

from __future__ import annotations

import pytest

from rag.romaji import canonical, romanize
from rag.terms import TermExtractor


@pytest.mark.parametrize(
    ("kana", "romaji"),
    [
        ("ゼイリシ", "zeirishi"),
        ("タッケン", "takken"),  # small tsu doubles the next consonant
        ("マッチャ", "matcha"),
        ("ジュウイ", "juui"),
        ("ケーキ", "keeki"),  # the long-vowel mark repeats the vowel
        ("しほうしょし", "shihoushoshi"),  # hiragana too
        ("ABC", ""),  # not a reading
    ],
)
def test_romanize(kana, romaji):
    assert romanize(kana) == romaji


@pytest.mark.parametrize(
    "variants",
    [
        ("chōrishi", "Chourishi", "chorishi", "tyorisi"),  # macron, long vowel, Kunrei
        ("shiho-shoshi", "shihou shoshi", "Shihoshoshi"),  # hyphen, space, capitals
        ("shimbun", "shinbun"),  # m before b
        ("kōmuin", "koumuin", "komuin"),
    ],
)
def test_canonical_spelling_absorbs_the_usual_variants(variants):
    assert len({canonical(v) for v in variants}) == 1


def test_shu_and_chu_are_not_read_as_fu():
    assert canonical("shuushoku") == "shushoku" and canonical("chuui") == "chui"


def test_readings_of_guide_terms_by_mecab():
    extractor = TermExtractor()
    assert canonical(romanize(extractor.reading("税理士"))) == "zeirishi"
    assert canonical(romanize(extractor.reading("介護福祉士"))) == canonical("kaigo fukushishi")
    assert extractor.reading("ABC試験") == ""  # a Latin word has no reading
