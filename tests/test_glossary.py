"""The glossary: English words of a question as the Japanese terms the guides use (JMdict)."""

from __future__ import annotations

import pytest

from rag.glossary import GLOSSARY, Glossary, build_glossary, dictionary_source, gloss_key, glossary_config
from rag.index import layout
from rag.index.snapshot import IndexSnapshot
from rag.conversation import RetrievalQuery
from rag.retrieval import keyword_query
from rag.terms import TermExtractor


def test_the_dictionary_is_installed_with_the_package():
    source, path = dictionary_source()
    assert source.startswith("jmdict:") and path is not None and path.is_file()


def test_built_from_the_real_dictionary_keeps_only_guide_terms():
    glossary = build_glossary([{"面接", "年収", "看護師", "夜勤", "給与", "の", "技"}, {"面接", "病院"}])
    assert glossary.source.startswith("jmdict:")
    assert "面接" in glossary.translate("What are common interview questions?")
    assert "夜勤" in glossary.translate("How often do nurses work the night shift?")
    assert "看護師" in glossary.translate("nurses")  # plural -> singular key
    assert "病院" in glossary.translate("Which hospitals hire new graduates?")
    terms = {t for v in glossary.entries.values() for t in v}
    assert terms <= {"面接", "年収", "看護師", "夜勤", "給与", "病院"}  # no hiragana, no single character
    assert glossary.translate("看護師の夜勤は何回？") == []  # Japanese text has no English words


def test_longest_phrase_first_stop_words_and_repeats():
    glossary = Glossary({"night shift": ("夜勤",), "night": ("夜間",), "shift": ("シフト",), "salary": ("給与", "年収")})
    assert glossary.translate("Is the night shift hard?") == ["夜勤"]
    assert glossary.translate("night work, then a shift") == ["夜間", "シフト"]
    assert glossary.translate("salary and salaries") == ["給与", "年収"]
    assert glossary.translate("what is it") == []
    assert Glossary().translate("salary") == []


def test_romaji_keys_from_the_readings_of_guide_terms():
    extractor = TermExtractor()
    glossary = build_glossary([{"税理士", "宅建", "介護福祉士", "面接", "データ"}], extractor.reading)
    assert glossary.readings["zeirishi"] == ("税理士",)
    assert "データ" not in {t for v in glossary.readings.values() for t in v}  # loanwords have English
    assert glossary.translate("Is being a zeirishi stressful?") == ["税理士"]
    assert glossary.translate("Is the takken exam hard?") == ["宅建"]
    assert glossary.translate("What does a kaigo fukushishi do?") == ["介護福祉士"]  # two words, one term
    assert glossary.translate("interview tips for a zeirishi") == ["面接", "税理士"]  # English keys first
    assert glossary.romaji_terms("interview tips for a zeirishi") == ["税理士"]
    assert "men" not in glossary.readings  # short readings are English words too often


def test_gloss_keys():
    assert gloss_key("interview (e.g. for a job)") == "interview"
    assert gloss_key("to study") == "study"
    assert gloss_key("Night Shift") == "night shift"


def test_save_load_round_trip_and_a_damaged_file(tmp_path):
    glossary = Glossary({"salary": ("給与",), "night shift": ("夜勤",)}, "jmdict:test", {"zeirishi": ("税理士",)})
    glossary.save(tmp_path)
    assert Glossary.load(tmp_path) == glossary
    (tmp_path / GLOSSARY).write_text('{"format": 2, "entries": {"salary": "給与"}, "readings": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="list of terms"):
        Glossary.load(tmp_path)
    # a glossary of an index built before romaji keys still loads (the index is then rebuilt
    # because its build settings differ, its embeddings reused)
    (tmp_path / GLOSSARY).write_text('{"format": 1, "entries": {"salary": ["給与"]}}', encoding="utf-8")
    assert Glossary.load(tmp_path) == Glossary({"salary": ("給与",)}, "none")
    (tmp_path / GLOSSARY).write_text('{"format": 9, "entries": {}}', encoding="utf-8")
    with pytest.raises(ValueError, match="has format 9; formats 1 and 2 are read"):
        Glossary.load(tmp_path)


@pytest.mark.slow
def test_index_keeps_its_glossary_and_english_questions_get_keyword_scores(write_guide, make_assistant, monkeypatch):
    write_guide("baker")
    write_guide("florist", title="花屋（Florist）", duty="切り花の仕入れと店頭装飾", skill="色彩感覚",
                skill_detail="季節の花を組み合わせる感覚。", task="水替えと鮮度チェック")
    assistant = make_assistant()
    folder = layout.current_version(assistant.settings.index_dir)
    snapshot = IndexSnapshot.load(folder)
    assert snapshot.glossary == assistant.snapshot.glossary and len(snapshot.glossary) > 0
    assert snapshot.manifest.build_config["glossary"] == glossary_config()
    question = "Who does the purchasing of cut flowers?"
    assert snapshot.keyword.scores(question).max() == 0  # no English word occurs in the guides
    scores = snapshot.keyword.scores(keyword_query(snapshot, question))
    best = snapshot.chunks[int(scores.argmax())]
    assert scores.max() > 0 and best.guide == "florist"

    # without the dictionary the index is stale, and the rebuild re-embeds nothing
    monkeypatch.setattr("rag.glossary.dictionary_source", lambda: ("none", None))
    report = assistant.refresh()
    assert report is not None and report.embedded == [] and sorted(report.reused) == ["baker", "florist"]
    assert not assistant.snapshot.glossary.entries and assistant.snapshot.manifest.build_config["glossary"].startswith("none ")
    # romaji keys come from the guides' own readings, dictionary or not: a florist named the
    # way people in Japan say it (花屋, "hanaya") names the florist guide
    ranking = assistant.retriever.rank(
        assistant.snapshot, RetrievalQuery("What does a hanaya do all day?", ("What does a hanaya do all day?",), ""),
        assistant.embedder.embed_queries(["What does a hanaya do all day?"])[0],
    )
    assert {assistant.snapshot.layout.guide_slugs[g] for g in ranking.named} == {"florist"}
