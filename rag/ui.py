"""The Gradio app: a chat with cited answers, next questions and related jobs, and a library of
the indexed guides. No retrieval logic here: everything comes from :class:`rag.Assistant`.

Public API endpoints (and MCP tools with ``--mcp``) are only ``ask`` and ``search``; the chat
handler, feedback and navigation events are private to the page.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported

import gradio as gr  # noqa: E402

from .errors import QuestionError  # noqa: E402
from .feedback import FeedbackLog  # noqa: E402
from .rendering import (  # noqa: E402
    cited_paths,
    display_question,
    history_from_messages,
    message_text,
    neutralize_markdown,
    plain_text,
    render_answer,
    render_partial,
)

log = logging.getLogger("rag.ui")

#: Dropdown value meaning "search every guide".
ALL_GUIDES = "__all__"
ALL_GUIDES_LABEL = "すべてのガイド / all guides"

EXAMPLES = [
    "インシデント対応で CISO は何をする？",
    "CISOに必要なスキルは？",
    "CISOになるにはどんなキャリアパスがありますか？",
    "What does a CISO do during a security incident?",
]

HEADER = """\
# キャリアガイド・アシスタント / Career guide assistant
収録されたキャリアガイドだけをもとに回答します。各文の **[n]** は出典番号です。下の「出典 / Sources」から引用箇所とセクション全文を確認できます。
*Answers come only from the guides; every claim cites its section.*
"""

CSS = """
.rag-sources { margin-top: .5em; }
.rag-source { border-left: 3px solid var(--color-accent, #f97316); padding-left: .6em; margin: .5em 0; }
.rag-source-path { margin: .2em 0; font-size: .95em; }
.rag-lines { color: var(--body-text-color-subdued, #666); font-size: .85em; }
.rag-quote { margin: .2em 0 .3em 0; font-size: .92em; }
.rag-section-text { font-size: .9em; padding: .4em; background: var(--background-fill-secondary, #f6f6f6); }
"""

_SAVED_KEY = "rag-guides-conversation"
# runs in the browser before an answer is asked for: passes the inputs on unchanged and empties
# the question box (through an input event, so the component's value follows)
_TAKE_QUESTION = """(question, chat, guide, pin) => {
    const box = document.querySelector('#question textarea');
    if (box) { box.value = ''; box.dispatchEvent(new Event('input', { bubbles: true })); }
    return [question, chat, guide, pin];
}"""


def _refusal(exc: Exception) -> str:
    return (
        "⚠️ この質問にはお答えできません / This question cannot be answered.\n\n"
        f"{display_question(str(exc))}\n\n"
        "質問を短くするか、ガイドを選び直してください。/ Please shorten the question or pick another guide."
    )


_FAILURE = "⚠️ 回答の作成中にエラーが発生しました。もう一度お試しください。/ Something went wrong; please try again."


def _samples(texts: list[str]) -> Any:
    return gr.Dataset(samples=[[t] for t in texts], visible=bool(texts))


def build_app(assistant: Any) -> gr.Blocks:
    """The chat UI, the guide library and the ``ask``/``search`` API over ``assistant``."""
    guides = assistant.guides()
    choices = [(ALL_GUIDES_LABEL, ALL_GUIDES)] + [(g.title or g.label, g.slug) for g in guides]
    feedback = FeedbackLog(assistant.settings.data_dir)

    # -- chat ----------------------------------------------------------------------------------
    def respond(
        question: str, messages: list[dict[str, Any]] | None, guide: str | None, pin: list[str] | None
    ) -> Iterator[tuple[Any, ...]]:
        """Stream a cited answer into the chat; earlier turns make follow-ups work."""
        question = question if isinstance(question, str) else ""
        messages = list(messages or [])
        history = history_from_messages(messages)
        slug = None if not guide or guide == ALL_GUIDES else guide
        chat = [*messages, {"role": "user", "content": display_question(question)}]
        reply = {"role": "assistant", "content": "…"}
        nothing = (_samples([]), [], _samples([]), [], "")
        yield ([*chat, reply], *nothing, gr.skip(), None)
        text = ""
        answer = None
        try:
            for event in assistant.stream(question, history=history or None, guide=slug, section=pin or None):
                if isinstance(event, str):
                    text += event
                    reply = {"role": "assistant", "content": render_partial(text) or "…"}
                    yield ([*chat, reply], *nothing, gr.skip(), None)
                else:
                    answer = event
                    reply = {"role": "assistant", "content": render_answer(event)}
        except QuestionError as exc:
            reply = {"role": "assistant", "content": _refusal(exc)}
        except Exception:  # never a traceback in the chat
            log.exception("answering failed")
            reply = {"role": "assistant", "content": _FAILURE}
        final = [*chat, reply]
        offers = [s.to_dict() for s in answer.suggestions] if answer is not None else []
        linked = [r for r in answer.related_jobs if r.indexed] if answer is not None else []
        unlinked = [r for r in answer.related_jobs if not r.indexed] if answer is not None else []
        plain = ""
        if unlinked:
            plain = "未収録の関連職種 / not in the library: " + "、".join(neutralize_markdown(r.title) for r in unlinked)
        yield (
            final,
            _samples([o["question"] for o in offers]),
            offers,
            _samples([r.title for r in linked]),
            [r.slug for r in linked],
            plain,
            final,
            None,
        )

    def take_suggestion(index: int, offers: list[dict[str, Any]]) -> tuple[str, list[str] | None]:
        """A clicked next question: its text, pinned to the section it was drawn from."""
        if not isinstance(index, int) or not 0 <= index < len(offers or []):
            return "", None
        offer = offers[index]
        return offer["question"], [offer["guide"], *offer["heading_path"]]

    def take_related(index: int, slugs: list[str]) -> Any:
        """A clicked related job filters the chat to its guide."""
        if not isinstance(index, int) or not 0 <= index < len(slugs or []):
            return gr.skip()
        return slugs[index]

    def on_like(messages: list[dict[str, Any]] | None, data: gr.LikeData) -> None:
        """Append the vote, the question, the answer and its cited sections to feedback.jsonl."""
        messages = list(messages or [])
        index = data.index[0] if isinstance(data.index, (list, tuple)) else data.index
        if not isinstance(index, int) or not 0 <= index < len(messages):
            return
        answer = message_text(messages[index].get("content", ""))
        question = next(
            (
                plain_text(message_text(m.get("content", "")))
                for m in reversed(messages[:index])
                if m.get("role") == "user"
            ),
            "",
        )
        vote = "like" if data.liked is True or data.liked == "Like" else "dislike"
        feedback.record(question=question, answer=plain_text(answer), paths=cited_paths(answer), vote=vote)

    def restore(saved: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
        """The conversation saved in this browser (survives a reload)."""
        return [m for m in (saved or []) if isinstance(m, dict) and m.get("role") in ("user", "assistant")]

    # -- library -------------------------------------------------------------------------------
    def library_overview() -> str:
        rows = ["| ガイド / Guide | 説明 / Description | セクション | 索引日時 / Indexed |", "| --- | --- | --- | --- |"]
        for info in assistant.library():
            description = info.description.replace("|", "／").replace("\n", " ")
            rows.append(
                f"| **{neutralize_markdown(info.title)}** | {neutralize_markdown(description[:120])} "
                f"| {info.sections} | {info.indexed_at} |"
            )
        return "\n".join(rows)

    def skipped_overview() -> str:
        if not assistant.skipped:
            return ""
        lines = ["**索引に入らなかったファイル / Skipped files**", ""]
        lines += [f"- `{s.path}`: {neutralize_markdown(s.reason)}" for s in assistant.skipped]
        return "\n".join(lines)

    def show_guide(slug: str | None) -> tuple[str, Any, str]:
        info = next((i for i in assistant.library() if i.slug == slug), None)
        if info is None:
            return "", gr.Radio(choices=[], value=None), ""
        related = "、".join(
            f"{neutralize_markdown(r.title)}" + ("" if r.indexed else "（未収録）") for r in info.related_jobs
        )
        text = "\n\n".join(
            part
            for part in (
                f"### {neutralize_markdown(info.title)}",
                neutralize_markdown(info.description),
                f"**タグ / Tags:** {neutralize_markdown('、'.join(info.tags))}" if info.tags else "",
                f"**キーワード / Keywords:** {neutralize_markdown('、'.join(info.keywords))}" if info.keywords else "",
                f"**関連職種 / Related jobs:** {related}" if related else "",
                f"**セクション / Sections:** {info.sections}　**索引日時 / Indexed:** {info.indexed_at}",
            )
            if part
        )
        toc = [("　" * entry.level + entry.heading_path[-1], json.dumps([slug, *entry.heading_path], ensure_ascii=False))
               for entry in info.toc]
        return text, gr.Radio(choices=toc, value=None), ""

    def show_section(value: str | None) -> str:
        if not value:
            return ""
        slug, *path = json.loads(value)
        section = assistant.section(slug, path)
        if section is None:
            return ""
        return f"#### {neutralize_markdown(' › '.join(path))}\n\n{neutralize_markdown(section.text)}"

    def ask_about_section(value: str | None) -> tuple[str, list[str] | None, Any]:
        if not value:
            return gr.skip(), None, gr.skip()
        slug, *path = json.loads(value)
        from .library import question_about

        snapshot = assistant.snapshot
        index = next(
            (i for i, s in enumerate(snapshot.sections) if s.guide == slug and list(s.heading_path) == path), None
        )
        if index is None:
            return gr.skip(), None, gr.skip()
        return question_about(snapshot, index, "ja"), [slug, *path], gr.Tabs(selected="chat-tab")

    # -- API -----------------------------------------------------------------------------------
    def ask(question: str, guide: str = "") -> dict:
        """Answer one career question from the guides, with numbered citations.

        Args:
            question: the question, in Japanese or English (at most 2000 characters).
            guide: optional guide slug to search only that guide; empty for all guides.

        Returns:
            A dict with "text" (Markdown answer with [n] markers), "citations" (list of
            {"number", "section", "quote"}), "abstained" (true when the guides do not cover it)
            and "suggestions" (next questions the guides answer).
        """
        slug = None if not guide or guide == ALL_GUIDES else guide
        try:
            answer = assistant.ask(question if isinstance(question, str) else "", guide=slug)
        except QuestionError as exc:
            return {"text": str(exc), "citations": [], "abstained": True, "suggestions": [], "error": str(exc)}
        return {
            "text": answer.text,
            "citations": [{"number": c.number, "section": c.path, "quote": c.quote} for c in answer.citations],
            "abstained": answer.abstained,
            "suggestions": [s.question for s in answer.suggestions],
        }

    def search(question: str, guide: str = "", k: int = 5) -> list[dict]:
        """Find the guide passages that best match a question (no answer composed).

        Args:
            question: the question or keywords, in Japanese or English.
            guide: optional guide slug to search only that guide; empty for all guides.
            k: how many passages to return (1 to 20).

        Returns:
            A list of {"section", "text", "score"} dicts, best first.
        """
        slug = None if not guide or guide == ALL_GUIDES else guide
        try:
            hits = assistant.search(question if isinstance(question, str) else "", k=max(1, min(int(k), 20)), guide=slug)
        except (QuestionError, ValueError, TypeError) as exc:
            return [{"error": str(exc)}]
        labels = {g.slug: g.label for g in assistant.guides()}
        return [
            {"section": " › ".join((labels.get(h.chunk.guide, h.chunk.guide), *h.chunk.heading_path)),
             "text": h.chunk.text, "score": round(h.score, 4)}
            for h in hits
        ]

    with gr.Blocks(title="キャリアガイド・アシスタント", analytics_enabled=False, fill_height=True) as app:
        saved = gr.BrowserState([], storage_key=_SAVED_KEY, secret=secrets.token_hex(16))
        pin = gr.State(None)
        offers = gr.State([])
        related_slugs = gr.State([])
        gr.Markdown(HEADER, elem_id="header")
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("チャット / Chat", id="chat-tab", elem_id="chat-tab"):
                guide = gr.Dropdown(
                    choices=choices,
                    value=ALL_GUIDES,
                    label="ガイドで絞り込む / Filter by guide",
                    interactive=True,
                    elem_id="guide-filter",
                )
                chatbot = gr.Chatbot(
                    label="チャット / Chat",
                    elem_id="chat",
                    height=520,
                    sanitize_html=True,
                    render_markdown=True,
                    latex_delimiters=[],
                    allow_tags=False,
                    feedback_options=("Like", "Dislike"),
                    buttons=["copy"],
                    placeholder="キャリアガイドについて質問してください。/ Ask about the career guides.",
                )
                next_questions = gr.Dataset(
                    components=["textbox"], samples=[], type="index", label="次の質問 / Next questions",
                    elem_id="next-questions", visible=False,
                )
                related = gr.Dataset(
                    components=["textbox"], samples=[], type="index", label="関連する職種 / Related jobs",
                    elem_id="related-jobs", visible=False,
                )
                related_plain = gr.Markdown(elem_id="related-plain")
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="質問を入力して Enter / Type a question and press Enter",
                        show_label=False,
                        lines=1,
                        max_lines=6,
                        scale=8,
                        elem_id="question",
                        autofocus=True,
                    )
                    send = gr.Button("送信 / Send", variant="primary", scale=1, elem_id="send")
                new_chat = gr.Button("新しいチャット / New chat", variant="secondary", elem_id="new-chat")
                gr.Examples(examples=EXAMPLES, inputs=[question], label="質問の例 / Example questions")
            with gr.Tab("ガイド一覧 / Library", id="library-tab", elem_id="library-tab"):
                gr.Markdown(library_overview(), elem_id="library-overview")
                pick = gr.Dropdown(
                    choices=[(g.title or g.label, g.slug) for g in guides], value=None,
                    label="ガイドを開く / Open a guide", elem_id="library-guide",
                )
                guide_info = gr.Markdown(elem_id="guide-info")
                toc = gr.Radio(choices=[], label="目次 / Contents", elem_id="toc")
                section_view = gr.Markdown(elem_id="section-view")
                ask_section = gr.Button("このセクションについて質問 / Ask about this section", elem_id="ask-section")
                gr.Markdown(skipped_overview(), elem_id="skipped-files")

        chat_outputs = [chatbot, next_questions, offers, related, related_slugs, related_plain, saved, pin]
        # The question is read when it is sent and the box emptied in the browser at once (not by
        # an update from the server, which would wipe what the reader has started typing for the
        # next question). A question sent while an answer is still on its way is asked when that
        # answer is done: Gradio's default for events ("once") would drop it without a word.
        chat_event = dict(
            fn=respond,
            inputs=[question, chatbot, guide, pin],
            outputs=chat_outputs,
            api_visibility="private",
            show_progress="minimal",
            trigger_mode="always_last",
            js=_TAKE_QUESTION,
        )
        gr.on(triggers=[question.submit, send.click], **chat_event)
        next_questions.click(
            take_suggestion, inputs=[next_questions, offers], outputs=[question, pin], api_visibility="private"
        ).then(**chat_event)
        related.click(take_related, inputs=[related, related_slugs], outputs=[guide], api_visibility="private")
        new_chat.click(
            lambda: ([], "", [], _samples([]), [], _samples([]), [], "", None),
            outputs=[chatbot, question, saved, next_questions, offers, related, related_slugs, related_plain, pin],
            api_visibility="private",
            queue=False,
        )
        chatbot.like(on_like, inputs=[chatbot], outputs=None, api_visibility="private")
        pick.change(show_guide, inputs=[pick], outputs=[guide_info, toc, section_view], api_visibility="private")
        toc.change(show_section, inputs=[toc], outputs=[section_view], api_visibility="private")
        ask_section.click(
            ask_about_section, inputs=[toc], outputs=[question, pin, tabs], api_visibility="private"
        ).then(**chat_event)
        app.load(restore, inputs=[saved], outputs=[chatbot], api_visibility="private")
        gr.api(ask, api_name="ask")
        gr.api(search, api_name="search")
    return app


__all__ = ["ALL_GUIDES", "ALL_GUIDES_LABEL", "EXAMPLES", "build_app"]
