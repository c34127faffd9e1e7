"""A low-rank adapter that moves an embedding model toward job seekers' questions.

Fitted on labelled questions (question -> the guide section that answers it) with in-batch
negatives, as low-rank updates ``W + (alpha / rank) * B @ A`` of the encoder's linear layers
while every original weight stays frozen. Saved as plain files — ``adapter.json`` (its config,
the base model's name and fingerprint, the data hash, the fitting report) and ``adapter.npz``
(the ``A`` and ``B`` arrays, read with ``allow_pickle=False``) — and merged into the model's
weights when the model loads, so embedding costs what it did without it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import tempfile
import time
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger("rag.embedding")

ADAPTER_VERSION = 1
CONFIG_FILE = "adapter.json"
ARRAYS_FILE = "adapter.npz"


@dataclass(frozen=True)
class AdapterConfig:
    """How an adapter was fitted, and for which model."""

    base_model: str
    base_fingerprint: str
    rank: int = 16
    alpha: float = 32.0
    epochs: int = 2
    learning_rate: float = 2e-4
    batch_size: int = 32
    temperature: float = 0.05
    max_seq_length: int = 256
    seed: int = 0
    targets: tuple[str, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    version: int = ADAPTER_VERSION

    @property
    def scale(self) -> float:
        return self.alpha / self.rank


@dataclass(frozen=True)
class TrainingPair:
    """A question and the text of a section that answers it (from a training guide).

    ``parts`` are the texts whose query vectors the assistant averages for this question (a
    follow-up's recent turns); empty means the question alone.
    """

    question: str
    passage: str
    parts: tuple[str, ...] = ()

    @property
    def asked(self) -> tuple[str, ...]:
        """The texts embedded for the question: its parts, or the question alone."""
        return self.parts or (self.question,)


class Adapter:
    """Low-rank weight updates for named linear layers of a sentence-transformers model."""

    def __init__(self, config: AdapterConfig, weights: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
        self.config = config
        self.weights = weights

    @cached_property
    def id(self) -> str:
        """A short hash of the arrays and the config: part of the adapted model's fingerprint."""
        digest = hashlib.sha256()
        digest.update(json.dumps(asdict(self.config), sort_keys=True, default=str).encode())
        for name in sorted(self.weights):
            a, b = self.weights[name]
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(a, dtype=np.float32).tobytes())
            digest.update(np.ascontiguousarray(b, dtype=np.float32).tobytes())
        return digest.hexdigest()[:16]

    # -- files --------------------------------------------------------------------------------
    def save(self, folder: Path) -> Path:
        """Write ``adapter.json`` and ``adapter.npz`` into ``folder`` (each replaced atomically)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {}
        for i, name in enumerate(sorted(self.weights)):
            a, b = self.weights[name]
            arrays[f"a{i}"] = np.asarray(a, dtype=np.float32)
            arrays[f"b{i}"] = np.asarray(b, dtype=np.float32)
        config = asdict(self.config) | {"targets": sorted(self.weights), "id": self.id}
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as tmp:
            np.savez(tmp, **arrays)
        os.replace(tmp.name, folder / ARRAYS_FILE)
        text = json.dumps(config, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".json", delete=False, encoding="utf-8") as tmp:
            tmp.write(text)
        os.replace(tmp.name, folder / CONFIG_FILE)
        return folder

    @classmethod
    def load(cls, folder: Path) -> Adapter:
        """Read an adapter folder; :class:`ModelError` saying what is wrong and what to run."""
        folder = Path(folder)
        try:
            raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ModelError(f"adapter in {folder} cannot be read ({exc}); refit it with `rag adapt`") from exc
        version = raw.get("version")
        if version != ADAPTER_VERSION:
            raise ModelError(
                f"adapter in {folder} has version {version!r}, this program reads version {ADAPTER_VERSION}; "
                "refit it with `rag adapt`"
            )
        targets = list(raw.get("targets", []))
        try:
            weights = {name: (arrays[f"a{i}"], arrays[f"b{i}"]) for i, name in enumerate(targets)}
        except KeyError as exc:
            raise ModelError(f"adapter in {folder} lacks the arrays of {exc}; refit it with `rag adapt`") from exc
        fields = {k: v for k, v in raw.items() if k in AdapterConfig.__dataclass_fields__}
        fields["targets"] = tuple(targets)
        adapter = cls(AdapterConfig(**fields), weights)
        if raw.get("id") and raw["id"] != adapter.id:
            raise ModelError(f"adapter in {folder} does not match its recorded id {raw['id']}; refit it with `rag adapt`")
        return adapter

    # -- use ----------------------------------------------------------------------------------
    def merge_into(self, model: SentenceTransformer) -> None:
        """Add each low-rank update to its layer's weight, in place."""
        import torch

        modules = dict(model.named_modules())
        missing = [name for name in self.weights if name not in modules]
        if missing:
            raise ModelError(
                f"adapter for {self.config.base_model!r} names layers this model lacks ({missing[0]}, …); "
                "it was fitted for another model"
            )
        with torch.no_grad():
            for name, (a, b) in self.weights.items():
                weight = modules[name].weight
                delta = torch.from_numpy(np.asarray(b, dtype=np.float32) @ np.asarray(a, dtype=np.float32))
                if tuple(delta.shape) != tuple(weight.shape):
                    raise ModelError(
                        f"adapter layer {name} has shape {tuple(delta.shape)}, the model's is {tuple(weight.shape)}; "
                        "it was fitted for another model"
                    )
                weight.add_(delta.to(weight.dtype) * self.config.scale)


def shared_pairs(batch: Sequence[TrainingPair]) -> list[list[bool]]:
    """``[i][j]``: pairs i and j share their passage or their question (with its turns), so
    passage j is no negative for question i (the diagonal is True)."""
    return [[x.passage == y.passage or x.asked == y.asked for y in batch] for x in batch]


def _targets(model: SentenceTransformer) -> list[str]:
    """The encoder's linear layers (attention and feed-forward), by module name."""
    import torch

    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear) and ".encoder." in f".{name}."
    ]


def fit_adapter(
    model: SentenceTransformer,
    pairs: Sequence[TrainingPair],
    config: AdapterConfig,
    *,
    threads: int = 2,
) -> Adapter:
    """Fit low-rank updates on ``pairs`` with in-batch negatives (``model`` is left unchanged).

    Each batch scores every question against every passage of the batch (cosine / temperature)
    and the cross-entropy pulls each question to its own passage; the same passage, or another
    passage of the same question (a question two sections answer), is not a negative. A
    question's vector is the normalised mean of its parts' vectors, as the assistant forms it.
    Deterministic for a given seed and thread count.
    """
    import torch

    if not pairs:
        raise ModelError("no training pairs to fit an adapter on; label questions with their sections first")
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    targets = _targets(model)
    modules = dict(model.named_modules())
    frozen = list(model.parameters())
    states = [p.requires_grad for p in frozen]
    seq = model.max_seq_length
    lora: dict[str, tuple[torch.nn.Parameter, torch.nn.Parameter]] = {}
    handles = []
    losses: list[float] = []
    started = time.perf_counter()
    try:  # whatever happens, the model is given back as it was
        for name in targets:
            layer = modules[name]
            a = torch.nn.Parameter(torch.randn(config.rank, layer.in_features) / np.sqrt(layer.in_features))
            b = torch.nn.Parameter(torch.zeros(layer.out_features, config.rank))
            lora[name] = (a, b)

            def hook(module: Any, inputs: tuple[Any, ...], output: Any, a: Any = a, b: Any = b) -> Any:
                return output + (inputs[0] @ a.T @ b.T) * config.scale

            handles.append(layer.register_forward_hook(hook))
        for p in frozen:
            p.requires_grad_(False)
        params = [p for ab in lora.values() for p in ab]
        optimiser = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
        model.max_seq_length = config.max_seq_length
        query_prompt = (model.prompts or {}).get("query", "")
        passage_prompt = (model.prompts or {}).get("passage", "")
        tokenize = getattr(model, "preprocess", None) or model.tokenize  # preprocess: sentence-transformers >= 6

        def encode(texts: list[str]) -> Any:
            return model(tokenize(texts))["sentence_embedding"]

        def encode_questions(batch: list[TrainingPair]) -> Any:
            owner = torch.tensor([i for i, pair in enumerate(batch) for _ in pair.asked])
            vectors = torch.nn.functional.normalize(encode([query_prompt + t for pair in batch for t in pair.asked]), dim=-1)
            summed = torch.zeros(len(batch), vectors.shape[1]).index_add(0, owner, vectors)
            return torch.nn.functional.normalize(summed, dim=-1)

        order = list(range(len(pairs)))
        model.train()
        for epoch in range(config.epochs):
            rng.shuffle(order)
            total, steps = 0.0, 0
            for start in range(0, len(order), config.batch_size):
                batch = [pairs[i] for i in order[start : start + config.batch_size]]
                if len(batch) < 2:
                    continue
                q = encode_questions(batch)
                d = torch.nn.functional.normalize(encode([passage_prompt + p.passage for p in batch]), dim=-1)
                scores = q @ d.T / config.temperature
                same = torch.tensor(shared_pairs(batch))
                scores = scores.masked_fill(same & ~torch.eye(len(batch), dtype=torch.bool), -1e4)
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch)))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += float(loss.item())
                steps += 1
            losses.append(round(total / max(steps, 1), 4))
            log.info("adapter epoch %d: loss %.4f", epoch + 1, losses[-1])
    finally:
        model.eval()
        model.max_seq_length = seq
        for handle in handles:
            handle.remove()
        for p, state in zip(frozen, states):
            p.requires_grad_(state)
        torch.set_num_threads(previous_threads)
    weights = {name: (a.detach().numpy().copy(), b.detach().numpy().copy()) for name, (a, b) in lora.items()}
    report = dict(config.report) | {
        "pairs": len(pairs),
        "loss_per_epoch": losses,
        "seconds": round(time.perf_counter() - started, 1),
    }
    fitted = AdapterConfig(**(asdict(config) | {"targets": tuple(sorted(weights)), "report": report}))
    return Adapter(fitted, weights)
