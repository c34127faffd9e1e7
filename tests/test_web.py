"""The web app over a real server: gradio_client, the file route, limits and parallel use."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from rag.feedback import FeedbackLog
from rag.rendering import cited_paths, history_from_messages, message_text, neutralize_markdown, sources_html
from rag.web import AuthError, auth_from_env

INCIDENT_Q = "インシデント対応で CISO は何をする？"
INCIDENT_SECTION = "インシデント対応と危機管理"

QUESTIONS = [
    "インシデント対応で CISO は何をする？",
    "CISOに必要なスキルは？",
    "CISOになるにはどんなキャリアパスがありますか？",
    "CISOの年収は？",
    "CISOは経営層とどう連携する？",
    "CISOの将来性は？",
    "ゼロトラストとは何ですか？",
    "CISOに役立つ資格は？",
    "What does a CISO do during a security incident?",
    "What skills does a CISO need?",
    "CISOとCIOの違いは？",
    "リスク管理でCISOが担う役割は？",
    "セキュリティ文化の醸成とは？",
    "CISOは法務部門とどう協力する？",
    "AIはCISOの仕事をどう変える？",
    "パン屋の開業資金は？",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def web_assistant(seed_assistant, embedder, tmp_path_factory):
    """The seed-guide assistant, with feedback going to a temporary folder."""
    from rag import Assistant

    data_dir = tmp_path_factory.mktemp("web-data")
    assistant = Assistant(seed_assistant.settings.replace(data_dir=data_dir), embedder=embedder)
    assistant.refresh()
    return assistant


@pytest.fixture(scope="module")
def server(web_assistant):
    """One running app for the module: yields its base URL."""
    from rag.web import serve

    port = free_port()
    app = serve(web_assistant, port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def client(server):
    from gradio_client import Client

    # A default client: the ask endpoint's citations use "section", not "path", so
    # gradio_client does not mistake them for files to download.
    return Client(server, verbose=False)


# -- fast unit tests (no server) --------------------------------------------------------------


def test_neutralize_markdown_defuses_html_images_and_script_links():
    text = (
        "a <script>alert(1)</script> <img src=x onerror=alert(1)> ![x](http://127.0.0.1:9/evil.png) "
        "[bad](javascript:alert(1)) [ok](https://example.com) `<b>code</b>`"
    )
    out = neutralize_markdown(text)
    assert "<script" not in out and "<img" not in out
    assert "![" not in out and "](http://127.0.0.1:9" not in out
    assert "](javascript:" not in out
    assert "[ok](https://example.com)" in out
    assert "`<b>code</b>`" in out  # code is shown literally by Markdown, left alone


def test_sources_html_escapes_guide_text():
    from rag.results import Citation

    evil = "<script>x()</script> ![x](http://127.0.0.1:9/e.png)\n\n<img src=x onerror=y()>"
    c = Citation(1, "g", "G<b>", ("H2 <i>", "H3"), quote=evil, line_start=1, line_end=2, section_text=evil)
    block = sources_html([c])
    assert "<script" not in block and "<img" not in block and "<i>" not in block and "G<b>" not in block
    assert "\n\n" not in block  # one HTML block: Markdown never re-parses guide text
    assert "](" not in block and "![" not in block
    assert cited_paths(block) == ["G<b> › H2 <i> › H3"]


def test_history_from_messages_strips_the_sources_block():
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "a &lt; b"}]},
        {"role": "assistant", "content": 'answer [1]\n\n<details class="rag-sources" open>...</details>'},
    ]
    assert history_from_messages(messages) == [
        {"role": "user", "content": "a < b"},
        {"role": "assistant", "content": "answer [1]"},
    ]


def test_feedback_log_appends_one_json_line_per_vote_from_many_threads(tmp_path):
    log = FeedbackLog(tmp_path / "data" / "nested")

    def vote(i: int) -> None:
        for j in range(25):
            log.record(question=f"q{i}-{j}", answer="答え\n[1]", paths=["CISO › A"], vote="like" if j % 2 else "dislike")

    threads = [threading.Thread(target=vote, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = (tmp_path / "data" / "nested" / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    records = [json.loads(line) for line in lines]
    assert {r["vote"] for r in records} == {"like", "dislike"}
    assert set(records[0]) >= {"time", "question", "answer", "paths", "vote"}
    with pytest.raises(ValueError):
        log.record(question="q", answer="a", paths=[], vote="meh")


def test_rag_auth_parsing():
    assert auth_from_env({}) is None
    assert auth_from_env({"RAG_AUTH": "alice:s3cr:et"}) == ("alice", "s3cr:et")
    for bad in ("alice", "alice:", ":pw"):
        with pytest.raises(AuthError):
            auth_from_env({"RAG_AUTH": bad})


# -- the running server ----------------------------------------------------------------------


@pytest.mark.slow
def test_ask_endpoint(client):
    result = client.predict(INCIDENT_Q, "", api_name="/ask")
    assert result["abstained"] is False
    assert "[1]" in result["text"]
    assert set(result["citations"][0]) == {"number", "section", "quote"}
    assert any(INCIDENT_SECTION in c["section"] for c in result["citations"])
    assert 2 <= len(result["suggestions"]) <= 4


@pytest.mark.slow
def test_search_endpoint(client):
    hits = client.predict("EDR の代表的な製品は？", "ciso", 3, api_name="/search")
    assert 1 <= len(hits) <= 3 and hits[0]["section"].startswith("CISO › ")
    assert any("CrowdStrike" in h["text"] for h in hits)


@pytest.mark.slow
def test_only_ask_and_search_are_public(client):
    endpoints = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert endpoints == {"/ask", "/search"}, endpoints  # the chat handler, likes and navigation stay private


@pytest.mark.slow
def test_chat_events_take_the_question_in_the_browser_and_never_drop_one(server):
    import httpx

    config = httpx.get(server + "config", timeout=30).json()
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    chat = [d for d in config["dependencies"] if any(ids.get(o) == "chat" for o in d["outputs"]) and d.get("backend_fn")]
    chat = [d for d in chat if any(ids.get(i) == "question" for i in d["inputs"])]
    assert len(chat) == 3  # typed (Enter or Send), a suggested next question, a library section
    for dependency in chat:
        # queued after a pending answer instead of ignored; the box emptied by the browser, not by an update
        assert dependency["trigger_mode"] == "always_last" and "#question textarea" in dependency["js"]
        assert not any(ids.get(o) == "question" for o in dependency["outputs"])


@pytest.mark.slow
def test_file_route_serves_neither_system_files_nor_the_index_nor_seeds(server, web_assistant):
    import httpx

    index_files = [p for p in Path(web_assistant.settings.index_dir).rglob("*") if p.is_file()]
    assert index_files
    targets = [
        "/etc/passwd",
        str(index_files[0].resolve()),
        str(Path(web_assistant.settings.index_dir).resolve()),
        str((Path(web_assistant.settings.seeds_dir) / "ciso.md").resolve()),
        str(Path(__file__).resolve()),
        "../../../../etc/passwd",
    ]
    with httpx.Client(base_url=server, timeout=10) as http:
        for target in targets:
            for url in (f"gradio_api/file={target}", f"file={target}"):
                response = http.get(url)
                assert response.status_code >= 400, (url, response.status_code)
                assert "root:" not in response.text


@pytest.mark.slow
def test_huge_question_is_refused_clearly(client):
    huge = "あ" * 100_000
    result = client.predict(huge, "", api_name="/ask")
    assert result["abstained"] is True and result["citations"] == []
    assert "2000" in result["error"]
    unknown = client.predict(INCIDENT_Q, "no-such-guide", api_name="/ask")
    assert "no-such-guide" in unknown["error"]
    # the server is still fine afterwards
    assert client.predict(INCIDENT_Q, "", api_name="/ask")["citations"]


@pytest.mark.slow
def test_parallel_questions_match_answers_given_one_at_a_time(client):
    one_by_one = {q: client.predict(q, "", api_name="/ask")["text"] for q in QUESTIONS}
    start = time.perf_counter()
    jobs = [client.submit(q, "", api_name="/ask") for q in QUESTIONS]
    results = [job.result(timeout=180) for job in jobs]
    elapsed = time.perf_counter() - start
    assert len(results) == 16
    for q, result in zip(QUESTIONS, results):
        assert result["text"] == one_by_one[q], q
    print(f"[timing] 16 questions in parallel: {elapsed:.1f} s")


@pytest.mark.slow
def test_auth_and_missing_mcp_extra(web_assistant, capsys):
    """RAG_AUTH-style credentials lock the app; --mcp without the extra prints a message."""
    import httpx

    from rag.web import mcp_available, serve

    port = free_port()
    app = serve(web_assistant, port=port, auth=("alice", "pw"), mcp=True, prevent_thread_lock=True, quiet=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/", timeout=10) as http:
            assert http.get("config").status_code == 401
            assert http.post("gradio_api/call/ask", json={"data": [INCIDENT_Q, ""]}).status_code in (401, 403)
            login = http.post("login", data={"username": "alice", "password": "pw"})
            assert login.status_code < 400
            assert http.get("config").status_code == 200
    finally:
        app.close()
    if not mcp_available():
        assert "[mcp]" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(not __import__("rag.web", fromlist=["x"]).mcp_available(), reason="needs the mcp extra")
def test_mcp_server_offers_exactly_ask_and_search(web_assistant):
    """The official MCP client, over streamable HTTP, sees the two documented tools and asks."""
    import asyncio

    from mcp import ClientSession
    from mcp.client.streamable_http import streamablehttp_client

    from rag.web import serve

    port = free_port()
    app = serve(web_assistant, port=port, mcp=True, prevent_thread_lock=True, quiet=True)

    async def session() -> tuple[set[str], dict[str, str], str]:
        async with streamablehttp_client(f"http://127.0.0.1:{port}/gradio_api/mcp/") as (read, write, _):
            async with ClientSession(read, write) as mcp_session:
                await mcp_session.initialize()
                tools = (await mcp_session.list_tools()).tools
                result = await mcp_session.call_tool("ask", {"question": INCIDENT_Q, "guide": ""})
                text = "".join(getattr(part, "text", "") for part in result.content)
                return {t.name for t in tools}, {t.name: t.description or "" for t in tools}, text

    try:
        names, descriptions, text = asyncio.run(session())
    finally:
        app.close()
    assert names == {"ask", "search"}, names
    assert all(len(d) < 800 for d in descriptions.values())  # short descriptions, not schemas of the chat
    assert INCIDENT_SECTION in text and "[1]" in text
