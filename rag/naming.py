"""How questions name guides: aliases from a guide's title, label and slug."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .documents import Guide
from .normalization import fold

_LATIN_ALIAS = re.compile(r"^[a-z0-9][a-z0-9 .&+/-]*$")
_PAREN = re.compile(r"[（(]([^）)]*)[)）]")


def aliases_of(guide: Guide) -> tuple[str, ...]:
    """Folded names a question may use for ``guide``.

    The title with and without its parenthesised part, the parenthesised part, the short
    label, and the slug read as English words (``data_scientist`` → "data scientist").
    """
    names = {fold(guide.title), fold(guide.label), fold(_PAREN.sub("", guide.title))}
    names.update(fold(m) for m in _PAREN.findall(guide.title))
    names.add(fold(guide.slug.replace("_", " ").replace("-", " ")))
    return tuple(sorted(n for n in names if len(n) >= 2))


def named_guides(question: str, aliases: Sequence[tuple[str, ...]]) -> set[int]:
    """Positions (in ``aliases`` order) of the guides a question names."""
    text = fold(question)
    found: set[int] = set()
    for position, names in enumerate(aliases):
        for name in names:
            if _LATIN_ALIAS.match(name):
                if re.search(rf"(?<![a-z0-9]){re.escape(name)}(?:s|es)?(?![a-z0-9])", text):
                    found.add(position)
                    break
            elif name in text:
                found.add(position)
                break
    return found
