"""Shared test fixtures: offline model hub, the real bundled model, real indexes on disk."""

from __future__ import annotations

import os
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

# Nothing may come from a model hub at run time.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"

TINY_GUIDE = """---json
{{"slug": "{slug}", "title": "{title}", "category": "test", "tags": ["テスト"]}}
---
# {title}

## 1️⃣ 仕事内容

{title}は、{duty}を担当します。毎日の業務では、チームと協力して課題を解決します。

### 日々のタスク

朝会で進捗を確認し、{task}を行います。

## 2️⃣ 必要なスキル

| スキル | 説明 |
| :--- | :--- |
| {skill} | {skill_detail} |
| コミュニケーション | 関係者と合意を作る力。 |
"""


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Default settings (the real bundled model in the user's cache, the shipped calibration);
    data goes to a temporary folder, so no calibration tuned in the working copy is picked up."""
    from rag import Settings

    return Settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def embedder(settings):
    """One loaded embedder (the bundled multilingual-e5-small, as the default settings load it)
    shared by the whole session."""
    from rag.embedding.embedder import Embedder

    emb = Embedder.from_settings(settings)
    emb.model  # noqa: B018 - load once
    return emb


@pytest.fixture
def write_guide(tmp_path) -> Callable[..., Path]:
    """Write a small valid guide (or any text) into ``tmp_path/seeds`` and return its path."""
    seeds = tmp_path / "seeds"
    seeds.mkdir(exist_ok=True)

    def write(slug: str = "baker", text: str | None = None, **fields: str) -> Path:
        values = {
            "slug": slug,
            "title": fields.get("title", "パン職人（Baker）"),
            "duty": fields.get("duty", "パン生地の仕込みと焼成"),
            "task": fields.get("task", "発酵温度の記録"),
            "skill": fields.get("skill", "発酵管理"),
            "skill_detail": fields.get("skill_detail", "温度と湿度を見て発酵時間を調整する力。"),
        }
        path = seeds / f"{slug}.md"
        path.write_text(text if text is not None else TINY_GUIDE.format(**values), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_assistant(tmp_path, settings, embedder):
    """Build an Assistant over a seeds folder with its index in a temporary folder."""
    from rag import Assistant

    def make(seeds_dir: Path | None = None, index_dir: Path | None = None, **changes):
        s = settings.replace(
            seeds_dir=seeds_dir or tmp_path / "seeds",
            index_dir=index_dir or tmp_path / "index",
            **changes,
        )
        assistant = Assistant(s, embedder=embedder)
        assistant.refresh()
        return assistant

    return make


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory) -> Path:
    """A folder for the seed guide's index, built once per session."""
    return tmp_path_factory.mktemp("seed-index")


@pytest.fixture(scope="session")
def seed_assistant(settings, embedder, seed_index_dir):
    """The assistant over the real seed guide (index built once per session)."""
    from rag import Assistant

    s = settings.replace(seeds_dir=SEEDS, index_dir=seed_index_dir)
    assistant = Assistant(s, embedder=embedder)
    assistant.refresh()
    return assistant


def dedent(text: str) -> str:
    """Helper for tests writing guides inline."""
    return textwrap.dedent(text).lstrip()


def copy_seeds(target: Path) -> Path:
    """Copy the real seed guides into ``target`` (for tests that modify them)."""
    shutil.copytree(SEEDS, target, dirs_exist_ok=True)
    return target
