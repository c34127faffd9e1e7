"""The chat app in a real browser (Debian's Chromium through Playwright): flow and XSS safety."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVIL_HOST = "127.0.0.1:9"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (run .ci/install-browser)"),
]

XSS_GUIDE = """---json
{"slug": "xss", "title": "パン職人 <script>window.__canary='hacked'</script>", "category": "test", "tags": ["テスト"]}
---
# パン職人

## 1️⃣ 仕事内容

パン職人は、パン生地の仕込みと焼成を担当します。<script>window.__canary='hacked'</script> 焼成の温度管理も重要です。<img src=x onerror="window.__canary='hacked'"> [危険なリンク](javascript:window.__canary='hacked') ![x](http://127.0.0.1:9/evil.png)

<img src="http://127.0.0.1:9/evil-raw.png"> <a href="javascript:window.__canary='hacked'">生のリンク</a>

### 日々のタスク

朝会で進捗を確認し、発酵温度の記録を行います。![y](http://127.0.0.1:9/evil2.png)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def seed_server(seed_assistant, embedder, tmp_path_factory):
    """The app over the real seed guide; yields (url, data_dir)."""
    from rag import Assistant
    from rag.web import serve

    data_dir = tmp_path_factory.mktemp("browser-data")
    assistant = Assistant(seed_assistant.settings.replace(data_dir=data_dir), embedder=embedder)
    assistant.refresh()
    port = free_port()
    app = serve(assistant, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/", data_dir
    finally:
        app.close()


def open_page(browser, url):
    context = browser.new_context(viewport={"width": 1280, "height": 1100}, locale="ja-JP")
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.add_init_script("window.__canary = 'intact';")
    page.goto(url)
    page.locator("#question textarea").wait_for()
    return context, page


def ask(page, question: str, answers_before: int) -> None:
    """Type a question, send it, and wait until the answer's source block has arrived."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.locator("#chat .rag-sources").nth(answers_before).wait_for(state="visible", timeout=60_000)
    # the stream is over when the question box is empty and nothing is pending
    page.wait_for_function("() => !document.querySelector('#chat .pending')", timeout=30_000)


def test_chat_flow_sources_filter_follow_up_and_feedback(browser, seed_server):
    url, data_dir = seed_server
    context, page = open_page(browser, url)
    try:
        # Japanese interface, examples, guide filter present
        assert page.get_by_text("キャリアガイド・アシスタント").first.is_visible()
        assert page.get_by_text("What does a CISO do during a security incident?").first.is_visible()

        ask(page, "インシデント対応で CISO は何をする？", 0)
        chat = page.locator("#chat")
        assert chat.get_by_text("インシデント発生時の最高責任者").first.is_visible()
        path = chat.locator(".rag-source-path").filter(has_text="インシデント対応と危機管理").first
        assert path.is_visible()
        assert "CISO ›" in path.inner_text()

        # open the first source's full section
        source = chat.locator(".rag-source").filter(has_text="インシデント対応と危機管理").first
        section_text = source.locator(".rag-section-text")
        assert not section_text.is_visible()
        source.locator(".rag-section > summary").click()
        section_text.wait_for(state="visible")
        assert "CSIRT" in section_text.inner_text()

        # the guide filter: pick the CISO guide from its front-matter title
        page.locator("#guide-filter input").click()
        page.get_by_role("option", name="最高情報セキュリティ責任者（CISO）").click()
        assert page.locator("#guide-filter input").input_value() == "最高情報セキュリティ責任者（CISO）"

        # a follow-up that leans on the conversation
        ask(page, "そのために必要なスキルは？", 1)
        assert chat.locator(".rag-sources").count() == 2
        assert chat.locator(".rag-source-path").count() >= 2

        REPO.joinpath("test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / "chat.png"), full_page=True)
        if os.environ.get("RAG_UPDATE_SCREENSHOT") == "1":  # refresh the README picture on request
            page.screenshot(path=str(REPO / "docs" / "screenshot.png"), full_page=True)

        # like the first answer: one record lands in feedback.jsonl
        chat.get_by_role("button", name=re.compile(r"^(Like|いいね)$")).first.click()  # label follows the locale
        feedback = Path(data_dir) / "feedback.jsonl"
        deadline = time.time() + 15
        while not feedback.exists() and time.time() < deadline:
            time.sleep(0.2)
        record = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
        assert record["vote"] == "like"
        assert record["question"] == "インシデント対応で CISO は何をする？"
        assert any("インシデント対応と危機管理" in p for p in record["paths"])
        assert "<details" not in record["answer"]

        # new chat empties the conversation
        page.locator("#new-chat").click()
        page.wait_for_function("() => document.querySelectorAll('#chat .rag-sources').length === 0")
    finally:
        context.close()


def test_no_script_runs_and_no_outside_image_is_fetched(browser, write_guide, make_assistant, tmp_path):
    from rag.web import serve

    write_guide("baker")  # an ordinary guide next to the hostile one
    write_guide("xss", text=XSS_GUIDE)
    assistant = make_assistant(data_dir=tmp_path / "data")
    port = free_port()
    app = serve(assistant, port=port, prevent_thread_lock=True, quiet=True)
    context, page = None, None
    try:
        context, page = open_page(browser, f"http://127.0.0.1:{port}/")
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        hostile_question = (
            "パン職人の仕事内容は？ <script>window.__canary='hacked'</script> "
            "<img src=x onerror=\"window.__canary='hacked'\"> "
            "[link](javascript:window.__canary='hacked') ![q](http://127.0.0.1:9/question.png)"
        )
        ask(page, hostile_question, 0)
        chat = page.locator("#chat")
        assert chat.locator(".rag-source-path").filter(has_text="仕事内容").first.is_visible()
        # the payloads are shown as text, not run
        assert chat.get_by_text("window.__canary='hacked'").first.is_visible()

        # open every source's full section and click every link the chat rendered
        for summary in chat.locator(".rag-section > summary").all():
            summary.click()
        for link in chat.locator("a").all():
            href = link.get_attribute("href") or ""
            if "canary" in href or "javascript" in href.lower() or "hacked" in (link.inner_text() or ""):
                link.click(no_wait_after=True)
        page.wait_for_timeout(1_000)

        assert page.evaluate("window.__canary") == "intact"
        assert not dialogs
        assert chat.locator("script").count() == 0
        assert chat.locator("img[src='x'], img[src*='127.0.0.1:9']").count() == 0
        assert chat.locator("[onerror]").count() == 0
        assert chat.locator("a[href^='javascript']").count() == 0
        assert not [u for u in requests if EVIL_HOST in u], requests
        # the hostile guide title is shown as text in the filter, not run
        page.locator("#guide-filter input").click()
        page.get_by_role("option").filter(has_text="パン職人").first.wait_for()
        assert page.evaluate("window.__canary") == "intact"
        REPO.joinpath("test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / "xss.png"), full_page=True)
    finally:
        if context is not None:
            context.close()
        app.close()
