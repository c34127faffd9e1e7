"""The Python API on the real seed guide: search, cited answers, abstention, language, follow-ups."""

from __future__ import annotations

import pytest
from sentence_transformers import SentenceTransformer

from rag import Answer, Assistant, Hit, QuestionError
from rag.normalization import fold, plain

INCIDENT = "3. インシデント対応と危機管理（クライシスマネジメント）"


def test_search_returns_typed_hits(seed_assistant):
    hits = seed_assistant.search("インシデントが起きたとき CISO は何を指揮する？", k=5)
    assert 0 < len(hits) <= 5 and all(isinstance(h, Hit) for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert top.chunk.guide == "ciso"
    assert isinstance(top.chunk.heading_path, tuple) and top.chunk.heading_path[0].startswith("2️⃣")
    assert top.chunk.heading_path[-1] == INCIDENT
    assert "CSIRT" in top.chunk.text
    assert isinstance(seed_assistant.embedder.model, SentenceTransformer)


def test_ask_cites_the_section_it_quotes(seed_assistant):
    answer = seed_assistant.ask("インシデントが起きたとき CISO は何を指揮する？")
    assert isinstance(answer, Answer) and not answer.abstained
    assert "[1]" in answer.text
    first = answer.citations[0]
    assert first.number == 1 and first.guide == "ciso" and first.heading_path[-1] == INCIDENT
    assert first.path.startswith("CISO › 2️⃣")
    section = plain(seed_assistant.section("ciso", first.heading_path).text)
    for sentence in first.quote.split(" 詳細: "):
        assert fold(sentence[:20]) in fold(section)  # quoted from the section, as written
    for c in answer.citations:
        assert f"[{c.number}]" in answer.text and c.path in answer.text


def test_table_row_question_lands_on_its_row(seed_assistant):
    hits = seed_assistant.search("EDR の代表的な製品は？", k=3)
    assert any("CrowdStrike" in h.chunk.text for h in hits)
    answer = seed_assistant.ask("EDR の代表的な製品は？")
    assert "CrowdStrike" in answer.text


def test_english_question_gets_english_framing(seed_assistant):
    answer = seed_assistant.ask("What does a CISO do when a security incident happens?")
    assert answer.language == "en" and not answer.abstained
    assert answer.text.startswith("From the guides (the quotes are in Japanese")
    assert "configure a language model" in answer.text.splitlines()[0]
    assert "**Sources**" in answer.text
    assert answer.citations[0].path.startswith("CISO › ")  # section titles as written


@pytest.mark.parametrize(
    "question",
    [
        "明日の札幌の天気はどうなりますか？",
        "CISOの給料は月にいくらくらいですか？",
        "What is the boiling point of water?",
        "ギターを独学で上達するコツは？",  # "how do I get better at…" resembles the study advice
        "How do I cook pasta?",
    ],
)
def test_unanswerable_questions_abstain_and_list_nearest_sections(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained and not answer.citations
    if answer.language == "ja":
        assert "書かれていない" in answer.text and "近い内容のセクション:\n- CISO › " in answer.text
        assert "収録されているガイド: CISO" in answer.text
    else:
        assert "do not seem to cover" in answer.text and "Nearest sections:\n- CISO › " in answer.text
        assert "Guides available: CISO" in answer.text


def test_follow_up_uses_the_previous_turn(seed_assistant):
    history = [{"role": "user", "content": "CISOになるための学習方法を教えて"}, {"role": "assistant", "content": "…"}]
    answer = seed_assistant.ask("その中で経営寄りの資格は？", history=history)
    assert not answer.abstained
    assert any(c.heading_path[0].startswith("7️⃣") for c in answer.citations)
    with_history = seed_assistant.search("その中で経営寄りの資格は？", k=1, history=["CISOになるための学習方法を教えて"])
    assert with_history[0].chunk.heading_path[0].startswith("7️⃣")


@pytest.mark.parametrize("question", ["", "   ", "\u3000\u3000", "\u200b\u200c\u200d", "\x00\x00"])
def test_empty_questions_get_an_abstained_answer(seed_assistant, question):
    answer = seed_assistant.ask(question)
    assert answer.abstained and "質問を入力" in answer.text
    assert seed_assistant.search(question) == []


def test_too_long_question_is_refused_quickly(seed_assistant):
    with pytest.raises(QuestionError, match="limit is 2000"):
        seed_assistant.ask("あ" * 100_000)


def test_control_characters_are_stripped_and_display_keeps_original(seed_assistant):
    answer = seed_assistant.ask("EDR\x00の\u202e代表的な\U000e0041製品は？\x08")
    assert not answer.abstained and "CrowdStrike" in answer.text


def test_guide_filter_and_unknown_guide(seed_assistant):
    assert all(h.chunk.guide == "ciso" for h in seed_assistant.search("スキル", k=5, guide="ciso"))
    with pytest.raises(QuestionError, match="unknown guide"):
        seed_assistant.search("スキル", guide="nope")


def test_stream_yields_text_then_answer(seed_assistant):
    events = list(seed_assistant.stream("CISOに必要なソフトスキルは？"))
    assert all(isinstance(e, str) for e in events[:-1]) and isinstance(events[-1], Answer)
    assert "".join(events[:-1]) == events[-1].text


def test_from_dir_builds_when_missing(tmp_path, write_guide, settings):
    write_guide("baker")
    assistant = Assistant.from_dir(seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "emb", settings=settings)
    assert (tmp_path / "emb" / "CURRENT").exists()
    assert assistant.ask("パン生地の発酵はどう管理する？").citations[0].guide == "baker"


def test_the_index_answers_with_the_shipped_calibration_of_its_model(seed_assistant):
    snapshot = seed_assistant.snapshot
    calibration = snapshot.calibration
    assert calibration is not None
    assert calibration.model_fingerprint == seed_assistant.embedder.fingerprint == snapshot.manifest.model_fingerprint
    assert snapshot.manifest.calibration["id"] == calibration.id
    assert snapshot.manifest.calibration["source"] == "shipped"
    assert snapshot.manifest.calibration["data_hash"] == calibration.data_hash and len(calibration.data_hash) == 64
    assert (snapshot.path / "calibration" / "calibration.json").is_file()
    # fitted on the training guides only: never on the seed guide or the held-out guides
    assert "ciso" not in calibration.data["train_guides"]
    assert not set(calibration.data["train_guides"]) & set(calibration.data["heldout_guides"])


def test_a_model_without_calibration_answers_unfitted_and_says_what_to_run(tmp_path, write_guide, embedder, caplog):
    from rag import Assistant, Settings

    write_guide("baker")
    settings = Settings(
        seeds_dir=tmp_path / "seeds", index_dir=tmp_path / "index", data_dir=tmp_path / "data",
        corpus_dir=tmp_path / "no-corpus",
    )
    assistant = Assistant(settings, embedder=embedder)
    from rag.fitting.store import CalibrationStore

    assistant.store.calibrations = CalibrationStore(tmp_path / "data", shipped_dir=tmp_path / "nothing-shipped")
    with caplog.at_level("WARNING", logger="rag"):
        assistant.refresh()
    assert "no calibration for model" in caplog.text and "rag tune" in caplog.text
    assert assistant.snapshot.calibration is None and assistant.snapshot.manifest.calibration == {}
    answer = assistant.ask("パン生地の発酵はどう管理する？")
    assert not answer.abstained and answer.citations[0].guide == "baker"
