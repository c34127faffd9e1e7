"""The Gradio chat app: streamed, cited answers over the guides (no retrieval logic here)."""

from __future__ import annotations

import logging
import os
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


def _refusal(exc: Exception) -> str:
    return (
        "⚠️ この質問にはお答えできません / This question cannot be answered.\n\n"
        f"{display_question(str(exc))}\n\n"
        "質問を短くするか、ガイドを選び直してください。/ Please shorten the question or pick another guide."
    )


def build_app(assistant: Any) -> gr.Blocks:
    """The chat UI and the ``ask`` API endpoint over ``assistant`` (a :class:`rag.Assistant`)."""
    guides = assistant.guides()
    choices = [(ALL_GUIDES_LABEL, ALL_GUIDES)] + [(g.title or g.label, g.slug) for g in guides]
    feedback = FeedbackLog(assistant.settings.data_dir)

    def respond(question: str, messages: list[dict[str, Any]] | None, guide: str | None) -> Iterator[tuple[str, list]]:
        """Stream a cited answer into the chat; earlier turns make follow-ups work."""
        question = question if isinstance(question, str) else ""
        messages = list(messages or [])
        history = history_from_messages(messages)
        slug = None if not guide or guide == ALL_GUIDES else guide
        chat = [*messages, {"role": "user", "content": display_question(question)}]
        reply = {"role": "assistant", "content": "…"}
        yield "", [*chat, reply]
        text = ""
        try:
            for event in assistant.stream(question, history=history or None, guide=slug):
                if isinstance(event, str):
                    text += event
                    reply = {"role": "assistant", "content": render_partial(text) or "…"}
                else:
                    reply = {"role": "assistant", "content": render_answer(event)}
                yield "", [*chat, reply]
        except QuestionError as exc:
            yield "", [*chat, {"role": "assistant", "content": _refusal(exc)}]
        except Exception:  # never a traceback in the chat
            log.exception("answering failed")
            yield "", [
                *chat,
                {
                    "role": "assistant",
                    "content": "⚠️ 回答の作成中にエラーが発生しました。もう一度お試しください。/ Something went wrong; please try again.",
                },
            ]

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

    def ask(question: str, guide: str = "") -> dict:
        """Answer one career question from the guides, with numbered citations.

        Args:
            question: the question, in Japanese or English (at most 2000 characters).
            guide: optional guide slug to search only that guide; empty for all guides.

        Returns:
            A dict with "text" (Markdown answer with [n] markers), "citations" (list of
            {"number", "section", "quote"}) and "abstained" (true when the guides do not cover it).
        """
        slug = None if not guide or guide == ALL_GUIDES else guide
        try:
            answer = assistant.ask(question if isinstance(question, str) else "", guide=slug)
        except QuestionError as exc:
            return {"text": str(exc), "citations": [], "abstained": True, "error": str(exc)}
        return {
            "text": answer.text,
            "citations": [{"number": c.number, "section": c.path, "quote": c.quote} for c in answer.citations],
            "abstained": answer.abstained,
        }

    with gr.Blocks(title="キャリアガイド・アシスタント", analytics_enabled=False, fill_height=True) as app:
        gr.Markdown(HEADER, elem_id="header")
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
            height=560,
            sanitize_html=True,
            render_markdown=True,
            latex_delimiters=[],
            allow_tags=False,
            feedback_options=("Like", "Dislike"),
            buttons=["copy"],
            placeholder="キャリアガイドについて質問してください。/ Ask about the career guides.",
        )
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

        gr.on(
            triggers=[question.submit, send.click],
            fn=respond,
            inputs=[question, chatbot, guide],
            outputs=[question, chatbot],
            api_name="chat",
            api_description="Stream a cited answer into the chat (question, chat history, guide slug or __all__).",
            show_progress="minimal",
        )
        new_chat.click(lambda: ([], ""), outputs=[chatbot, question], api_visibility="private", queue=False)
        chatbot.like(on_like, inputs=[chatbot], outputs=None, api_visibility="private")
        gr.api(ask, api_name="ask")
    return app


__all__ = ["ALL_GUIDES", "ALL_GUIDES_LABEL", "EXAMPLES", "build_app"]
