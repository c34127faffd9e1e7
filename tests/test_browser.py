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
    """The app over the seed guide and the security-engineer guide (a related job of the CISO
    guide, so that its link can be followed); yields (url, data_dir)."""
    import shutil

    from rag import Assistant
    from rag.web import serve

    seeds = tmp_path_factory.mktemp("browser-seeds")
    shutil.copy(REPO / "seeds" / "ciso.md", seeds / "ciso.md")
    shutil.copy(REPO / "eval" / "guides" / "security_engineer.md", seeds / "security_engineer.md")
    data_dir = tmp_path_factory.mktemp("browser-data")
    settings = seed_assistant.settings.replace(
        seeds_dir=seeds, index_dir=tmp_path_factory.mktemp("browser-index"), data_dir=data_dir
    )
    assistant = Assistant(settings, embedder=embedder)
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


def wait_answers(page, count: int) -> None:
    """Wait until ``count`` answers with sources are in the chat and nothing is pending."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"() => document.querySelectorAll('#chat .rag-sources').length >= {count}", timeout=60_000
        )
    except PlaywrightTimeout:
        messages = [m[:80] for m in page.locator("#chat .message-row").all_inner_texts()]
        raise AssertionError(f"answer {count} with sources never came; the chat: {messages}") from None
    page.wait_for_function("() => !document.querySelector('#chat .pending')", timeout=30_000)


def shown(locator) -> bool:
    """True once ``locator`` is visible: waits for it (page timeout) instead of reading the
    page at one instant, so a component that renders a moment after another is not a failure."""
    locator.wait_for(state="visible")
    return locator.is_visible()


def ask(page, question: str, answers_before: int) -> None:
    """Type a question, send it, and wait until the answer's source block has arrived."""
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    wait_answers(page, answers_before + 1)


def wait_line(path: Path, timeout: float = 15.0) -> dict:
    """The last complete line of a JSONL file, once one has been written (not just the file)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            text = path.read_text(encoding="utf-8")
            if text.endswith("\n") and text.strip():
                return json.loads(text.splitlines()[-1])
        time.sleep(0.1)
    raise AssertionError(f"no complete line in {path} after {timeout} s")


def test_chat_flow_sources_shapes_next_questions_and_feedback(browser, seed_server):
    url, data_dir = seed_server
    context, page = open_page(browser, url)
    try:
        assert shown(page.get_by_text("キャリアガイド・アシスタント").first)
        assert shown(page.get_by_text("What does a CISO do during a security incident?").first)

        ask(page, "インシデント対応で CISO は何をする？", 0)
        chat = page.locator("#chat")
        assert chat.get_by_text("インシデント発生時の最高責任者").first.is_visible()
        path = chat.locator(".rag-source-path").filter(has_text="インシデント対応と危機管理").first
        assert path.is_visible() and "CISO ›" in path.inner_text()

        # open the first source's full section
        source = chat.locator(".rag-source").filter(has_text="インシデント対応と危機管理").first
        section_text = source.locator(".rag-section-text")
        assert not section_text.is_visible()
        source.locator(".rag-section > summary").click()
        section_text.wait_for(state="visible")
        assert "CSIRT" in section_text.inner_text()

        # related jobs: the indexed one is a button that filters the chat, the others plain text
        page.locator("#related-jobs").get_by_text("セキュリティエンジニア").first.click()
        page.wait_for_function(
            "() => document.querySelector('#guide-filter input').value === 'セキュリティエンジニア'"
        )
        assert "compliance manager" in page.locator("#related-plain").inner_text()  # not a slug
        page.locator("#guide-filter input").click()
        page.get_by_role("option", name="すべてのガイド / all guides").click()
        page.wait_for_function(
            "() => document.querySelector('#guide-filter input').value === 'すべてのガイド / all guides'"
        )

        # a suggested next question is clickable and answered from its section
        offered = page.locator("#next-questions").get_by_text("について教えて")
        assert 2 <= offered.count() <= 4
        topic = re.search(r"「(.+)」", offered.first.inner_text()).group(1)
        offered.first.click()
        wait_answers(page, 2)
        assert topic in chat.locator(".rag-sources").nth(1).locator(".rag-source-path").first.inner_text()

        # a list answer shows every interview question; a table answer renders a table
        ask(page, "CISOの面接でよく聞かれる質問を全部教えて", 2)
        page.wait_for_function("() => document.querySelectorAll('#chat li').length >= 15")
        assert chat.get_by_text("ゼロトラストモデルをどのように実装しますか？").first.is_visible()
        ask(page, "CISOまでのキャリア段階を表で比較して", 3)
        table = chat.locator("table").last
        table.wait_for()
        assert table.get_by_text("セキュリティアナリスト").first.is_visible()

        REPO.joinpath("test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / "chat.png"), full_page=True)
        if os.environ.get("RAG_UPDATE_SCREENSHOT") == "1":  # refresh the README picture on request
            page.screenshot(path=str(REPO / "docs" / "screenshot.png"), full_page=True)

        # like the first answer: one complete record lands in feedback.jsonl
        chat.get_by_role("button", name=re.compile(r"^(Like|いいね)$")).first.click()  # label follows the locale
        record = wait_line(Path(data_dir) / "feedback.jsonl")
        assert record["vote"] == "like"
        assert record["question"] == "インシデント対応で CISO は何をする？"
        assert any("インシデント対応と危機管理" in p for p in record["paths"])
        assert "<details" not in record["answer"]

        # a huge question is refused in the chat, not echoed back whole
        page.locator("#question textarea").fill("あ" * 5000)
        page.locator("#question textarea").press("Enter")
        page.get_by_text("この質問にはお答えできません").first.wait_for()
    finally:
        context.close()


def test_the_next_question_is_typed_and_sent_while_an_answer_arrives(browser, seed_server):
    url, _ = seed_server
    context, page = open_page(browser, url)
    try:
        box = page.locator("#question textarea")
        box.fill("CISOに必要なスキルは？")
        box.press("Enter")
        page.locator("#chat .message-row").filter(has_text="CISOに必要なスキルは？").first.wait_for()
        assert box.input_value() == ""  # emptied in the browser as soon as the question was taken
        # typed and sent at once, while the first answer may still be on its way: neither wiped by
        # that answer's updates nor dropped, it is answered after it (test_web checks the events'
        # configuration that guarantees it whatever the timing)
        box.fill("CISOの面接でよく聞かれる質問を全部教えて")
        box.press("Enter")
        wait_answers(page, 2)
        rows = page.locator("#chat .message-row").all_inner_texts()
        assert len(rows) == 4 and rows[0].startswith("CISOに必要なスキルは？")
        assert rows[2].startswith("CISOの面接でよく聞かれる質問を全部教えて") and "15件" in rows[3]
    finally:
        context.close()


def test_conversation_survives_a_reload_until_a_new_chat(browser, seed_server):
    url, _ = seed_server
    context, page = open_page(browser, url)
    try:
        ask(page, "CISOに必要なスキルは？", 0)
        # the conversation is written to the browser's storage after the answer is shown
        page.wait_for_function(
            "() => (localStorage.getItem('rag-guides-conversation') || '').length > 100", timeout=15_000
        )
        page.reload()
        page.locator("#question textarea").wait_for()
        wait_answers(page, 1)  # the saved conversation is back
        assert page.locator("#chat").get_by_text("CISOに必要なスキルは？").first.is_visible()

        other, other_page = open_page(browser, url)  # another browser sees nothing of it
        try:
            other_page.wait_for_timeout(1_000)
            assert other_page.locator("#chat .rag-sources").count() == 0
        finally:
            other.close()

        page.locator("#new-chat").click()
        page.wait_for_function("() => document.querySelectorAll('#chat .rag-sources').length === 0")
        page.reload()
        page.locator("#question textarea").wait_for()
        page.wait_for_timeout(1_000)
        assert page.locator("#chat .rag-sources").count() == 0
    finally:
        context.close()


def test_library_lists_guides_opens_a_section_and_asks_about_it(browser, seed_server):
    url, _ = seed_server
    context, page = open_page(browser, url)
    try:
        page.get_by_role("tab", name="ガイド一覧 / Library").click()
        overview = page.locator("#library-overview")
        assert shown(overview.get_by_text("最高情報セキュリティ責任者（CISO）").first)
        assert shown(overview.get_by_text("セキュリティエンジニア").first)
        page.locator("#library-guide input").click()
        page.get_by_role("option", name="最高情報セキュリティ責任者（CISO）").click()
        info = page.locator("#guide-info")
        info.get_by_text("ISO 27001").first.wait_for()  # tags from the front matter
        assert "セクション" in info.inner_text()
        page.locator("#toc").get_by_text("3. インシデント対応と危機管理（クライシスマネジメント）").click()
        page.locator("#section-view").get_by_text("CSIRT").first.wait_for()
        REPO.joinpath("test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=str(REPO / "test-artifacts" / "library.png"), full_page=True)
        if os.environ.get("RAG_UPDATE_SCREENSHOT") == "1":
            page.screenshot(path=str(REPO / "docs" / "library.png"), full_page=True)
        page.locator("#ask-section").click()
        wait_answers(page, 1)
        assert "3. インシデント対応と危機管理" in page.locator("#chat .rag-source-path").first.inner_text()
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
