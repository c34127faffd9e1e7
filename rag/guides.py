"""Reading guides: Markdown files with a JSON (``---json``), YAML (``---``) or TOML (``+++``) front matter."""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import frontmatter
from frontmatter.default_handlers import BaseHandler, JSONHandler, YAMLHandler

from .documents import Guide
from .errors import GuideError, NoGuidesError

log = logging.getLogger("rag.guides")

GUIDE_SUFFIXES = (".md", ".markdown")
MAX_METADATA_DEPTH = 20
_SLUG = re.compile(r"^[\w][\w.-]{0,79}$")
_H1 = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_TRAILING_PAREN = re.compile(r"[（(]\s*([A-Za-z][A-Za-z0-9 .&/+-]{0,23}?)\s*[)）]\s*$")


class FencedJSONHandler(BaseHandler):
    """Front matter opened by a ``---json`` line, closed by ``---``, holding one JSON object."""

    FM_BOUNDARY = re.compile(r"^---json[ \t]*$", re.MULTILINE)
    _BLOCK = re.compile(r"\A---json[ \t]*\n(.*?)^---[ \t]*$", re.MULTILINE | re.DOTALL)
    START_DELIMITER = "---json"
    END_DELIMITER = "---"

    def split(self, text: str) -> tuple[str, str]:
        """Front matter and body; ``ValueError`` when the block is never closed."""
        match = self._BLOCK.match(text)
        if match is None:
            raise ValueError("front matter opened with '---json' on line 1 is never closed by a '---' line")
        return match.group(1), text[match.end() :]

    def load(self, fm: str) -> Any:
        """Parse strict JSON (no NaN or Infinity)."""
        return json.loads(fm, parse_constant=_reject_constant)

    def export(self, metadata: dict[str, object], **kwargs: object) -> str:
        """Metadata as indented JSON."""
        return json.dumps(metadata, ensure_ascii=False, indent=2)


class TOMLHandler(BaseHandler):
    """``+++`` TOML front matter parsed with the standard library's :mod:`tomllib`."""

    FM_BOUNDARY = re.compile(r"^\+\+\+\s*$", re.MULTILINE)
    START_DELIMITER = END_DELIMITER = "+++"

    def load(self, fm: str) -> Any:
        """Parse TOML."""
        return tomllib.loads(fm)

    def export(self, metadata: dict[str, object], **kwargs: object) -> str:
        """Not needed: guides are only read."""
        raise NotImplementedError("writing TOML front matter is not supported")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


_HANDLERS: tuple[BaseHandler, ...] = (FencedJSONHandler(), YAMLHandler(), TOMLHandler(), JSONHandler())


@dataclass(frozen=True)
class SkippedGuide:
    """A guide file left out of the index, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"skipped {self.path}: {self.reason}"


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_METADATA_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _json_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    """Dates and other YAML/TOML types become strings; non-finite numbers are refused."""
    text = json.dumps(metadata, ensure_ascii=False, default=str, allow_nan=True)
    return json.loads(text, parse_constant=_reject_constant)


def _decode(path: Path, raw: bytes, max_bytes: int) -> str:
    if len(raw) > max_bytes:
        raise GuideError(
            path,
            f"file is {len(raw) / 1e6:.1f} MB, over the {max_bytes / 1e6:.1f} MB limit "
            "(max_guide_bytes); split it into several guides",
        )
    if b"\x00" in raw:
        raise GuideError(path, "binary file (contains NUL bytes), not a Markdown guide")
    if raw.startswith(codecs.BOM_UTF8):
        raise GuideError(path, "starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise GuideError(path, f"not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8") from None
    if "\r" in text:
        raise GuideError(
            path, "uses CR or CRLF line endings; convert it to LF (for example: sed -i 's/\\r$//' FILE)"
        )
    return text


def _split_front_matter(path: Path, text: str) -> tuple[dict[str, Any], str, int]:
    """Metadata, body and the 1-based line number where the body starts."""
    handler = frontmatter.detect_format(text, _HANDLERS)
    if handler is None:
        return {}, text, 1
    try:
        fm, body = handler.split(text)
    except ValueError as exc:
        message = str(exc) if isinstance(handler, FencedJSONHandler) else "front matter block is never closed"
        raise GuideError(path, message) from None
    try:
        metadata = handler.load(fm)
    except RecursionError:
        raise GuideError(path, f"front matter is nested deeper than {MAX_METADATA_DEPTH} levels") from None
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise GuideError(path, f"front matter is not valid: {exc}") from None
    except Exception as exc:  # YAML errors and anything a parser may raise on hostile input
        raise GuideError(path, f"front matter is not valid: {type(exc).__name__}: {exc}") from None
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise GuideError(path, f"front matter must be an object of keys and values, not a {type(metadata).__name__}")
    if _depth(metadata) > MAX_METADATA_DEPTH:
        raise GuideError(path, f"front matter is nested deeper than {MAX_METADATA_DEPTH} levels")
    try:
        metadata = _json_safe(metadata)
    except ValueError as exc:
        raise GuideError(path, f"front matter is not valid: {exc}") from None
    start_line = text.count("\n", 0, len(text) - len(body)) + 1
    return metadata, body, start_line


def _label(metadata: dict[str, Any], title: str) -> str:
    for key in ("short_title", "label", "short_name"):
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    match = _TRAILING_PAREN.search(title)
    return match.group(1).strip() if match else title


def read_guide(path: Path, *, max_bytes: int = 2_000_000) -> Guide:
    """Parse one guide file; raise :class:`GuideError` naming the file and the reason."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GuideError(path, f"cannot be read: {exc.strerror or exc}") from None
    text = _decode(path, raw, max_bytes)
    metadata, body, start_line = _split_front_matter(path, text)
    if not body.strip():
        raise GuideError(path, "has no body text after the front matter")
    slug = metadata.get("slug", path.stem)
    if not isinstance(slug, str) or not _SLUG.match(slug):
        raise GuideError(path, f"slug {slug!r} must be 1-80 letters, digits, '_', '-' or '.'")
    h1 = _H1.search(body)
    title = metadata.get("title")
    if not isinstance(title, str) or not title.strip():
        title = h1.group(1) if h1 else slug
    title = title.strip()
    return Guide(
        slug=slug,
        title=title,
        label=_label(metadata, title),
        path=str(path),
        content_hash=hashlib.sha256(raw).hexdigest(),
        metadata=metadata,
        body=body,
        body_start_line=start_line,
    )


def guide_files(seeds_dir: Path) -> list[Path]:
    """Markdown files under ``seeds_dir`` (recursively, hidden ones excluded), sorted."""
    seeds_dir = Path(seeds_dir)
    if not seeds_dir.is_dir():
        raise NoGuidesError(f"seeds folder {seeds_dir} does not exist; create it and put guides (*.md) in it")
    files = [
        p
        for p in seeds_dir.rglob("*")
        if p.suffix.lower() in GUIDE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(seeds_dir).parts)
    ]
    return sorted(files)


def load_guides(
    seeds_dir: Path, *, strict: bool = False, max_bytes: int = 2_000_000
) -> tuple[list[Guide], list[SkippedGuide]]:
    """Read every guide; malformed ones are skipped with a warning (an error when ``strict``)."""
    guides: list[Guide] = []
    skipped: list[SkippedGuide] = []
    seen: dict[str, Path] = {}
    for path in guide_files(seeds_dir):
        try:
            guide = read_guide(path, max_bytes=max_bytes)
            if guide.slug in seen:
                raise GuideError(path, f"slug {guide.slug!r} is already used by {seen[guide.slug]}")
        except GuideError as exc:
            if strict:
                raise
            skipped.append(SkippedGuide(path, exc.reason))
            log.warning("skipped guide %s: %s", path, exc.reason)
            continue
        seen[guide.slug] = path
        guides.append(guide)
    if not guides:
        detail = f" ({len(skipped)} skipped: {skipped[0]})" if skipped else ""
        raise NoGuidesError(f"no usable guide (*.md) in {seeds_dir}{detail}")
    return guides, skipped


def finite(value: float) -> bool:
    """True for a finite float (used when validating numeric metadata)."""
    return math.isfinite(value)
