"""The ``rag`` command: real subprocesses, exit codes 0 / 2 / 1, messages instead of tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TINY_GUIDE

pytestmark = pytest.mark.slow


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "rag", *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=300)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "seeds").mkdir()
    values = dict(slug="baker", title="パン職人（Baker）", duty="パン生地の仕込みと焼成", task="発酵温度の記録",
                  skill="発酵管理", skill_detail="温度と湿度を見て発酵時間を調整する力。")
    (root / "seeds" / "baker.md").write_text(TINY_GUIDE.format(**values), encoding="utf-8")
    (root / "seeds" / "broken.md").write_text("---json\n{oops\n---\n# x\n\nbody\n", encoding="utf-8")
    return root


def test_build_then_ask_search_eval(workdir):
    built = run("build", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert built.returncode == 0, built.stderr
    assert "built" in built.stdout and "1 guides" in built.stdout
    assert "skipped seeds/broken.md" in built.stderr  # the malformed guide is named, with its reason
    assert "Traceback" not in built.stderr

    again = run("build", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert again.returncode == 0 and "up to date" in again.stdout

    asked = run("ask", "パン生地の発酵はどう管理する？", "--seeds-dir", "seeds", "--index-dir", "idx", "--json", cwd=workdir)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["abstained"] is False and answer["citations"][0]["path"].startswith("Baker › ")

    assert "Loading weights" not in asked.stderr  # no model-loading bar for a question
    searched = run("search", "発酵", "-k", "2", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert searched.returncode == 0 and searched.stdout.startswith("1. [")
    assert "Loading weights" not in searched.stderr
    verbose = run("search", "発酵", "--verbose", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert "Loading weights" in verbose.stderr  # --verbose shows it

    listed = run("guides", "--json", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert listed.returncode == 0, listed.stderr
    library = json.loads(listed.stdout)
    assert [g["slug"] for g in library["guides"]] == ["baker"] and library["guides"][0]["sections"] >= 2
    assert library["skipped"][0]["path"].endswith("broken.md") and library["skipped"][0]["reason"]
    plain = run("guides", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert plain.stdout.startswith("baker: ") and "skipped seeds/broken.md" in plain.stdout

    questions = workdir / "q.jsonl"
    questions.write_text(
        json.dumps({"question": "発酵時間を調整する力とは？", "gold_sections": ["2️⃣ 必要なスキル"], "key_facts": ["発酵管理"]},
                   ensure_ascii=False) + "\n" + json.dumps({"question": "今日の天気は？", "answerable": False}, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    evaluated = run("eval", "q.jsonl", "--out", "out/r.jsonl", "--seeds-dir", "seeds", "--index-dir", "idx", cwd=workdir)
    assert evaluated.returncode == 0, evaluated.stderr
    assert "hit@1" in evaluated.stdout and "latency_ms_p50" in evaluated.stdout
    rows = [json.loads(line) for line in (workdir / "out" / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 2 and {"answer", "citations", "abstained", "top_hits", "latency_ms"} <= set(rows[0])
    summary = json.loads((workdir / "out" / "r.summary.json").read_text(encoding="utf-8"))
    assert summary["questions"] == 2 and 0.0 <= summary["hit@1"] <= 1.0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("frobnicate",), 2, "invalid choice"),
        (("eval", "missing.jsonl", "--seeds-dir", "seeds", "--index-dir", "idx"), 2, "cannot read question file"),
        (("ask", "あ" * 3000, "--seeds-dir", "seeds", "--index-dir", "idx"), 2, "limit is 2000"),
        (("ask", "質問", "--seeds-dir", "nowhere", "--index-dir", "idx"), 2, "does not exist"),
        (("build", "--seeds-dir", "seeds", "--index-dir", "idx2", "--model", "/no/such/model"), 1, "could not load embedding model"),
    ],
)
def test_errors_are_messages_with_exit_codes(workdir, args, code, message):
    result = run(*args, cwd=workdir)
    assert result.returncode == code, (result.returncode, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
