"""Japanese words written in Latin letters ("zeirishi", "kaigo fukushishi", "chōrishi").

People who ask in English often name a Japanese job or qualification in romaji: a tax
accountant is a *zeirishi*, a licensed real-estate agent holds the *takken*. Neither the
embedding model nor the English glossary knows those words. The index therefore keeps the
reading of each guide term (from MeCab, see :meth:`rag.terms.TermExtractor.reading`) in
romaji, and a question's Latin words are compared with it in one canonical spelling that
absorbs the usual variants: macrons or not (chōrishi / chorishi / chourishi), Hepburn or
Kunrei (shi / si, tsu / tu, fu / hu, ji / zi), hyphens and spaces (shiho-shoshi / shihoshoshi),
and m or n before b and p (shimbun / shinbun).
"""

from __future__ import annotations

import re
import unicodedata

_BASE = {
    "ア": "a", "イ": "i", "ウ": "u", "エ": "e", "オ": "o",
    "カ": "ka", "キ": "ki", "ク": "ku", "ケ": "ke", "コ": "ko",
    "サ": "sa", "シ": "shi", "ス": "su", "セ": "se", "ソ": "so",
    "タ": "ta", "チ": "chi", "ツ": "tsu", "テ": "te", "ト": "to",
    "ナ": "na", "ニ": "ni", "ヌ": "nu", "ネ": "ne", "ノ": "no",
    "ハ": "ha", "ヒ": "hi", "フ": "fu", "ヘ": "he", "ホ": "ho",
    "マ": "ma", "ミ": "mi", "ム": "mu", "メ": "me", "モ": "mo",
    "ヤ": "ya", "ユ": "yu", "ヨ": "yo",
    "ラ": "ra", "リ": "ri", "ル": "ru", "レ": "re", "ロ": "ro",
    "ワ": "wa", "ヰ": "i", "ヱ": "e", "ヲ": "o", "ン": "n",
    "ガ": "ga", "ギ": "gi", "グ": "gu", "ゲ": "ge", "ゴ": "go",
    "ザ": "za", "ジ": "ji", "ズ": "zu", "ゼ": "ze", "ゾ": "zo",
    "ダ": "da", "ヂ": "ji", "ヅ": "zu", "デ": "de", "ド": "do",
    "バ": "ba", "ビ": "bi", "ブ": "bu", "ベ": "be", "ボ": "bo",
    "パ": "pa", "ピ": "pi", "プ": "pu", "ペ": "pe", "ポ": "po",
    "ヴ": "vu",
}
_SMALL_Y = {"ャ": "a", "ュ": "u", "ョ": "o"}
_SMALL_VOWEL = {"ァ": "a", "ィ": "i", "ゥ": "u", "ェ": "e", "ォ": "o"}
_VOWELS = "aeiou"

#: Shortest canonical romaji kept as a key: shorter readings are English words too often
#: ("kin", "same", "taken" has five letters).
MIN_ROMAJI = 6


def romanize(kana: str) -> str:
    """Hepburn romaji of a reading in katakana or hiragana ("" when it holds anything else)."""
    out: list[str] = []
    double = False
    for ch in kana:
        code = ord(ch)
        if 0x3041 <= code <= 0x3096:  # hiragana -> katakana
            ch = chr(code + 0x60)
        if ch == "ッ":
            double = True
            continue
        if ch == "ー":
            if out and out[-1][-1:] in _VOWELS:
                out.append(out[-1][-1])
            continue
        if ch in _SMALL_Y and out:
            last = out.pop()
            if last.endswith(("shi", "chi", "ji")):
                out.append(last[:-1] + _SMALL_Y[ch])
            else:
                out.append(last[:-1] + "y" + _SMALL_Y[ch])
            continue
        if ch in _SMALL_VOWEL and out:
            last = out.pop()
            out.append(last[:-1] + _SMALL_VOWEL[ch] if last[-1:] in _VOWELS else last + _SMALL_VOWEL[ch])
            continue
        syllable = _BASE.get(ch)
        if syllable is None:
            return ""
        if double:
            syllable = ("t" if syllable.startswith("ch") else syllable[0]) + syllable
            double = False
        out.append(syllable)
    return "".join(out)


_KUNREI = (
    (re.compile(r"si"), "shi"),
    (re.compile(r"ti"), "chi"),
    (re.compile(r"tu"), "tsu"),
    (re.compile(r"(?<![sc])hu"), "fu"),
    (re.compile(r"zi|di"), "ji"),
    (re.compile(r"sy"), "sh"),
    (re.compile(r"ty"), "ch"),
    (re.compile(r"[zj]y"), "j"),
    (re.compile(r"tch"), "cch"),
    (re.compile(r"m(?=[bp])"), "n"),
    (re.compile(r"ou|oo|oh(?![aeiou])"), "o"),
    (re.compile(r"uu"), "u"),
    (re.compile(r"aa"), "a"),
    (re.compile(r"ii"), "i"),
    (re.compile(r"ee"), "e"),
)


def canonical(text: str) -> str:
    """The spelling romaji is compared in: lower case, no macrons, letters only, Hepburn, long
    vowels single ("Chōrishi", "chourishi" and "chorishi" are all "chorishi")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    letters = "".join(ch for ch in decomposed if "a" <= ch <= "z")
    for pattern, replacement in _KUNREI:
        letters = pattern.sub(replacement, letters)
    return letters
