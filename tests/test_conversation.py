"""Follow-up questions: detection and the query retrieval reads."""

from __future__ import annotations

import numpy as np
import pytest

from rag.conversation import is_follow_up, retrieval_query


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("それに必要な資格は？", True),
        ("その次のステップは？", True),
        ("What about its tools?", True),
        ("CISOに必要なスキルを教えてください。", False),
        ("What skills does a CISO need in a large bank?", False),
    ],
)
def test_follow_up_detection(question, expected):
    assert is_follow_up(question) is expected


def test_follow_up_query_keeps_the_question_as_its_own_part():
    history = [
        {"role": "user", "content": "CISOになるための学習方法を教えて"},
        {"role": "assistant", "content": "ガイドによると…"},
        {"role": "user", "content": "資格はどれがいい？"},
    ]
    query = retrieval_query("その中でクラウド向けは？", history, turns=2)
    assert query.is_follow_up
    assert query.parts == ("CISOになるための学習方法を教えて 資格はどれがいい？", "その中でクラウド向けは？")
    assert query.text == "CISOになるための学習方法を教えて 資格はどれがいい？ その中でクラウド向けは？"
    alone = retrieval_query("CISOに必要なスキルを教えてください。", history)
    assert not alone.is_follow_up and alone.parts == (alone.text,)
    assert retrieval_query("それは？", None).parts == ("それは？",)


def test_follow_up_vector_is_the_mean_of_context_and_question(seed_assistant):
    history = ["CISOを目指すならどんな資格を勉強すればいい？"]
    question = "その中でクラウドに特化したものはありますか？"
    query = retrieval_query(question, history)
    vector = seed_assistant._vector(query)
    parts = seed_assistant.embedder.embed_queries(list(query.parts))
    expected = parts.sum(axis=0) / np.linalg.norm(parts.sum(axis=0))
    assert np.allclose(vector, expected, atol=1e-5)
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-5
    hits = seed_assistant.search(question, k=3, history=history)
    assert any("クラウドセキュリティと最新技術" in h.chunk.heading_path[-1] for h in hits)
