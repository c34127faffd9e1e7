"""Start the chat web app with safe defaults (used by ``app.py`` and ``rag serve``)."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported anywhere

from .errors import RagError  # noqa: E402
from .settings import Settings  # noqa: E402

#: Requests waiting in the queue beyond this are refused ("queue full") instead of piling up.
QUEUE_MAX_SIZE = 64
#: Answers computed at the same time (the machine has few cores; embedding is CPU-bound).
CONCURRENCY_LIMIT = 2


class AuthError(RagError):
    """``RAG_AUTH`` is set but not formatted ``user:password``."""


def auth_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """Basic-auth credentials from ``RAG_AUTH`` (``user:password``), or None when unset."""
    env = os.environ if environ is None else environ
    raw = env.get("RAG_AUTH", "")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise AuthError("RAG_AUTH must be formatted user:password (both parts non-empty)")
    return user, password


def mcp_available() -> bool:
    """True when the MCP extra (``pip install -e '.[mcp]'``, i.e. ``gradio[mcp]``) is installed."""
    return importlib.util.find_spec("mcp") is not None


def serve(
    assistant: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    mcp: bool = False,
    auth: tuple[str, str] | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
):  # noqa: ANN201 - returns gr.Blocks
    """Build the app for ``assistant`` and launch it; returns the running ``gr.Blocks``.

    ``prevent_thread_lock=True`` returns at once (tests); call ``.close()`` when done.
    """
    from .ui import CSS, build_app

    settings = assistant.settings
    app = build_app(assistant)
    app.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=CONCURRENCY_LIMIT)
    if mcp and not mcp_available():
        print(
            'MCP server not started: the "mcp" package is missing. '
            "Install the extra with: pip install -e '.[mcp]'  (the web app starts without MCP)",
            file=sys.stderr,
        )
        mcp = False
    blocked = [str(Path(p).resolve()) for p in (settings.index_dir, settings.seeds_dir, settings.data_dir)]
    app.launch(
        server_name=host,
        server_port=port,
        auth=auth,
        auth_message="ログインしてください / Please log in" if auth else None,
        share=False,
        inbrowser=False,
        show_error=False,
        prevent_thread_lock=prevent_thread_lock,
        quiet=quiet,
        allowed_paths=[],
        blocked_paths=blocked,
        enable_monitoring=False,
        ssr_mode=False,
        pwa=False,
        mcp_server=mcp,
        max_file_size="1mb",
        css=CSS,
        footer_links=["api"],
    )
    return app


def launch(settings: Settings, *, host: str = "127.0.0.1", port: int = 7860, mcp: bool = False) -> None:
    """Open (building if needed, with a progress bar) the index, then serve the chat app."""
    from .assistant import Assistant

    auth = auth_from_env()  # fail before the slow index build if RAG_AUTH is malformed
    assistant = Assistant(settings)
    report = assistant.refresh(progress=True)
    for skipped in assistant.skipped:
        print(f"warning: {skipped}", file=sys.stderr)
    if report is not None:
        print(f"index built: {report.chunks} chunks in {report.seconds:.1f} s", file=sys.stderr)
    if host not in ("127.0.0.1", "localhost", "::1") and auth is None:
        print(
            f"warning: serving on {host} without a password; set RAG_AUTH=user:password to require one",
            file=sys.stderr,
        )
    serve(assistant, host=host, port=port, mcp=mcp, auth=auth)
