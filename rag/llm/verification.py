"""Checking a generated answer against the passages it cites, and making model output safe.

A generated answer is split into sentences ("claims"), each with the passage numbers cited
after it. A claim survives only if it cites at least one existing passage that supports it:

* **grounded identifiers** - every number or code in the claim (a Latin/digit token holding a
  digit: ``27001``, ``3``, ``CANARY-7f3a``) must occur in the cited passage; in a Japanese
  claim every Latin word of three letters or more must occur there too. An invented figure or
  an echoed injection token cannot pass, however similar the sentence is otherwise;
* **no instruction echoes** - a claim that reads like a prompt injection ("ignore previous
  instructions", "system prompt", 「以前の指示を無視」) is never kept;
* **support** - when claim and passage share a script (both Japanese, or both Latin), the
  share of the claim's distinct keyword terms (character bigrams for Japanese, words for
  Latin text: the index's own :class:`~rag.tokenization.BigramTokenizer`) found in the
  passage must reach :data:`OVERLAP_THRESHOLD`; across scripts (an English answer about a
  Japanese guide) bigrams cannot match, so the claim, embedded as a query, must reach the
  calibration's ``claim_support`` threshold as the mean of its best cosine with the passage's
  sentences (unit vectors stored in the index) and its cosine with the whole passage. That
  cosine scale belongs to the embedding model, so the threshold is fitted by ``rag tune`` on
  labelled claims (``eval/corpus/claims.jsonl``, written against training guides); without a
  calibration no cross-lingual claim can be verified and the extractive answer is shown. The
  cross-lingual check is weaker: it rejects off-topic claims, not every subtle falsehood.

The overlap threshold is a share of bigrams, not a model score; it separated the supported
and unsupported Japanese claims written against ``seeds/ciso.md`` (``tests/test_llm.py``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..normalization import fold
from ..tokenization import BigramTokenizer

_TERMS = BigramTokenizer()

#: Same script (Japanese claim, Japanese passage): share of the claim's bigrams in the passage.
#: Calibrated on seeds/ciso.md: supported claims 0.67-0.97, unsupported 0.00-0.40.
OVERLAP_THRESHOLD = 0.5

# -- output safety ------------------------------------------------------------------------------
_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_IMAGE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\n]*)\)")
_COMMENT = re.compile(r"<!--.*?(-->|$)", re.DOTALL)
_SCRIPT = re.compile(r"<(script|style|iframe|object|svg)\b.*?(</\1\s*>|$)", re.DOTALL | re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z!/][^<>\n]*>")
_SCHEME = re.compile(r"(?i)\b(?:javascript|vbscript)\s*:")
_BARE_URL = re.compile(r"(?i)\b(?:https?|ftp)://\S+")
# An image or link that may still be incomplete at the end of the streamed text.
_OPEN_TAIL = re.compile(r"(!$|!?\[[^\]\n]{0,300}(\](\([^)\n]{0,500})?)?$)")


def sanitize(text: str) -> str:
    """Model output made safe to display as Markdown.

    Images go entirely (no outside requests), links keep their text only (no ``javascript:``
    or phishing targets), bare URLs go, tags and comments go, and any ``<`` or ``>`` left is
    escaped, so no raw HTML survives.
    """
    text = _COMMENT.sub("", text)
    text = _SCRIPT.sub("", text)
    text = _IMAGE.sub("", text)
    text = _LINK.sub(lambda m: f"[{m.group(1)}]" if m.group(1).strip().isdigit() else m.group(1), text)
    text = _TAG.sub("", text)
    text = _SCHEME.sub("", text)
    text = _BARE_URL.sub("", text)
    return text.replace("<", "&lt;").replace(">", "&gt;")


class StreamSanitizer:
    """:func:`sanitize` for text arriving in pieces: holds back a possibly unfinished link or image."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, piece: str) -> str:
        """Safe text to show now (possibly empty)."""
        self._pending += piece
        cut = len(self._pending)
        tail = _OPEN_TAIL.search(self._pending)
        if tail:
            cut = tail.start()
        ready, self._pending = self._pending[:cut], self._pending[cut:]
        return sanitize(ready) if ready else ""

    def flush(self) -> str:
        """Whatever is left, made safe."""
        rest, self._pending = self._pending, ""
        return sanitize(rest) if rest else ""


def strip_reasoning(text: str) -> str:
    """Drop ``<think>...</think>`` blocks some reasoning models put before the answer."""
    return _THINK.sub("", text)


# -- claims -------------------------------------------------------------------------------------
_MARK = r"[\[［【]\s*[0-9０-９]{1,3}(?:\s*[,、，]\s*[0-9０-９]{1,3})*\s*[\]］】]"
MARKER = re.compile(_MARK)
_END = re.compile(r"(?:[。！？!?]+|\.(?=\s|$|[\[［【]))[」』）)\"'”’*]*(?:\s*" + _MARK + r")*")
_BULLET = re.compile(r"^(\s*(?:[-*+・•]|\d{1,2}[.)])\s+)")
_SOURCES_HEADING = re.compile(
    r"^\s*(?:\*\*|#+\s*)?(?:出典|参考|参照|情報源|sources?|references?|citations?)\s*(?:\*\*)?\s*[:：]?\s*(?:\*\*)?\s*$",
    re.IGNORECASE,
)
_SOURCE_ENTRY = re.compile(r"^\s*(?:[-*]\s*)?" + _MARK + r"\s*[:：]?\s*\S.*(?:›|>|—|-|:).*$")
_INJECTION = re.compile(
    r"(?i)(ignore\s+(?:all\s+|any\s+|the\s+)?(?:previous|prior|above|earlier)\s+(?:instructions?|prompts?)"
    r"|disregard\s+(?:all\s+|the\s+)?(?:previous|prior|above)|system\s+prompt|developer\s+message"
    r"|\[\s*system\s*\]|</?\s*(?:passages|context|system)\s*>"
    r"|(?:以前|前|上記|これまで)の(?:指示|命令|プロンプト)を(?:無視|忘れ)|システムプロンプト)"
)
_CODE = re.compile(r"[a-z0-9]+(?:[-_./][a-z0-9]+)*")
_LATIN_WORD = re.compile(r"[a-z]{3,}")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass
class Claim:
    """One sentence of a generated answer with the passage numbers cited after it."""

    text: str  # the sentence without citation markers, sanitised
    cited: list[int]  # passage numbers as written (may include ones that do not exist)
    line: int  # index of the output line it came from
    prefix: str = ""  # list bullet of that line, if any
    supported: list[int] = field(default_factory=list)  # cited passages that support it
    scores: dict[int, float] = field(default_factory=dict)


def marker_numbers(marker: str) -> list[int]:
    """``[1, 2]`` / ``［３］`` → ``[1, 2]`` / ``[3]``."""
    return [int(n) for n in re.findall(r"[0-9０-９]+", marker)]


def split_claims(text: str) -> list[Claim]:
    """Sentences of ``text`` (already sanitised) with their citations, in order.

    A model-written source list (a "Sources"/"出典" heading, or lines that start with a
    citation number and name a guide path) ends the answer: the real one is appended later.
    """
    claims: list[Claim] = []
    for line_no, raw in enumerate(text.splitlines()):
        if _SOURCES_HEADING.match(raw):
            break
        if _SOURCE_ENTRY.match(raw) and "›" in raw:
            continue
        line = raw.strip()
        if not line or set(line) <= set("-*_=#>| "):
            continue
        bullet = _BULLET.match(line)
        prefix = ""
        if bullet:
            prefix = "- "
            line = line[bullet.end() :]
        line = re.sub(r"^#+\s*", "", line)
        start = 0
        pieces: list[str] = []
        for end in _END.finditer(line):
            if end.end() > start:
                pieces.append(line[start : end.end()])
                start = end.end()
        if start < len(line):
            pieces.append(line[start:])
        for piece in pieces:
            cited: list[int] = []
            for marker in MARKER.findall(piece):
                cited += [n for n in marker_numbers(marker) if n not in cited]
            body = MARKER.sub("", piece)
            body = re.sub(r"\s+([。、，,.!?！？])", r"\1", body)
            body = " ".join(body.split()).strip()
            if not re.search(r"\w", body):
                continue
            claims.append(Claim(body, cited, line_no, prefix))
            prefix = ""
    return claims


def looks_like_injection(text: str) -> bool:
    """True for sentences that echo prompt-injection wording."""
    return bool(_INJECTION.search(unicodedata.normalize("NFKC", text)))


def ungrounded_tokens(claim: str, evidence: str) -> list[str]:
    """Numbers, codes (and in Japanese claims, Latin words) of ``claim`` missing from ``evidence``."""
    folded_claim = fold(claim)
    folded_evidence = fold(evidence)
    missing = [t for t in _CODE.findall(folded_claim) if any(c.isdigit() for c in t) and t not in folded_evidence]
    if _JAPANESE.search(claim):
        missing += [w for w in _LATIN_WORD.findall(folded_claim) if w not in folded_evidence]
    return missing


def overlap(claim: str, passage: str) -> float:
    """Share of the claim's distinct keyword terms (CJK bigrams, Latin words) found in ``passage``."""
    terms = set(_TERMS.tokenize(claim))
    if not terms:
        return 0.0
    return len(terms & set(_TERMS.tokenize(passage))) / len(terms)


def same_script(claim: str, passage: str) -> bool:
    """True when claim and passage are both Japanese or both Latin-script (overlap can compare them)."""
    return bool(_JAPANESE.search(claim)) == bool(_JAPANESE.search(passage))


@dataclass(frozen=True)
class Evidence:
    """What a claim may be checked against for one passage."""

    text: str  # the chunk text
    context: str  # where the claim's identifiers may come from: chunk, heading path, guide label
    unit_vectors: np.ndarray  # normalised embeddings of the passage's sentences (from the index), (n, d)
    vector: np.ndarray | None = None  # normalised embedding of the whole passage, (d,)


def cross_lingual_similarity(claim_vector: np.ndarray, ev: Evidence) -> float:
    """Mean of the best sentence cosine and the whole-passage cosine."""
    best_unit = float(np.max(ev.unit_vectors @ claim_vector)) if len(ev.unit_vectors) else 0.0
    whole = float(ev.vector @ claim_vector) if ev.vector is not None else best_unit
    return (best_unit + whole) / 2


def needs_embedding(claim: Claim, evidence: dict[int, Evidence]) -> bool:
    """True when some cited passage is in another script, so only embeddings can compare them."""
    return any(n in evidence and not same_script(claim.text, evidence[n].text) for n in claim.cited)


def verify_claims(
    claims: Sequence[Claim],
    evidence: dict[int, Evidence],
    claim_vectors: dict[int, np.ndarray] | None = None,
    cross_lingual_threshold: float | None = None,
) -> list[Claim]:
    """Fill ``supported``/``scores`` of every claim; return the claims that survive, in order.

    ``claim_vectors`` maps a claim's index to its query embedding; it is needed only for the
    claims for which :func:`needs_embedding` is true (others are judged by overlap), and they
    pass when the similarity reaches ``cross_lingual_threshold`` (fitted per embedding model;
    None: such claims cannot be verified).
    """
    kept: list[Claim] = []
    for i, claim in enumerate(claims):
        claim.supported, claim.scores = [], {}
        if looks_like_injection(claim.text):
            continue
        for number in claim.cited:
            ev = evidence.get(number)
            if ev is None:  # an invented passage number
                continue
            if ungrounded_tokens(claim.text, ev.context):
                claim.scores[number] = 0.0
                continue
            if same_script(claim.text, ev.text):
                score = overlap(claim.text, ev.text)
                ok = score >= OVERLAP_THRESHOLD
            else:
                vector = (claim_vectors or {}).get(i)
                score = cross_lingual_similarity(vector, ev) if vector is not None else 0.0
                ok = cross_lingual_threshold is not None and score >= cross_lingual_threshold
            claim.scores[number] = round(score, 4)
            if ok:
                claim.supported.append(number)
        if claim.supported:
            kept.append(claim)
    return kept
