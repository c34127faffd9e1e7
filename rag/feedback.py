"""Like/dislike feedback from the chat, appended to ``<data_dir>/feedback.jsonl``."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

try:  # POSIX: also serialise writers in other processes
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

FILE_NAME = "feedback.jsonl"
_LOCK = threading.Lock()


class FeedbackLog:
    """Appends one JSON object per vote; safe to share between threads."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir) / FILE_NAME

    def record(
        self,
        *,
        question: str,
        answer: str,
        paths: Sequence[str],
        vote: str,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append a vote ("like" or "dislike") and return the record written."""
        if vote not in ("like", "dislike"):
            raise ValueError(f"vote must be 'like' or 'dislike', not {vote!r}")
        entry: dict[str, Any] = {
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "question": question,
            "answer": answer,
            "paths": list(paths),
            "vote": vote,
        }
        if extra:
            entry.update(extra)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with _LOCK:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    handle.write(line)
                    handle.flush()
                    os.fsync(handle.fileno())
                finally:
                    if fcntl is not None:
                        fcntl.flock(handle, fcntl.LOCK_UN)
        return entry

    def read(self) -> list[dict[str, Any]]:
        """Every record so far (for tests and reports)."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]


def append_feedback(data_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Shortcut for ``FeedbackLog(data_dir).record(**fields)``."""
    return FeedbackLog(data_dir).record(**fields)
