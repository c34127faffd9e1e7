"""Abstention evidence: aspects the guides leave out and roles no guide covers."""

from __future__ import annotations

import pytest

from rag.relevance import aspects_of, roles_asked


@pytest.mark.parametrize(
    ("question", "roles"),
    [
        ("看護師になるには何を勉強すればいいですか？", {"看護師"}),
        ("病院の薬剤師に転職したいです", {"薬剤師"}),
        ("公認会計士として働くには？", {"公認会計士"}),
        ("Webデザイナーになりたい", {"webデザイナー"}),
        ("セキュリティエンジニアからCISOになるには？", set()),  # CISO does not end like a job title
        ("一人前になるにはどれくらいかかりますか？", set()),
        ("CISOに必要なスキルは？", set()),
    ],
)
def test_roles_asked(question, roles):
    assert roles_asked(question) == roles


def test_aspects_of_latin_terms_after_japanese_text():
    assert aspects_of("CISOに必要なTOEICの点数は？") == {"language"}
    assert aspects_of("年収はいくら？") == {"pay"}
    assert aspects_of("CISOの主な業務は？") == set()


def test_a_role_no_guide_mentions_is_not_answered(write_guide, make_assistant):
    write_guide("baker")
    assistant = make_assistant()
    covered = assistant.ask("パン職人になるには何を身につければいいですか？")
    assert not covered.abstained and covered.citations
    missing = assistant.ask("看護師になるには何を身につければいいですか？")
    assert missing.abstained and not missing.citations
    assert "書かれていない" in missing.text


def test_a_new_guide_makes_its_role_answerable(write_guide, make_assistant):
    write_guide("baker")
    write_guide(
        "nurse",
        title="看護師（Nurse）",
        duty="患者の看護と医師の診療補助",
        task="バイタルサインの記録",
        skill="観察力",
        skill_detail="患者の小さな変化に気づく力。",
    )
    assistant = make_assistant()
    answer = assistant.ask("看護師になるには何を身につければいいですか？")
    assert not answer.abstained
    assert answer.citations[0].guide == "nurse"
