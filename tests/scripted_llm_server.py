"""A real OpenAI-compatible HTTP server with scripted replies, for tests of the LLM path.

It listens on 127.0.0.1 (a free port) and answers ``POST /v1/chat/completions`` with or
without ``stream=true`` (server-sent events). What it replies is chosen by the requested
``model`` name; every request body is recorded in ``requests``.

A script is one of:

* ``Reply(text)`` - the text (or ``text(request) -> str`` computed from the request), streamed
  in small pieces when ``stream=true``;
* ``Status(code)`` - an HTTP error with an OpenAI-style error body;
* ``Garbage()`` - a 200 reply that is not JSON (and not valid SSE JSON);
* ``Endless()`` - headers, then a piece of text every ``interval`` seconds, forever;
* a list of scripts - consumed one request at a time (the last one repeats).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    text: str | Callable[[dict[str, Any]], str]
    piece_chars: int = 6
    delay_s: float = 0.0  # between streamed pieces


@dataclass
class Status:
    code: int = 500
    message: str = "scripted server error"


@dataclass
class Garbage:
    body: str = "<html>this is not JSON</html>"


@dataclass
class Endless:
    interval_s: float = 0.2
    piece: str = "まだ続きます"


@dataclass
class _State:
    scripts: dict[str, Any] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)


class ScriptedLLMServer:
    """Start with :meth:`start`, stop with :meth:`stop`; ``base_url`` ends with ``/v1``."""

    def __init__(self) -> None:
        self.state = _State()
        state = self.state

        class Handler(_Handler):
            pass

        Handler.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="scripted-llm", daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.requests)

    def script(self, model: str, script: Any) -> str:
        """Reply to requests for ``model`` with ``script``; returns ``model``."""
        with self.state.lock:
            self.state.scripts[model] = script
            self.state.calls[model] = 0
        return model

    def requests_for(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("model") == model]

    def start(self) -> ScriptedLLMServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    payload = {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    state: _State
    protocol_version = "HTTP/1.0"  # a streamed body ends when the connection closes

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
        pass

    def _json(self, code: int, payload: Any) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        model = request.get("model", "")
        state = self.state
        with state.lock:
            state.requests.append(request)
            script = state.scripts.get(model)
            if isinstance(script, list):
                index = min(state.calls.get(model, 0), len(script) - 1)
                script = script[index]
            state.calls[model] = state.calls.get(model, 0) + 1
        if script is None:
            self._json(404, {"error": {"message": f"model {model!r} not found", "type": "not_found"}})
        elif isinstance(script, Status):
            self._json(script.code, {"error": {"message": script.message, "type": "server_error"}})
        elif isinstance(script, Garbage):
            body = script.body.encode()
            self.send_response(200)
            content_type = "text/event-stream" if request.get("stream") else "application/json"
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(b"data: " + body + b"\n\n" if request.get("stream") else body)
        elif isinstance(script, Endless):
            self._endless(model, script)
        else:
            text = script.text(request) if callable(script.text) else script.text
            if request.get("stream"):
                self._stream(model, text, script)
            else:
                self._json(
                    200,
                    {
                        "id": "chatcmpl-scripted",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _stream(self, model: str, text: str, script: Reply) -> None:
        self._start_stream()
        try:
            self.wfile.write(_chunk(model, {"role": "assistant", "content": ""}))
            for i in range(0, len(text), script.piece_chars):
                self.wfile.write(_chunk(model, {"content": text[i : i + script.piece_chars]}))
                self.wfile.flush()
                if script.delay_s:
                    time.sleep(script.delay_s)
            self.wfile.write(_chunk(model, {}, "stop"))
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _endless(self, model: str, script: Endless) -> None:
        self._start_stream()
        try:
            self.wfile.write(_chunk(model, {"role": "assistant", "content": ""}))
            while not self.state.stopping.is_set():
                self.wfile.write(_chunk(model, {"content": script.piece}))
                self.wfile.flush()
                time.sleep(script.interval_s)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass
