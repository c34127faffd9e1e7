"""Turn answers and citations into chat-safe Markdown and HTML.

Everything shown in the chat passes through here. Guide text and questions are untrusted:

* raw HTML never reaches the browser as markup (``<`` becomes ``&lt;`` outside code);
* Markdown images are turned into plain text, so no outside host is ever fetched;
* links are kept only for ``http``, ``https`` and ``mailto`` (``javascript:``/``data:`` become text);
* the HTML source blocks escape every piece of guide text with :func:`html.escape` and
  entity-encode Markdown syntax characters, so nothing inside them is parsed again.

Gradio's own sanitiser (``sanitize_html=True``) stays on as a second layer.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from typing import Any

#: The heading lines the answerer puts before its plain-text source list.
SOURCES_HEADINGS = ("**出典**", "**Sources**")
#: Start of the HTML sources block inside an assistant message (used to strip it again).
SOURCES_MARKER = '<details class="rag-sources"'
#: A question longer than this is shown shortened in the chat (the server refuses it anyway).
DISPLAY_QUESTION_CHARS = 300

_SAFE_SCHEMES = ("http", "https", "mailto")
_CODE = re.compile(r"(```[\s\S]*?(?:```|$)|~~~[\s\S]*?(?:~~~|$)|`[^`\n]+`)")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'][^\"'\n]*[\"'])?\s*\)")
_LINK = re.compile(r"\[([^\]\n]*)\]\(\s*<?([^)\s>]*)>?((?:\s+[\"'][^\"'\n]*[\"'])?)\s*\)")
_REF_DEF = re.compile(r"^( {0,3}\[[^\]\n]+\]:\s*)(\S+)(.*)$", re.MULTILINE)
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
_DATA_PATH = re.compile(r'data-path="([^"]*)"')


def safe_url(url: str) -> bool:
    """True for links a reader may follow: http(s), mailto, or relative/fragment links."""
    plain = _CONTROL.sub("", html.unescape(url))
    match = _SCHEME.match(plain)
    if not match:
        return not plain.startswith("//") and not plain.startswith("\\\\")
    return match.group(1).lower() in _SAFE_SCHEMES


def _neutralize_prose(text: str) -> str:
    text = text.replace("<", "&lt;")

    def image(m: re.Match[str]) -> str:
        alt, url = m.group(1).strip(), m.group(2)
        label = f"［画像 / image: {alt}］" if alt else "［画像 / image］"
        return f"{label} `{url.replace('`', '')}`" if url else label

    text = _IMAGE.sub(image, text)
    text = text.replace("![", "!\\[")  # reference-style images and anything left over

    def link(m: re.Match[str]) -> str:
        return m.group(0) if safe_url(m.group(2)) else f"{m.group(1)} `{m.group(2).replace('`', '')}`"

    text = _LINK.sub(link, text)

    def ref(m: re.Match[str]) -> str:
        if safe_url(m.group(2)):
            return m.group(0)
        label = m.group(1).replace("[", "\\[")
        target = m.group(2).replace("`", "")
        return f"{label}`{target}`{m.group(3)}"

    return _REF_DEF.sub(ref, text)


def neutralize_markdown(text: str) -> str:
    """Markdown that shows untrusted text without raw HTML, images or unsafe links.

    Code spans and fences are left alone (Markdown shows their content literally).
    """
    parts = _CODE.split(text)
    return "".join(part if i % 2 else _neutralize_prose(part) for i, part in enumerate(parts))


def escape_text(text: str) -> str:
    """Text for inside an HTML block: escaped, Markdown syntax entity-encoded, one line."""
    out = html.escape(text, quote=True)
    for char, entity in (
        ("[", "&#91;"),
        ("]", "&#93;"),
        ("(", "&#40;"),
        (")", "&#41;"),
        ("!", "&#33;"),
        ("*", "&#42;"),
        ("_", "&#95;"),
        ("`", "&#96;"),
        ("~", "&#126;"),
        ("$", "&#36;"),
        ("\\", "&#92;"),
    ):
        out = out.replace(char, entity)
    # A blank line would end the HTML block and let Markdown parse what follows.
    return out.replace("\r\n", "\n").replace("\n", "<br>")


def display_question(question: str) -> str:
    """The reader's question as shown in the chat (shortened if huge, neutralised)."""
    text = question if isinstance(question, str) else str(question)
    if len(text) > DISPLAY_QUESTION_CHARS:
        text = text[:DISPLAY_QUESTION_CHARS] + f"…（{len(question):,} 文字 / characters）"
    return neutralize_markdown(text)


def answer_body(text: str) -> str:
    """The answer text without the answerer's plain source list (the HTML block replaces it)."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() in SOURCES_HEADINGS:
            return "".join(lines[:i]).rstrip() + "\n"
    return text


def sources_html(citations: Sequence[Any], language: str = "ja") -> str:
    """A collapsible block listing each cited section, its quote, and the full section text."""
    if not citations:
        return ""
    lines_word = "行" if language == "ja" else "lines"
    rows = [
        f'{SOURCES_MARKER} open><summary><b>出典 / Sources</b>（{len(citations)}）</summary>',
    ]
    for c in citations:
        path = escape_text(c.path)
        where = ""
        if getattr(c, "line_start", 0):
            where = f'<span class="rag-lines">（{lines_word} {int(c.line_start)}–{int(c.line_end)}）</span>'
        rows.append(
            f'<div class="rag-source" data-number="{int(c.number)}" data-path="{path}">'
            f'<p class="rag-source-path"><b>&#91;{int(c.number)}&#93;</b> {path}{where}</p>'
        )
        if c.quote:
            rows.append(f'<blockquote class="rag-quote">{escape_text(c.quote)}</blockquote>')
        if c.section_text:
            rows.append(
                '<details class="rag-section"><summary>セクション全文を開く / Show full section</summary>'
                f'<div class="rag-section-text">{escape_text(c.section_text)}</div></details>'
            )
        rows.append("</div>")
    rows.append("</details>")
    return "\n".join(rows)


def render_answer(answer: Any) -> str:
    """The final assistant message: answer body, notice, and the HTML sources block."""
    body = neutralize_markdown(answer_body(answer.text) if answer.citations else answer.text).rstrip()
    parts = [body]
    if getattr(answer, "notice", ""):
        parts.append(f"> ⚠️ {neutralize_markdown(answer.notice)}")
    block = sources_html(answer.citations, answer.language)
    if block:
        parts.append(block)
    return "\n\n".join(parts) + "\n"


def render_partial(text: str) -> str:
    """The assistant message while the answer streams in (source list held back)."""
    return neutralize_markdown(answer_body(text))


def message_text(content: Any) -> str:
    """The text of a Gradio message's content (a string or a list of content parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or content.get("content") or "")
    if isinstance(content, Iterable):
        return "".join(message_text(part) for part in content)
    return ""


def plain_text(message: str) -> str:
    """An assistant or user message back as plain text, for history and feedback."""
    text = message.split(SOURCES_MARKER, 1)[0]
    return text.replace("&lt;", "<").rstrip()


def cited_paths(message: str) -> list[str]:
    """The section paths cited in a rendered assistant message."""
    return [html.unescape(p) for p in _DATA_PATH.findall(message)]


def history_from_messages(messages: Sequence[Any] | None) -> list[dict[str, str]]:
    """Chat messages as the ``history`` the Assistant reads (plain text, user/assistant only)."""
    history: list[dict[str, str]] = []
    for message in messages or []:
        role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
        content = message.get("content") if isinstance(message, dict) else getattr(message, "content", "")
        if role in ("user", "assistant"):
            history.append({"role": role, "content": plain_text(message_text(content))})
    return history
