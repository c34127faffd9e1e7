"""English words of a question as the Japanese terms the indexed guides use.

An English question meets Japanese guides through the multilingual embedding alone: its
keyword score is empty, because no English word occurs in the text. The glossary gives the
keyword index something to match: when an index is built, every content term of its guides
(the vocabulary of :mod:`rag.terms`) is looked up in JMdict, the Japanese–English dictionary
of the EDRDG (package ``jamdict-data``), and each English gloss is mapped back to the guide
terms it translates (``interview`` -> 面接; ``night shift`` -> 夜勤; ``license`` -> 免許).
At question time the English words (longest phrase first) are replaced by those terms and
added to the keyword query. Only terms the guides use are kept, so the file is small and
lives beside the index; without the dictionary installed the glossary is empty and the
index records that (``build_config``'s ``glossary``), so installing it later rebuilds.

Japanese words written in Latin letters ("zeirishi", "takken", "kaigo fukushishi") are a
second kind of key: the reading of every guide term written with kanji, in romaji
(:mod:`rag.romaji`), so a question that names a qualification the way people in Japan say it
finds the guide term too. Those keys are read only for words the English keys did not take.
"""

from __future__ import annotations

import json
import re
import sqlite3
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .romaji import MIN_ROMAJI, canonical, romanize

GLOSSARY = "glossary.json"
FORMAT = 2  # 2: romaji keys (``readings``)
#: Senses of a dictionary entry read (the first ones are its common meanings: 骨 is "bone"
#: before it is "knack; skill").
SENSES = 2
#: Longest English phrase looked up, in words.
PHRASE_WORDS = 3
#: Guide terms kept per English key: those it translates most directly (the gloss comes in an
#: earlier sense, and earlier within it), so a word of many meanings does not outweigh the rest.
TERMS_PER_KEY = 3

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_PAREN = re.compile(r"\([^)]*\)")
_HIRAGANA = re.compile(r"^[\u3040-\u309f]+$")
_KANJI = re.compile(r"[\u3400-\u9fff]")
#: Version of the romaji keys (rag.romaji); part of the index's build settings.
ROMAJI_VERSION = 1
_STOP = frozenset(
    "a an the to of in on at for by with from and or be is are was do does did can could should would "
    "will i you he she it we they me my your our their this that these those what which who whom how "
    "why when where there here as if so not no any some all more most much many very just only also "
    "get got have has had am been being about into than then like want need know one ones it's i'm".split()
)


def _forms(word: str) -> list[str]:
    """A word and its likely singulars (``salaries`` -> ``salary``; ``nurses`` -> ``nurse``)."""
    forms = [word]
    if len(word) > 4 and word.endswith("ies"):
        forms.append(word[:-3] + "y")
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        forms.append(word[:-1])
        if word.endswith("es"):
            forms.append(word[:-2])
    return forms


def gloss_key(gloss: str) -> str:
    """A dictionary gloss as a lookup key: no parentheses, no leading "to", lower case."""
    text = _PAREN.sub(" ", gloss.lower())
    words = _WORD.findall(text)
    if words and words[0] == "to":
        words = words[1:]
    return " ".join(words)


def dictionary_source() -> tuple[str, Path | None]:
    """The installed dictionary (``jmdict:<version>`` and its database file), or ``none``."""
    try:
        import jamdict_data
    except ImportError:
        return "none", None
    path = Path(jamdict_data.JAMDICT_DB_PATH)
    if not path.is_file():
        return "none", None
    return f"jmdict:{metadata.version('jamdict-data')}", path


def glossary_config() -> str:
    """What an index's glossary is built from and how: the dictionary and the build limits (a
    change of either rebuilds the index, its embeddings reused)."""
    return f"{dictionary_source()[0]} senses={SENSES} terms={TERMS_PER_KEY} phrase={PHRASE_WORDS} romaji={ROMAJI_VERSION}"


@dataclass(frozen=True)
class Glossary:
    """English lookup keys mapped to the guide terms they translate, and guide terms by their
    reading in romaji (canonical spelling, :func:`rag.romaji.canonical`)."""

    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    source: str = "none"
    readings: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.entries) + len(self.readings)

    def translate(self, text: str) -> list[str]:
        """Guide terms for the English words of ``text``, longest phrase first, without repeats,
        then those its romaji spells.

        Japanese text, stop words and words the dictionary does not know (names, acronyms)
        add nothing.
        """
        english, romaji = self._lookup(text)
        return english + [t for t in romaji if t not in english]

    def romaji_terms(self, text: str) -> list[str]:
        """The guide terms the romaji of ``text`` spells ("a zeirishi" -> 税理士)."""
        return self._lookup(text)[1]

    def _lookup(self, text: str) -> tuple[list[str], list[str]]:
        """Terms of the English keys, and of the romaji keys for the words those did not take."""
        if not self.entries and not self.readings:
            return [], []
        words = _WORD.findall(_without_marks(text.lower()))
        found, left = _longest_first(words, self._english)
        romaji: list[str] = []
        for run in left:
            romaji.extend(t for t in _longest_first(run, self._romaji)[0] if t not in romaji)
        return found, romaji

    def _english(self, phrase: list[str]) -> tuple[str, ...] | None:
        """The terms of an English phrase (its last word also as a singular); a lone stop word
        has none."""
        if len(phrase) == 1 and phrase[0] in _STOP:
            return None
        head = " ".join(phrase[:-1])
        return next((self.entries[k] for f in _forms(phrase[-1]) if (k := f"{head} {f}".strip()) in self.entries), None)

    def _romaji(self, phrase: list[str]) -> tuple[str, ...] | None:
        """The terms consecutive words spell in romaji ("kaigo fukushishi" -> 介護福祉士)."""
        key = canonical("".join(phrase))
        return self.readings.get(key) if len(key) >= MIN_ROMAJI else None

    def save(self, folder: Path) -> None:
        """Write ``glossary.json`` into ``folder``."""
        record = {
            "format": FORMAT,
            "source": self.source,
            "entries": {k: list(v) for k, v in sorted(self.entries.items())},
            "readings": {k: list(v) for k, v in sorted(self.readings.items())},
        }
        (Path(folder) / GLOSSARY).write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Glossary:
        """Read ``glossary.json``; ValueError when it is not a glossary of this format."""
        record = json.loads((Path(folder) / GLOSSARY).read_text(encoding="utf-8"))
        found_format = record.get("format") if isinstance(record, dict) else None
        if found_format not in (1, FORMAT):
            raise ValueError(f"{GLOSSARY} has format {found_format!r}; formats 1 and {FORMAT} are read")
        maps = {}
        for name in ("entries", "readings"):
            found = record.get(name, {} if record["format"] == 1 else None)  # format 1: no romaji keys
            if not isinstance(found, dict) or not all(
                isinstance(v, list) and all(isinstance(t, str) for t in v) for v in found.values()
            ):
                raise ValueError(f"{GLOSSARY} must map each key to a list of terms under {name!r}")
            maps[name] = {str(k): tuple(v) for k, v in found.items()}
        return cls(maps["entries"], str(record.get("source", "none")), maps["readings"])


def build_glossary(vocabularies: Iterable[Iterable[str]], reading: Callable[[str], str] | None = None) -> Glossary:
    """The glossary of the guide terms in ``vocabularies`` (one per guide): English keys from
    the installed dictionary (none without one), and romaji keys from ``reading`` (a term's
    reading in kana, :meth:`rag.terms.TermExtractor.reading`) when given.

    A term is looked up by its written form (kanji) or reading (kana); pure-hiragana and
    one-character terms are left out (grammar words and fragments, not topics). Of the terms
    an English key translates equally directly, those more guides use come first
    (``interview`` -> 面接 before 問診).
    """
    guides: dict[str, int] = {}
    for vocabulary in vocabularies:
        for term in set(vocabulary):
            guides[term] = guides.get(term, 0) + 1
    terms = {t for t in guides if len(t) > 1 and not _HIRAGANA.match(t)}
    source, path = dictionary_source()
    entries = _dictionary_entries(terms, guides, path) if path is not None else {}
    readings = _romaji_keys(terms, guides, reading, entries) if reading is not None else {}
    return Glossary(entries, source, readings)


def _romaji_keys(
    terms: set[str], guides: dict[str, int], reading: Callable[[str], str], english: dict[str, tuple[str, ...]]
) -> dict[str, tuple[str, ...]]:
    """Canonical romaji of each term written with kanji -> the terms it reads as (more guides
    first). Keys shorter than MIN_ROMAJI or equal to an English key are left out."""
    by_key: dict[str, set[str]] = {}
    for term in terms:
        if not _KANJI.search(term):
            continue
        key = canonical(romanize(reading(term)))
        if len(key) >= MIN_ROMAJI and key not in english:
            by_key.setdefault(key, set()).add(term)
    return {k: tuple(sorted(v, key=lambda t: (-guides[t], -len(t), t))[:TERMS_PER_KEY]) for k, v in by_key.items()}


def _dictionary_entries(terms: set[str], guides: dict[str, int], path: Path) -> dict[str, tuple[str, ...]]:
    """English gloss key -> the guide terms it translates, from the dictionary at ``path``."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        # only the entries of the guide terms are read (the dictionary's text indexes), not the
        # whole dictionary: a temporary table of the terms, joined
        connection.execute("CREATE TEMP TABLE wanted (text TEXT PRIMARY KEY)")
        connection.executemany("INSERT INTO wanted VALUES (?)", ((t,) for t in terms))
        written: dict[int, set[str]] = {}
        for table in ("Kanji", "Kana"):
            query = f"SELECT k.idseq, k.text FROM wanted w JOIN {table} k ON k.text = w.text"  # noqa: S608 - fixed names
            for idseq, text in connection.execute(query):
                written.setdefault(idseq, set()).add(text)
        connection.execute("CREATE TEMP TABLE entries (idseq INTEGER PRIMARY KEY)")
        connection.executemany("INSERT INTO entries VALUES (?)", ((i,) for i in written))
        rows = connection.execute(
            "SELECT s.idseq, s.ID, g.text FROM entries e JOIN Sense s ON s.idseq = e.idseq "
            "JOIN SenseGloss g ON g.sid = s.ID WHERE g.lang = 'eng' OR g.lang IS NULL ORDER BY s.idseq, s.ID, g.rowid"
        )
        ranked: dict[str, dict[str, tuple[int, int]]] = {}
        sense_rank: dict[int, list[int]] = {}
        position: dict[int, int] = {}
        for idseq, sense, gloss in rows:
            if idseq not in written:
                continue
            seen = sense_rank.setdefault(idseq, [])
            if sense not in seen:
                seen.append(sense)
                position[sense] = 0
            else:
                position[sense] += 1
            if len(seen) > SENSES:
                continue
            key = gloss_key(gloss)
            if not key or len(key.split()) > PHRASE_WORDS or key in _STOP:
                continue
            bucket = ranked.setdefault(key, {})
            rank = (len(seen) - 1, position[sense])
            for term in written[idseq]:
                bucket[term] = min(bucket.get(term, rank), rank)
    finally:
        connection.close()
    return {k: tuple(sorted(v, key=lambda t: (v[t], -guides[t], t))[:TERMS_PER_KEY]) for k, v in ranked.items()}


def _longest_first(
    words: list[str], lookup: Callable[[list[str]], tuple[str, ...] | None]
) -> tuple[list[str], list[list[str]]]:
    """Walk ``words`` taking the longest phrase (up to PHRASE_WORDS) that ``lookup`` knows:
    its terms, without repeats, and the runs of words no phrase took (split at stop words)."""
    found: list[str] = []
    left: list[list[str]] = [[]]
    i = 0
    while i < len(words):
        for n in range(min(PHRASE_WORDS, len(words) - i), 0, -1):
            terms = lookup(words[i : i + n])
            if terms:
                found.extend(t for t in terms if t not in found)
                left.append([])
                i += n
                break
        else:
            if words[i] in _STOP:
                left.append([])
            else:
                left[-1].append(words[i])
            i += 1
    return found, left


def _without_marks(text: str) -> str:
    """Latin letters without their accents or macrons ("chōrishi" -> "chorishi")."""
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))
