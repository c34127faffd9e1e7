"""Text clean-up shared by questions and guides: invisible characters out, NFKC for matching."""

from __future__ import annotations

import re
import unicodedata

# C0/C1 controls except tab and newline, zero-width and bidi controls, BOM, Unicode tag characters.
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u200b-\u200f"  # zero-width space/joiners, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u2064"  # word joiner, invisible operators
    "\u2066-\u2069"  # bidi isolates
    "\ufeff"
    "\U000e0000-\U000e007f"  # tag characters
    "]"
)
_SPACES = re.compile(r"[ \t\r\u3000\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")


def strip_invisible(text: str) -> str:
    """Remove control, zero-width, bidi-override and tag characters; keep newlines and tabs."""
    text = text.replace("\r\n", "\n").replace("\r", " ")
    return _INVISIBLE.sub("", text)


def clean_question(text: str) -> str:
    """A question as displayed: invisible characters removed, whitespace collapsed to one line."""
    text = strip_invisible(text)
    return " ".join(text.split())


def fold(text: str) -> str:
    """Matching form: NFKC, lower case, whitespace collapsed. Displayed text keeps the original."""
    text = unicodedata.normalize("NFKC", strip_invisible(text)).lower()
    return _SPACES.sub(" ", text).strip()


_MARKDOWN_NOISE = re.compile(r"(\*\*|__|`|^\s*[*+-]\s+|^\s*#+\s*|^\s*>\s?)", re.MULTILINE)
_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")


def plain(text: str) -> str:
    """Markdown reduced to its words (emphasis, bullets and link targets dropped) for embedding."""
    text = _LINK.sub(r"\1", text)
    text = _MARKDOWN_NOISE.sub("", text)
    text = _BLANK_LINES.sub("\n", text)
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


_LATIN = re.compile(r"[A-Za-z]")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def detect_language(text: str) -> str:
    """``"en"`` for questions written in Latin script without Japanese characters, else ``"ja"``."""
    if _JAPANESE.search(text):
        return "ja"
    return "en" if len(_LATIN.findall(text)) >= 2 else "ja"
