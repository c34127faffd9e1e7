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


@pytest.mark.parametrize(
    ("question", "item"),
    [
        ("5つ目についてもう少し詳しく教えて。", 5),
        ("三番目は？", 3),
        ("２つ目の企業は？", 2),  # full-width digit
        ("Tell me more about the third one.", 3),
        ("What about number 4?", 4),
        ("CISOの7つの責任は？", None),  # a count, not an item
        ("一番の課題は何ですか？", None),  # 一番 = "most", not item one
        ("CISOに必要なスキルは？", None),
    ],
)
def test_ordinal_references(question, item):
    from rag.conversation import ordinal

    assert ordinal(question) == item


def test_an_ordinal_follow_up_lands_on_the_numbered_item(seed_assistant):
    history = ["CISOが担う責任を全部挙げるとどうなる？"]
    hits = seed_assistant.search("5つ目についてもう少し詳しく教えて。", k=3, history=history)
    assert hits[0].chunk.heading_path[-1] == "5. セキュリティ予算とリソース管理"
    answer = seed_assistant.ask("5つ目についてもう少し詳しく教えて。", history=history)
    assert not answer.abstained
    assert {c.heading_path[-1] for c in answer.citations} == {"5. セキュリティ予算とリソース管理"}
    rows = seed_assistant.search("3番目の質問の答え方は？", k=1, history=["面接でよく聞かれる質問を教えて"])
    assert rows[0].chunk.kind == "table_row" and rows[0].chunk.text.startswith("No.: 3 /")


def test_numbered_item_stays_inside_one_top_level_section(seed_assistant):
    from rag.retrieval import numbered_item

    snapshot = seed_assistant.snapshot
    duties = next(i for i, s in enumerate(snapshot.sections) if s.heading_path[-1].startswith("3. インシデント対応"))
    found = {snapshot.chunks[i].heading_path[-1] for i in numbered_item(snapshot, duties, 7)}
    assert found == {"7. セキュリティ文化の醸成と教育"}  # not 6️⃣'s or 7️⃣'s item 7
    assert numbered_item(snapshot, duties, 9) == []  # 2️⃣ has seven items


def _baker_and_florist(write_guide, make_assistant):
    """An assistant over two small guides: the baker's and the florist's."""
    write_guide("baker")
    write_guide(
        "florist",
        title="フローリスト（Florist）",
        duty="花束とアレンジメントの制作",
        task="仕入れた生花の水揚げ",
        skill="色彩感覚",
        skill_detail="花の色と季節を組み合わせる力。",
    )
    return make_assistant()


def test_a_follow_up_that_names_no_job_stays_with_the_job_of_the_conversation(write_guide, make_assistant):
    """Two guides; the question alone is closer to the florist's, but the conversation is about
    bakers and the question names no job: what is shown comes from the baker's guide."""
    from rag.retrieval import conversation_guide

    assistant = _baker_and_florist(write_guide, make_assistant)
    snapshot = assistant.snapshot
    question = "毎日の仕事で花束を作ることはありますか？"
    alone = assistant.search(question, k=3)
    assert alone[0].chunk.guide == "florist"

    history = ["パン職人になりたいです", "どんな仕事をしますか？"]
    hits = assistant.search(question, k=5, history=history)
    assert hits and {h.chunk.guide for h in hits} == {"baker"}
    answer = assistant.ask(question, history=history)
    assert answer.abstained or {c.guide for c in answer.citations} == {"baker"}

    query = retrieval_query(question, history)
    baker = snapshot.layout.guide_slugs.index("baker")
    assert conversation_guide(snapshot, query) == baker
    # a question that names a job goes where it says; a conversation of two jobs keeps neither
    assert conversation_guide(snapshot, retrieval_query("フローリストの仕事は？", history)) is None
    assert conversation_guide(snapshot, retrieval_query(question, ["パン職人とフローリスト、どちらがいい？"])) is None
    assert conversation_guide(snapshot, retrieval_query(question, None)) is None
    # a chosen guide decides, whatever the conversation said
    assert {h.chunk.guide for h in assistant.search(question, k=3, guide="florist", history=history)} == {"florist"}


def test_a_conversation_that_named_no_job_stays_with_the_job_its_turns_are_about(write_guide, make_assistant):
    """The earlier turn describes the work (「パンを焼く仕事がしたい」) without naming the guide:
    the question is kept to the guide that earlier turn is answered from."""
    from rag.retrieval import conversation_unnamed

    assistant = _baker_and_florist(write_guide, make_assistant)
    snapshot = assistant.snapshot
    question = "毎日の仕事で花束を作ることはありますか？"
    history = ["朝早くから生地を仕込んで焼く仕事に興味があります"]
    assert assistant.search(history[0], k=1)[0].chunk.guide == "baker"  # the turn alone: the baker's
    assert assistant.search(question, k=1)[0].chunk.guide == "florist"  # the question alone: the florist's
    query = retrieval_query(question, history)
    assert conversation_unnamed(snapshot, query)
    hits = assistant.search(question, k=5, history=history)
    assert hits and {h.chunk.guide for h in hits} == {"baker"}
    # a question that names its job, or a conversation that named one, is not this case
    assert not conversation_unnamed(snapshot, retrieval_query("フローリストの仕事は？", history))
    assert not conversation_unnamed(snapshot, retrieval_query(question, ["パン職人になりたいです"]))
    assert not conversation_unnamed(snapshot, retrieval_query(question, None))
