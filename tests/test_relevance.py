"""Abstention evidence: terms the guides never use and roles no guide covers."""

from __future__ import annotations

import pytest

from rag.relevance import roles_asked
from rag.terms import TermExtractor, coverage


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


def test_content_terms_are_compounds_latin_words_and_names():
    terms = {t.text: t for t in TermExtractor().terms("楽天のCISOの年収は？看護師国家試験の日程とAWSの資格")}
    assert {"楽天", "ciso", "年収", "看護師国家試験", "日程", "aws", "資格"} <= set(terms)
    assert terms["看護師国家試験"].parts == ("看護", "師", "国家", "試験")
    assert terms["aws"].foreign and not terms["年収"].foreign
    english = {t.text: t for t in TermExtractor().terms("What does Rakuten pay a CISO in Tokyo?")}
    assert english["rakuten"].proper and english["ciso"].proper and not english["pay"].proper
    # a missing term is named as it was written: "US" is not the pronoun "us"
    visa = {t.text: t for t in TermExtractor().terms("Can I get a work visa if I'm coming from the US?")}
    assert visa["us"].shown == "US" and english["rakuten"].shown == "Rakuten" and terms["年収"].shown == "年収"
    assert [t.shown for t in TermExtractor().terms("慶應SFCの偏差値")] == ["慶應SFC", "偏差値"]


def test_coverage_is_taken_from_the_guide_vocabulary():
    extractor = TermExtractor()
    guide = "看護師国家試験に合格し、サイバーセキュリティとエージェントの仕組みを学ぶ。"
    vocabulary = extractor.vocabulary([guide])
    from rag.normalization import fold

    cover = coverage(extractor.terms("国家試験の前にビザは？サイバーエージェントは？"), vocabulary, fold(guide))
    assert {t.text for t in cover.missing} == {"ビザ", "サイバーエージェント"}  # a name made of known parts is still new
    assert "国家試験" not in {t.text for t in cover.missing}  # inside a longer compound of the guide
    english = coverage(extractor.terms("Does Rakuten hire nurses?"), vocabulary, fold(guide), english=True)
    assert [t.text for t in english.missing] == ["rakuten"]  # ordinary English words are not checked
    ignored = coverage(extractor.terms("ビザのコツは？"), vocabulary, fold(guide), ignore=frozenset({"コツ"}))
    assert [t.text for t in ignored.missing] == ["ビザ"]


def test_a_role_no_guide_mentions_is_not_answered(write_guide, make_assistant):
    write_guide("baker")
    assistant = make_assistant()
    covered = assistant.ask("パン職人になるには何を身につければいいですか？")
    assert not covered.abstained and covered.citations
    missing = assistant.ask("看護師になるには何を身につければいいですか？")
    assert missing.abstained and not missing.citations
    assert "書かれていない" in missing.text
    # the same job with words before its name, or with another ending of its stem, is known
    from rag.relevance import known_role

    snapshot = assistant.snapshot
    assert known_role("パン職人", snapshot) and known_role("将来パン職人", snapshot)
    assert known_role("パン職員", snapshot)  # 「パン職」 with another job ending
    assert not known_role("看護師", snapshot) and not known_role("パイロット", snapshot)
    assert not assistant.ask("将来パン職人になりたいのですが、何を身につければいいですか？").abstained


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


def test_an_abstention_names_only_terms_no_guide_uses(write_guide, make_assistant):
    """The decision reads the answering guide's vocabulary; the message 「ガイドには『X』について
    の記載はありません」 must hold for every indexed guide, so a term another guide uses is not
    named even when the question was matched to this one."""
    from rag.relevance import used_anywhere

    write_guide("baker")
    write_guide(
        "florist", title="フローリスト（Florist）", duty="花束とアレンジメントの制作", task="仕入れた生花の水揚げ",
        skill="色彩感覚", skill_detail="花の色と季節を組み合わせる力。",
    )
    assistant = make_assistant()
    ctx = assistant._context("パン職人でも水揚げの仕事はありますか？ビザは取れますか？", None, "baker")
    missing = {t.text for t in ctx.judgement.coverage.missing}
    assert {"水揚げ", "ビザ"} <= missing  # both are missing from the baker's guide, which decides
    assert used_anywhere(assistant.snapshot, "水揚げ") and not used_anywhere(assistant.snapshot, "ビザ")
    assert {t.text for t in ctx.judgement.named} == {"ビザ"}  # only what no guide says is named
