"""A small, bounded chat client for any OpenAI-compatible server (Ollama, vLLM, OpenAI, ...).

Built on the official ``openai`` SDK. Every call is bounded twice: by the SDK's connect and
read timeouts (``openai.Timeout``, the httpx ``Timeout``), and by a total-time budget enforced
here, so a server that keeps a reply trickling in forever cannot hold the caller. Retries are
off (a question is waiting). Every failure, whatever its cause, surfaces as
:class:`rag.errors.LLMError` with a short reason in ``reason``.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import LLMError
from ..settings import LLMSettings

log = logging.getLogger("rag.llm")

Message = dict[str, str]
T = TypeVar("T")

#: Sent when no API key is configured: local servers ignore it, and the SDK insists on one.
#: A key from ``OPENAI_API_KEY`` is deliberately *not* used, so it is never sent to another host.
PLACEHOLDER_KEY = "not-needed"


class LLMFailure(LLMError):
    """An :class:`LLMError` with a short, displayable ``reason`` (``"HTTP 500"``, ``"timed out"``...)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        super().__init__(f"language model failed: {reason}" + (f" ({detail})" if detail else ""))


def _describe(exc: BaseException, base_url: str) -> LLMFailure:
    """Turn any exception from the SDK (or from a garbled reply) into an :class:`LLMFailure`."""
    import openai

    if isinstance(exc, LLMFailure):
        return exc
    if isinstance(exc, openai.APITimeoutError):
        return LLMFailure("timed out", str(exc))
    if isinstance(exc, openai.APIConnectionError):
        return LLMFailure(f"cannot connect to {base_url}", str(exc))
    if isinstance(exc, openai.APIStatusError):
        return LLMFailure(f"HTTP {exc.status_code}", str(exc)[:200])
    if isinstance(exc, (openai.APIError, json.JSONDecodeError, ValueError, TypeError, AttributeError, KeyError)):
        return LLMFailure("unusable reply", f"{type(exc).__name__}: {str(exc)[:200]}")
    return LLMFailure("unexpected error", f"{type(exc).__name__}: {str(exc)[:200]}")


def _delta_text(chunk: Any) -> str:
    """The text of one streamed chunk ('' for role-only, usage-only or empty chunks)."""
    choices = getattr(chunk, "choices", None)
    if choices is None:
        raise LLMFailure("unusable reply", "a streamed chunk has no choices")
    if not choices:
        return ""
    delta = getattr(choices[0], "delta", None)
    content = getattr(delta, "content", None) if delta is not None else None
    if content is None:
        return ""
    if not isinstance(content, str):
        raise LLMFailure("unusable reply", "streamed content is not text")
    return content


class ChatClient:
    """Chat completions against ``settings.base_url`` with bounded time; thread-safe."""

    def __init__(self, settings: LLMSettings) -> None:
        import openai

        self.settings = settings
        self.timeout = openai.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or PLACEHOLDER_KEY,
            timeout=self.timeout,
            max_retries=0,
        )

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._client.close()

    # -- one reply at once ------------------------------------------------------------------
    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        budget_s: float | None = None,
    ) -> str:
        """The whole reply text of one (non-streamed) completion, within ``budget_s`` seconds."""
        budget = min(budget_s or self.settings.timeout_s, self.settings.timeout_s)
        import openai

        timeout = openai.Timeout(budget, connect=min(self.settings.connect_timeout_s, budget))

        def call() -> str:
            response = self._client.chat.completions.create(
                model=self.settings.model,
                messages=list(messages),  # type: ignore[arg-type]
                max_tokens=max_tokens or self.settings.max_tokens,
                temperature=self.settings.temperature if temperature is None else temperature,
                stream=False,
                timeout=timeout,
            )
            choices = getattr(response, "choices", None)
            if not choices:
                raise LLMFailure("unusable reply", "the reply has no choices")
            content = getattr(getattr(choices[0], "message", None), "content", None)
            if not isinstance(content, str):
                raise LLMFailure("unusable reply", "the reply has no text")
            return content

        return self._bounded(call, budget)

    def _bounded(self, call: Callable[[], T], budget: float) -> T:
        """Run ``call`` in a worker thread; give up after ``budget`` seconds whatever it does."""
        box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)

        def run() -> None:
            try:
                box.put((True, call()))
            except BaseException as exc:  # noqa: BLE001 - reported to the waiting caller
                box.put((False, exc))

        threading.Thread(target=run, name="llm-call", daemon=True).start()
        try:
            ok, value = box.get(timeout=budget)
        except queue.Empty:
            raise LLMFailure("timed out", f"no reply within {budget:g} s") from None
        if not ok:
            raise _describe(value, self.settings.base_url) from value
        return value

    # -- a streamed reply -------------------------------------------------------------------
    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        budget_s: float | None = None,
    ) -> Iterator[str]:
        """Yield text pieces as the server sends them; stop with :class:`LLMError` at the budget.

        The HTTP stream is read in a daemon thread and handed over through a queue, so the
        caller waits at most until ``budget_s`` (default ``settings.timeout_s``) has passed
        since the request was sent - even while the server is silent or trickles bytes.
        Closing the generator early closes the HTTP response.
        """
        budget = budget_s or self.settings.timeout_s
        deadline = time.monotonic() + budget
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}

        def produce() -> None:
            stream = None
            try:
                stream = self._client.chat.completions.create(
                    model=self.settings.model,
                    messages=list(messages),  # type: ignore[arg-type]
                    max_tokens=max_tokens or self.settings.max_tokens,
                    temperature=self.settings.temperature if temperature is None else temperature,
                    stream=True,
                )
                holder["stream"] = stream
                if stop.is_set():
                    return
                for chunk in stream:
                    if stop.is_set():
                        return
                    text = _delta_text(chunk)
                    if text:
                        pieces.put(("text", text))
                pieces.put(("done", None))
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer
                pieces.put(("error", exc))
            finally:
                if stream is not None:
                    try:
                        stream.close()
                    except Exception:  # noqa: BLE001 - best effort
                        pass

        worker = threading.Thread(target=produce, name="llm-stream", daemon=True)
        worker.start()
        received = 0
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LLMFailure("timed out", f"the reply did not finish within {budget:g} s")
                try:
                    kind, value = pieces.get(timeout=remaining)
                except queue.Empty:
                    raise LLMFailure("timed out", f"the reply did not finish within {budget:g} s") from None
                if kind == "text":
                    received += len(value)
                    yield value
                elif kind == "done":
                    if not received:
                        raise LLMFailure("unusable reply", "the reply holds no text")
                    return
                else:
                    raise _describe(value, self.settings.base_url) from value
        finally:
            stop.set()
            stream = holder.get("stream")
            if stream is not None:
                try:  # unblocks the reader thread when the server is still sending
                    stream.close()
                except Exception:  # noqa: BLE001 - best effort, the thread is a daemon anyway
                    log.debug("closing the LLM stream failed", exc_info=True)
