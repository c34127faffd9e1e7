"""Shaped extractive answers: lists, steps and tables in full, clean prose, honest sources."""

from __future__ import annotations

import re

import pytest

from rag.answers.prose import FragmentDetector, announces, is_pointer, item_label, row_text, strip_label
from rag.answers.shape import (
    amount_in_asked_unit,
    asks_comparison,
    asks_feasibility,
    asks_first,
    asks_interview_questions,
    asks_need,
    asks_schedule,
    asks_what_job_does,
    definition_rank,
    shape_by_rules,
    states_need,
    states_openness,
)
from rag.answers.structure import parse
from tests.conftest import dedent


def _baker_guide(sections: str) -> str:
    """A baker's guide: the front matter and title, then ``sections`` (indented Markdown)."""
    return dedent(
        """
        ---json
        {"slug": "baker", "title": "パン職人（Baker）"}
        ---
        # パン職人（Baker）

        """
    ) + dedent(sections)


def _with_first(assistant, question: str, heading: str, *, shape: str, broad: bool = False):
    """``question`` composed as ``shape`` (widened to the section's parent only when ``broad``)
    with the one section whose heading starts with ``heading`` ranked first and every other
    candidate far below, whatever the ranker chose."""
    from dataclasses import replace

    import numpy as np

    from rag.retrieval import Ranking

    matches = [i for i, s in enumerate(assistant.snapshot.sections) if s.heading_path[-1].startswith(heading)]
    assert len(matches) == 1, matches
    ctx = assistant._context(question, None, None)
    first = int(np.flatnonzero(ctx.ranking.evidence.sections == matches[0])[0])
    scores = np.full_like(ctx.ranking.scores, ctx.ranking.scores.min() - 20.0)
    scores[first] = ctx.ranking.scores.max()
    order = np.array([first] + [i for i in ctx.ranking.order.tolist() if i != first], dtype=np.int64)
    ranking = Ranking(ctx.ranking.evidence, scores, order, ctx.ranking.guides, ctx.ranking.named, ctx.ranking.intent)
    return assistant.answerer.compose(replace(ctx, ranking=ranking, shape=shape, broad=broad))


def test_pointers_labels_and_fragments():
    assert is_pointer("以下に、CISOを目指すための具体的な学習ステップを解説します。")
    assert is_pointer("ここでは、実際の面接で出題されやすい、技術的な質問とその回答のポイントを15個紹介します。")
    assert not is_pointer("CISOは経営層と連携し、セキュリティ戦略を策定します。")
    # the guide speaking of itself, however long, is no answer; the job's own 「まとめます」 is
    assert is_pointer("本記事では、法人営業の業務内容、必要なスキルとツール、キャリアパス、将来展望までを徹底的に解説します。")
    assert is_pointer("ここからは、受験資格の取得から免許取得後の成長までを、6つのステップに分けて解説します。")
    assert not is_pointer("障害発生時には原因を切り分け、復旧し、再発防止策をまとめます。")
    assert strip_label("詳細: 経営層と連携し、成熟度モデルを設定します。") == "経営層と連携し、成熟度モデルを設定します。"
    assert strip_label("CISOは経営層の一員です。") == "CISOは経営層の一員です。"
    kept = "国内外の法規制（例：個人情報保護法、GDPR）を遵守します。"
    assert strip_label(kept) == kept  # a colon inside brackets is no label
    # labels may hold a comma, quotes or a closed bracket (written as **label:** in the guides)
    assert strip_label("記録を残し、事実で共有する: 日時と事実を記録する。") == "日時と事実を記録する。"
    assert strip_label("「小さなうちに」相談する: 早めに声をかける。") == "早めに声をかける。"
    assert strip_label("介護支援専門員（ケアマネジャー）: 5年以上の実務経験") == "5年以上の実務経験"
    fragments = FragmentDetector()
    assert fragments.is_fragment("高度な技術的洞察力、卓越した危機管理能力、そして組織を動かすリーダーシップ。")
    assert not fragments.is_fragment("CISOはインシデント対応を指揮します。")


def test_announcements_are_told_from_sentences_that_answer():
    assert announces("以下に、未経験から法人営業を目指す人向けの学習ステップを紹介します。")  # a pointer of any length
    assert announces("最後に、この仕事に向いている人の特徴を整理しておきます。")
    assert announces("例えば次のような質問が考えられます。") and announces("形式は大きく分けて次の3つです。")
    assert announces("（志望動機や自己PRなどの一般的な質問は除外します。")
    assert not announces("SREには必須の資格はありませんが、体系的な知識の証明として以下の資格が評価されることがあります。")
    assert not announces("面接官は、志望動機の明確さや公務員としての適性を見ています。")
    assert not announces("税理士法第2条は、次の3つを税理士の独占業務として定めています。")


def test_a_list_answer_opens_with_what_its_section_says_before_the_items(write_guide, make_assistant):
    """The section's own sentence before its items (「必須の資格はありませんが…」) often answers
    before the items do; one that only announces them (「…を紹介します。」) is not quoted."""
    from dataclasses import replace

    write_guide(
        text=_baker_guide(
            """
            ## 3️⃣ 必要なスキルとツール

            ### 📜 役立つ資格

            パン職人に必須の資格はありませんが、衛生や製法の知識を示すために次の資格が評価されることがあります。

            *   **パン製造技能士:** 国家検定で、実技と学科の試験があります。
            *   **食品衛生責任者:** 店舗の開業に必要な資格です。
            *   **製菓衛生師:** 製菓・製パンの衛生知識を証明する国家資格です。

            ## 9️⃣ 面接でよくある質問

            ここでは、パン屋の面接でよく聞かれる質問を紹介します。

            *   **なぜパン職人を目指すのですか？** きっかけとなった経験を語ります。
            *   **早朝の勤務は大丈夫ですか？** 生活リズムの整え方を具体的に伝えます。
            *   **好きなパンは何ですか？** 理由とともに店の商品への理解を示します。
            """
        ),
    )
    assistant = make_assistant()
    snapshot = assistant.snapshot

    def listed(question: str, heading: str) -> list[str]:
        ctx = assistant._context(question, None, None)
        section = next(i for i, s in enumerate(snapshot.sections) if s.heading_path[-1].endswith(heading))
        answer = assistant.answerer.compose(replace(ctx, ranking=ctx.ranking.pinned_to(snapshot, section), shape="list", broad=False))
        assert answer.shape == "list" and answer.items == (3, 3)
        return [line for line in answer.text.split("**出典**", 1)[0].splitlines() if line.strip()]

    lines = listed("パン職人になるのに資格はいる？", "役立つ資格")
    assert lines[0].startswith("パン職人に必須の資格はありませんが") and lines[0].endswith("[1]")
    assert lines[1].startswith("役立つ資格") and lines[2].startswith("- **パン製造技能士**")
    lines = listed("パン屋の面接で何を聞かれる？", "面接でよくある質問")
    assert lines[0].startswith("面接でよくある質問") and "紹介します" not in "".join(lines)


def test_item_labels_and_pointers_to_a_flow():
    assert item_label("*   **ステップ3（1年半〜3年）:** ウィッグでのカット課題。") == "ステップ3（1年半〜3年）"
    assert item_label("1. **目的:** 基礎を固める。") == "目的"
    assert item_label("*   ウィッグでのカット課題。") == ""
    assert item_label("ステップ3: 段落の文はリストの項目ではない。") == ""
    assert is_pointer("順番や期間はサロンによって異なりますが、一般的には次のような流れです。")
    assert not is_pointer("次のような人が向いています。")


def test_a_labelled_item_keeps_a_label_that_names_it(write_guide, make_assistant):
    """In an explanation, a list item whose label occurs once in the collection reads as
    **label** — detail (its label holds the answer: the years); a template's label that recurs
    (「目的」) is dropped. A question asking for an amount is led by a sentence with a number."""
    write_guide(
        "baker",
        text=_baker_guide(
            """
            ## 5️⃣ キャリアパス

            ### 一人前になるまでの流れ

            多くの店では、見習いが段階的に社内の技術チェックに合格していきます。

            *   **ステップ1（入社〜1年）:** 生地の計量、成形の補助、店頭の品出し。
            *   **ステップ2（1年〜3年）:** 仕込みと焼成を任され、配合の調整を覚えます。
            *   **ステップ3（3年〜5年）:** 新商品の試作に加わり、厨房の段取りを組みます。

            ### 学び方

            *   **目的:** 発酵の理屈を理解し、季節による違いに対応できるようになります。
            *   **目的:** 原価を意識した商品づくりができるようになります。
            """
        ),
    )
    assistant = make_assistant()
    answer = assistant.ask("パン職人の見習いが一人前になるまで何年くらいかかる？")
    body = answer.text.split("**出典**", 1)[0]
    lines = [line for line in body.splitlines() if line.strip()]
    # a short list is shown whole (every step with its years), each item by its label
    assert [re.match(r"^- \*\*(ステップ\d)（[^）]*年）\*\* — ", line).group(1) for line in lines if line.startswith("- ")] == [
        "ステップ1",
        "ステップ2",
        "ステップ3",
    ]
    assert "**ステップ2（1年〜3年）** — 仕込みと焼成を任され" in body
    assert "ステップ2（1年〜3年）:" not in body  # no label leak
    learn = assistant.ask("パン職人は発酵の理屈をどう学ぶ？")
    assert "**目的**" not in learn.text and "目的:" not in learn.text


def test_a_question_whether_something_is_needed_is_led_by_what_the_guide_requires(write_guide, make_assistant):
    """「必要ですか？」: the section's sentence that states the requirement leads (it is among
    the three closest readable sentences of the section, whatever their order)."""
    assert asks_need("パン職人に資格は必要ですか？") and asks_need("Do I need a license?")
    assert asks_need("専門学校に行かないとダメ？") and not asks_need("パン職人の一日は？")
    assert states_need("必須の資格はありません。") and states_need("学歴は問わない店が多いです。")
    assert not states_need("朝4時に仕込みを始めます。")
    write_guide(
        "baker",
        text=_baker_guide(
            """
            ## 3️⃣ 必要なスキル

            ### 資格について

            製菓衛生師は、パンや菓子の衛生管理の知識を証明する国家資格です。
            パン製造技能士は、実務経験を積んだ職人が受ける技能検定です。
            パン職人として働くために必須の資格はありません。
            """
        ),
    )
    assistant = make_assistant()
    ctx = assistant._context("パン職人に資格は必要ですか？", None, None)
    answer = assistant.answerer.compose(ctx, shape="explanation")
    assert answer.text.splitlines()[0].startswith("パン職人として働くために必須の資格はありません。")


def test_a_lead_that_states_a_view_is_shown_with_the_sentence_that_turns_it(write_guide, make_assistant):
    """「AIに仕事を奪われる？」: the closest sentence states the fear; the next sentence of its
    paragraph, which opens with a turn (「しかし…」), is the guide's answer and comes with it. A
    next sentence that does not turn what the lead said is not added."""
    write_guide(
        "baker",
        text=_baker_guide(
            """
            ## 6️⃣ パン職人の将来展望

            「パン作りはいずれ機械とAIに奪われる仕事だ」という声を耳にすることがあります。しかし実際には、手作りのパンを求める客は増えており、職人の技術の価値はむしろ高まっています。

            ### 1. 製造の自動化

            大手の工場では、生地の計量や分割を機械が担うようになりました。小さな店では今も職人が生地の状態を手で確かめています。
            """
        ),
    )
    assistant = make_assistant()
    ctx = assistant._context("パン職人の仕事はAIに奪われる？", None, None)
    first = assistant.answerer.compose(ctx, shape="explanation").text.splitlines()[0]
    assert first.startswith("「パン作りはいずれ機械とAIに奪われる仕事だ」という声を耳にすることがあります。しかし実際には、")
    assert first.count("[") == 1  # one quote, one citation
    ctx = assistant._context("パン工場では機械が何を担っていますか？", None, None)
    first = assistant.answerer.compose(ctx, shape="explanation").text.splitlines()[0]
    assert first.startswith("大手の工場では、生地の計量や分割を機械が担うようになりました。")
    assert "小さな店では" not in first


@pytest.mark.parametrize(
    ("question", "text", "answers"),
    [
        ("勉強時間はどのくらい必要ですか？", "合格までに一般に3,000〜5,000時間程度とも言われます。", True),
        ("勉強時間はどのくらい必要ですか？", "試験は年1回、8月に3日間行われます。", False),
        ("働きながらだと何年かかる？", "社会人であれば2〜3年以上かかることが多いです。", True),
        ("働きながらだと何年かかる？", "1年目は基礎を固めることが最大のテーマです。", False),
        ("年収はどれくらいが相場ですか？", "マネージャー昇格時に年収1,000万円前後に達します。", True),
        ("How long does it take?", "養成課程は3年から4年です。", True),
    ],
)
def test_an_amount_question_knows_the_unit_it_asks_in(question, text, answers):
    unit = amount_in_asked_unit(question)
    assert unit is not None and bool(unit.search(text)) is answers
    assert amount_in_asked_unit("どのくらい難しい？") is None


def test_an_amount_question_is_led_by_a_number_in_the_asked_unit(write_guide, make_assistant):
    """「勉強時間はどのくらい？」: the sentence that states hours leads, not a closer one that
    states a date (any number would do for a question that names no unit)."""
    write_guide(
        "baker",
        text=_baker_guide(
            """
            ## 7️⃣ パン職人になるための学習方法

            ### 製パン技能検定の勉強

            製パン技能検定の勉強時間は、試験の実施日である毎年8月に向けて計画します。
            検定の勉強では、製法の理論と衛生管理を学びます。
            検定の学科と実技に合格するまでの勉強時間は、一般に200〜300時間ほどと言われます。
            """
        ),
    )
    assistant = make_assistant()
    ctx = assistant._context("製パン技能検定の勉強時間はどのくらい必要ですか？", None, None)
    answer = assistant.answerer.compose(ctx, shape="explanation")
    assert answer.text.splitlines()[0].startswith("検定の学科と実技に合格するまでの勉強時間は、一般に200〜300時間")


def test_two_sentences_of_one_labelled_item_are_one_point_and_a_time_names_its_item():
    from rag.answers.compose import _one_line_per_item
    from rag.answers.prose import is_clock_label

    points = [
        (4, "**全国通訳案内士** — 観光庁所管の国家資格。"),
        (4, "**全国通訳案内士** — 翻訳とは別の職種ですが、観光分野では評価されます。"),
        (5, "**全国通訳案内士** — 別の節の同じ名前の項目。"),
        (4, "ラベルのない文。"),
    ]
    assert _one_line_per_item(points) == [
        (4, "**全国通訳案内士** — 観光庁所管の国家資格。翻訳とは別の職種ですが、観光分野では評価されます。"),
        (5, "**全国通訳案内士** — 別の節の同じ名前の項目。"),  # another section's item stays apart
        (4, "ラベルのない文。"),
    ]
    # a time of day names its item in a schedule, though every schedule has one
    assert is_clock_label("11:00") and is_clock_label("9:30 出社") and not is_clock_label("目的")


def test_a_table_row_reads_as_its_label_and_detail():
    table = parse("| No. | 面接質問 | 回答のポイント |\n| :--- | :--- | :--- |\n| 1 | ゼロトラストとは？ | IDを検証する。 |").tables[0]
    assert table.label_column() == 1 and table.is_counter(0)
    assert row_text(table, table.rows[0]) == "**ゼロトラストとは？** — IDを検証する。"


@pytest.mark.parametrize(
    ("question", "shape"),
    [
        ("CISOになるには何をどの順番で勉強すればいい？", "steps"),
        ("必要なスキルを全部教えて", "list"),
        ("CISOとCIOの違いは？", "table"),
        ("インシデント対応でCISOは何をする？", "explanation"),
    ],
)
def test_shape_rules(question, shape):
    assert shape_by_rules(question) == shape


def _items(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^(- |\d+\. )", line)]


def test_a_list_question_gets_the_whole_list_in_document_order(seed_assistant):
    answer = seed_assistant.ask("CISOの面接でよく聞かれる質問を全部教えて")
    assert not answer.abstained and answer.citations[0].heading_path[0].startswith("9️⃣")
    items = _items(answer.text)
    assert len(items) == 15  # all fifteen rows of the table, not two of them
    assert items[0].startswith("- **ゼロトラストモデルをどのように実装しますか？**")
    assert "No.:" not in answer.text and "面接質問（技術）:" not in answer.text  # no label leaks


def test_a_steps_question_gets_numbered_steps_in_the_guides_order(seed_assistant):
    answer = seed_assistant.ask("CISOになるための学習方法を順番に教えて")
    assert not answer.abstained
    steps = _items(answer.text)
    assert [s.split(".")[0] for s in steps] == [str(i) for i in range(1, 8)]
    assert "基礎的なセキュリティ知識とフレームワークの習得" in steps[0]
    assert "以下に" not in answer.text  # the introduction's pointer is not quoted


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("そのうち最初に取るべきなのは？", True),
        ("未経験から目指すなら、まず何から始めればいい？", True),
        ("じゃあどれから勉強すればいい？", True),
        ("Which of those should I focus on first?", True),
        ("Where should I start?", True),
        ("未経験だと最初の1年で何を勉強すればいい？", False),  # "the first year", not where to begin
        ("What was your first job?", False),
        ("CISOになるには何をどの順番で勉強すればいい？", False),
    ],
)
def test_asks_first(question, first):
    assert asks_first(question) is first


def test_where_to_begin_is_led_by_the_first_step(seed_assistant):
    listed = seed_assistant.ask("CISOになるための学習方法を順番に教えて")
    answer = seed_assistant.ask("CISOになるための学習方法は、まず何から始めればいい？")
    assert not answer.abstained and answer.shape == "steps"
    body = [line for line in answer.text.split("**出典**", 1)[0].splitlines() if line.strip()]
    # the lead names the first of the seven steps and quotes it, cited to that step
    assert body[0].startswith("まずは「基礎的なセキュリティ知識とフレームワークの習得」から")
    cited = int(re.search(r"\[(\d+)\]$", body[0]).group(1))
    assert answer.citations[cited - 1].heading_path[-1].startswith("1. ")
    # then the same numbered steps as for a question about all of them
    def uncited(text: str) -> list[str]:
        return [re.sub(r" \[\d+\]$", "", item) for item in _items(text)]

    assert uncited(answer.text) == uncited(listed.text) and len(uncited(answer.text)) == 7


@pytest.mark.parametrize(
    ("question", "names", "overview"),
    [
        ("看護師って実際どんな仕事するの？", ["看護師"], True),
        ("地方公務員の行政職ってどんな仕事するの？", ["地方公務員(行政職)", "地方公務員", "行政職"], True),
        ("What does a data scientist actually do?", ["data scientist"], True),
        ("クラウドエンジニアとは", ["クラウドエンジニア"], True),
        ("訪問歯科で働く歯科衛生士って何するの？", ["歯科衛生士"], False),  # a part of the job
        ("採用担当って毎日何してるの？", ["人事", "採用担当"], False),  # its day
        ("What does a nurse in Japan do on a typical shift?", ["nurse"], False),
        ("じゃあMLOpsって具体的に何するの？", ["機械学習エンジニア"], False),  # another topic
        ("看護師と准看護師の違いって何？", ["看護師"], False),  # a comparison
        ("看護師の仕事で大変なことは？", ["看護師"], False),
    ],
)
def test_asks_what_job_does(question, names, overview):
    assert asks_what_job_does(question, names) is overview


def test_definitions_are_told_from_sentences_about_the_job():
    names = ["sre", "看護師"]
    # the job as the predicate is the plainest definition, then the job as the topic on a copula
    assert definition_rank("…手法で実現する専門職が、**SRE（Site Reliability Engineer）**です。", names) == 0
    assert definition_rank("日本の看護師は、国家資格です。", names) == 1
    assert definition_rank("看護師は、患者の生活を支えます。", names) == 2
    assert definition_rank("看護師には守秘義務があります。", names) is None  # a case, not the topic
    assert definition_rank("看護師の仕事は多岐にわたります。", names) is None  # another topic
    assert definition_rank("しかし実際の看護師は、より広い領域を担う専門職です。", names) is None  # a reply
    assert definition_rank("SREの役割をたとえるなら、サービスの「主治医」です。", names) is None
    # 「…のが看護師なのです」 says what the job is; 「そこで登場するのが…」 answers the sentence before it
    assert definition_rank("その全体に責任を持つのが看護師なのです。", names) == 0
    assert definition_rank("そこで登場するのが、看護師です。", names) is None


def test_what_a_job_does_is_its_definition_then_its_duties(seed_assistant):
    """「CISOって何する仕事？」 gets the guide's sentence that says what a CISO is, then every
    duty of its duties section in order; a question about its day does not."""
    snapshot = seed_assistant.snapshot
    for question in ("CISOって何する仕事？", "What does a CISO do?"):
        answer = seed_assistant.ask(question)
        assert not answer.abstained and answer.shape == "list"
        body = [line for line in answer.text.split("**出典**", 1)[0].split("**Sources**", 1)[0].splitlines() if line.strip()]
        lead = next(line for line in body if line.endswith("[1]"))
        assert "CISO" in lead and re.search(r"です。 \[1\]$", lead)
        assert answer.citations[0].heading_path[0].startswith("1️⃣")
        duties = [s for s in snapshot.sections if len(s.heading_path) == 2 and s.heading_path[0].startswith("2️⃣")]
        numbered = [s.heading_path[-1] for s in duties if re.match(r"\d+\. ", s.heading_path[-1])]
        items = _items(answer.text)
        assert len(numbered) == 7 and len(items) == 7
        titles = [re.sub(r"^\d+\. ", "", heading) for heading in numbered]
        assert all(item.startswith(f"- **{title}**") for item, title in zip(items, titles))
        assert [c.heading_path[-1] for c in answer.citations[1:]] == numbered
    day = seed_assistant.ask("CISOの1日ってどんな感じ？")
    assert len(_items(day.text)) < 7


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("PdMの1日のスケジュールってどんな感じ？", True),
        ("保育士の1日の流れを教えていただけますか。", True),
        ("What would a typical day look like for me then?", True),
        ("編集者の1週間はどう過ぎますか？", True),
        ("宅建の試験日程はいつ？", False),
        ("年収はどれくらい？", False),
    ],
)
def test_asks_schedule(question, asks):
    assert asks_schedule(question) is asks


def test_asks_comparison():
    assert asks_comparison("幼稚園教諭と保育士の違いは何ですか？") and asks_comparison("SREとDevOpsってどう違う？")
    assert asks_comparison("How is a product manager different from a project manager?")
    assert not asks_comparison("間違いやすい点は？") and not asks_comparison("年収はどれくらい？")


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("文系でもデータサイエンティストになれますか？", True),
        ("営業からPdMになれる？", True),
        ("30歳で未経験、会計士目指すのは遅い？", True),
        ("出版社の編集者になるには、やっぱり有名大学じゃないと厳しいですか？", True),
        ("Can I become an ML engineer without a CS degree?", True),
        ("I'm 33. Am I too old to become a police officer in Japan?", True),
        ("未経験から目指すなら、まず何から始めればいい？", False),  # where to start
        ("ホテリエのキャリアパスってどうなってますか？支配人になれる？", False),  # rising within it
        ("市役所から県庁に転職ってできる？", False),
        ("不動産営業 ノルマ きつい", False),
        ("Can I open my own clinic as a PT in Japan?", False),
    ],
)
def test_asks_feasibility(question, asks):
    assert asks_feasibility(question) is asks


def test_states_openness():
    assert states_openness("フロントエンドエンジニアは、学歴や資格よりも「何を作れるか」が評価される職種です。")
    assert states_openness("受験資格に年齢や学歴の制限はなく、社会人から挑戦して合格する人もいます。")
    assert states_openness("順序立てて学べば未経験からでも十分に目指せます。")
    assert not states_openness("製パン学校で、生地づくりの基本を学びます。")


def test_who_may_enter_leads_a_question_whether_one_can(write_guide, make_assistant):
    """「文系でもなれる？」 landing on a learning step is led by what the learning section says
    about who may enter, cited to that section; a question about the step itself is not."""
    write_guide(
        text=_baker_guide(
            """
            ## 7️⃣ パン職人になるための学習方法

            パン職人は、学歴や資格よりも、毎朝の仕込みを続けられる体力と根気が問われる仕事です。

            ### 1. 製パンの基礎を学ぶ

            製パン学校や独学で、生地づくりと発酵の基本を学びます。
            小麦粉の種類による焼き上がりの違いも確かめておきます。

            ### 2. ベーカリーで修業する

            街のベーカリーで働きながら、成形と焼成の技術を身につけます。
            """
        ),
    )
    assistant = make_assistant()
    answer = _with_first(assistant, "文系でもパン職人になれますか？", "1. 製パンの基礎を学ぶ", shape="explanation")
    lead = answer.text.split("\n", 1)[0]
    assert lead.startswith("パン職人は、学歴や資格よりも、毎朝の仕込みを続けられる体力と根気が問われる仕事です。")
    cited = int(re.search(r"\[(\d+)\]$", lead).group(1))
    assert answer.citations[cited - 1].heading_path == ("7️⃣ パン職人になるための学習方法",)
    assert "製パン学校や独学で" in answer.text  # the step follows
    from rag.evaluation import answer_checks

    assert answer_checks(answer)["duplicate_lines"] == 0
    step = _with_first(assistant, "製パンの基礎はどうやって学ぶ？", "1. 製パンの基礎を学ぶ", shape="explanation")
    assert "学歴や資格よりも" not in step.text.split("\n", 1)[0]
    # landing on the learning section itself: the sentence leads once, not again among the points
    own = _with_first(assistant, "文系でもパン職人になれますか？", "7️⃣ パン職人になるための学習方法", shape="explanation")
    assert own.text.startswith("パン職人は、学歴や資格よりも") and own.text.count("学歴や資格よりも") == 1


def test_a_day_is_answered_with_its_whole_schedule(write_guide, make_assistant):
    """「1日の流れは？」 on a day-in-the-life section gets every entry of its schedule in order,
    whatever shape was guessed; another question on the same section gets its closest lines."""
    write_guide(
        text=_baker_guide(
            """
            ## 2️⃣ 主な業務

            パン職人は、仕込みから焼成、販売までを担います。

            ### パン職人のある1日

            街のベーカリーで働く3年目のパン職人の一日です。

            *   **4:00 出勤・仕込み:** 前日に仕込んだ生地の発酵具合を確かめます。
            *   **5:30 成形:** 生地を分割し、形を整えます。
            *   **7:00 焼成:** オーブンの温度を見ながら次々に焼き上げます。
            *   **10:00 品出し:** 焼き上がったパンを店頭に並べます。
            *   **12:00 休憩:** 交代で昼食をとります。
            *   **14:00 翌日の仕込み:** 翌日分の生地を仕込み、冷蔵庫で寝かせます。
            """
        ),
    )
    assistant = make_assistant()

    def answered(question: str):
        return _with_first(assistant, question, "パン職人のある1日", shape="explanation")

    day = answered("パン職人の1日のスケジュールはどんな感じですか？")
    times = re.findall(r"^- \*\*(\d{1,2}:\d{2})", day.text, flags=re.MULTILINE)
    assert times == ["4:00", "5:30", "7:00", "10:00", "12:00", "14:00"]
    assert day.items == (6, 6)
    other = answered("焼成で気をつけることは？")
    assert len(re.findall(r"^- \*\*\d{1,2}:\d{2}", other.text, flags=re.MULTILINE)) < 6


def test_a_lead_that_states_a_view_comes_with_the_turn_that_answers_it(write_guide, make_assistant):
    """A lead quoting the fear the guide reports is shown with the sentences that answer it: the
    concession (「確かに…」) and the turn after it (「しかしその一方で…」)."""
    write_guide(
        text=_baker_guide(
            """
            ## 6️⃣ 将来展望

            「パン職人の仕事は機械に置き換えられる」という声も聞かれます。確かに、成形の一部は機械化が進んでいます。しかしその一方で、生地の状態を見極める職人の判断の価値はむしろ高まっています。

            地域の小さなベーカリーは、朝食需要とともに数を増やしています。
            """
        ),
    )
    assistant = make_assistant()
    answer = _with_first(assistant, "パン職人の仕事は機械に置き換えられる？", "6️⃣ 将来展望", shape="explanation")
    lead = answer.text.split("\n", 1)[0]
    assert lead.startswith("「パン職人の仕事は機械に置き換えられる」という声も聞かれます。確かに、")
    assert "しかしその一方で、生地の状態を見極める職人の判断の価値はむしろ高まっています。 [1]" in lead
    assert answer.text.count("確かに") == 1  # the turn is part of the lead, not a point again


def test_a_short_list_is_shown_whole_and_a_long_one_excerpted(write_guide, make_assistant):
    """An explanation over a section whose own list has no more items than the explanation's
    points shows the whole list in order; a longer list is excerpted as before."""
    write_guide(
        text=_baker_guide(
            """
            ## 5️⃣ 働き方

            ### 休日と勤務

            パン屋の働き方には、業界特有の特徴があります。

            *   **休日:** 定休日は火曜日が多く、仕入れ先の休みに合わせるためです。
            *   **勤務時間:** 早朝4時ごろから仕込みが始まります。
            *   **給与:** 見習いの間は月給制が一般的です。

            ### 職場の種類

            パン職人が働く場所はさまざまです。

            *   **個人ベーカリー:** 少人数で全工程を担います。
            *   **ホテル:** 朝食ビュッフェのパンを焼きます。
            *   **製パン工場:** 機械を使って大量に生産します。
            *   **カフェ:** 軽食と一緒にパンを提供します。
            *   **百貨店:** 催事で地方のパンを売ります。
            *   **学校給食:** 子ども向けのパンを焼きます。
            """
        ),
    )
    assistant = make_assistant()

    def answered(question: str, heading: str):
        return _with_first(assistant, question, heading, shape="explanation")

    short = answered("パン屋の休みが火曜日なのはなぜ？", "休日と勤務")
    assert short.shape == "list" and short.items == (3, 3)
    assert [item.split("**")[1] for item in _items(short.text)] == ["休日", "勤務時間", "給与"]
    long = answered("ホテルのパン職人はどんな仕事をする？", "職場の種類")
    assert long.shape == "explanation" and long.items == (0, 0)
    # a comparison is read across the whole list, however long
    compared = answered("個人ベーカリーとホテルでは仕事がどう違う？", "職場の種類")
    assert compared.shape == "list" and compared.items == (6, 6)


def test_an_interview_table_answers_another_question_by_its_rows_not_whole(write_guide, make_assistant):
    """A comparison that lands on the interview section's table of questions is answered by the
    rows that match it, not by every question of the table; a question about the interview's
    questions gets them all."""
    write_guide(
        text=_baker_guide(
            """
            ## 9️⃣ 面接でよくある質問とその対策

            パン職人の面接では、製パンの基礎知識と衛生への意識が問われます。

            | No. | 質問 | 回答のポイント |
            | :--- | :--- | :--- |
            | 1 | 志望動機を教えてください。 | 店の商品を食べた経験と、自分の目標を結びつけて話す。 |
            | 2 | 発酵と熟成の違いを説明してください。 | 発酵は酵母がガスを生む過程、熟成は生地の風味と伸びが整う過程と区別する。 |
            | 3 | 早朝勤務に対応できますか？ | 生活リズムの整え方を具体的に伝える。 |
            | 4 | 衛生管理で気をつけていることは？ | 手洗いと温度管理の習慣を挙げる。 |
            | 5 | 失敗した生地をどう扱いますか？ | 原因を記録し、次の仕込みに活かすと答える。 |
            | 6 | 将来の目標は？ | 独立や技術の習得など、具体的な目標を話す。 |
            """
        ),
    )
    assistant = make_assistant()
    compared = _with_first(assistant, "発酵と熟成ってどう違うの？", "9️⃣ 面接でよくある質問とその対策", shape="explanation")
    assert compared.text.startswith("**発酵と熟成の違いを説明してください。** — 発酵は酵母がガスを生む過程")
    shown = [q for q in ("志望動機", "早朝勤務", "衛生管理", "失敗した生地", "将来の目標") if q in compared.text]
    assert compared.items != (6, 6) and len(shown) < 5  # the closest rows as points, not all of them
    asked = assistant.ask("パン職人の面接でよく聞かれる質問は？")
    assert asked.items == (6, 6)


def test_a_sentence_that_announces_a_list_brings_the_list(write_guide, make_assistant):
    """An explanation that quotes 「次のような…」 at the end of a paragraph shows the list that
    follows it; 「次の」 inside a paragraph (the next shift) announces nothing."""
    write_guide(
        text=_baker_guide(
            """
            ## 3️⃣ 必要なスキル

            パン職人は、体力と根気が問われる仕事です。次のような人が、この仕事で力を発揮しやすいでしょう。

            *   **朝に強い人:** 早朝からの仕込みを苦にしません。
            *   **手先が器用な人:** 成形の美しさが売れ行きを左右します。
            *   **数字に強い人:** 原価と廃棄を管理できます。
            *   **体力のある人:** 重い粉袋を運び、一日中立って働きます。
            *   **研究熱心な人:** 新しい配合を試し続けます。

            ### 働き方

            早番は4時に始まり、次の遅番に生地を引き継ぎます。休日はシフトで決まります。
            """
        ),
    )
    assistant = make_assistant()

    def answered(question: str, heading: str):
        return _with_first(assistant, question, heading, shape="explanation")

    fit = answered("どんな人がパン職人で力を発揮しやすい？", "3️⃣ 必要なスキル")
    body = fit.text.split("**出典**", 1)[0]
    assert "次のような人が、この仕事で力を発揮しやすいでしょう。" in body
    names = ["朝に強い人", "手先が器用な人", "数字に強い人", "体力のある人", "研究熱心な人"]
    assert [item.split("**")[1] for item in _items(fit.text)] == names
    assert fit.items == (5, 5)
    shift = answered("早番は何時から？", "働き方")
    assert shift.shape == "explanation" and shift.items == (0, 0) and "次の遅番" in shift.text


@pytest.mark.parametrize(
    ("question", "asks"),
    [
        ("SRE 面接 よく聞かれること", True),
        ("法人営業を中途採用するとき、面接でどこを見ればいいでしょうか。", True),
        ("What should I ask in an interview when hiring an iOS engineer?", True),
        ("and what do they usually ask in interviews?", True),
        ("面接の逆質問で何を聞けばいい？", False),  # questions for the interviewer
        ("What questions should I ask the interviewer?", False),
        ("How do I prepare for a digital marketing interview?", False),
        ("技術面接は外部に頼むべきですか？", False),
    ],
)
def test_asks_interview_questions(question, asks):
    assert asks_interview_questions(question) is asks


def test_interview_questions_come_from_the_sections_own_list(write_guide, make_assistant):
    """「面接で何を聞かれる？」 that landed on the preparation tips or on 「逆質問」 gets the
    interview section's own list of questions; a subsection about questions asked stays."""
    write_guide(
        text=_baker_guide(
            """
            ## 9️⃣ 面接でよくある質問とその対策

            パン屋の面接では、早朝勤務への適性と衛生への意識が問われます。

            | No. | 面接質問 | 回答のポイント |
            | :--- | :--- | :--- |
            | 1 | なぜパン職人を目指すのですか？ | きっかけとなった経験を語る。 |
            | 2 | 早朝の勤務は大丈夫ですか？ | 生活リズムの整え方を伝える。 |
            | 3 | 衛生管理で気をつけることは？ | 手洗いと温度記録を挙げる。 |

            ### 逆質問で確認しておきたいこと

            *   **仕込みの時間帯:** 何時から始まるかを確認します。
            *   **教育体制:** 先輩の指導があるかを確認します。
            *   **休日:** 週休の形を確認します。

            ### 経験者採用の面接で問われること

            経験者採用では、これまでに焼いたパンの種類と量が問われます。
            """
        ),
    )
    assistant = make_assistant()

    def answered(question: str, heading: str):
        return _with_first(assistant, question, heading, shape="list")

    answer = answered("パン屋の面接ではどんなことを聞かれますか？", "逆質問")
    body = answer.text.split("**出典**", 1)[0]
    assert answer.items == (3, 3) and "**なぜパン職人を目指すのですか？**" in body
    assert body.lstrip().startswith("パン屋の面接では、早朝勤務への適性") and "仕込みの時間帯" not in body
    assert answer.citations[0].heading_path == ("9️⃣ 面接でよくある質問とその対策",)
    # the questions for the interviewer are asked for by name; a subsection of questions asked stays
    assert "仕込みの時間帯" in answered("逆質問では何を聞けばいい？", "逆質問").text
    kept = answered("経験者の面接では何を聞かれる？", "経験者採用")
    assert kept.citations[0].heading_path[-1] == "経験者採用の面接で問われること"


def test_sources_list_each_cited_section_once_without_repeating_the_body(seed_assistant):
    answer = seed_assistant.ask("インシデントが起きたとき CISO は何を指揮する？")
    sources = answer.text.split("**出典**", 1)[1]
    paths = [c.path for c in answer.citations]
    assert len(paths) == len(set(paths))
    for c in answer.citations:
        assert sources.count(c.path) == 1
    assert ">" not in sources  # quotes live in the citations (the app shows them), not twice in the text


def test_a_question_about_a_whole_section_gets_every_subsection_grouped(seed_assistant):
    from dataclasses import replace

    from rag.evaluation import answer_checks

    ctx = seed_assistant._context("CISOに必要なスキルは？", None, None)
    answer = seed_assistant.answerer.compose(replace(ctx, broad=True), shape="list")
    paths = [c.heading_path for c in answer.citations]
    assert [p[-1] for p in paths] == ["🚀 技術スキル（ハードスキル）", "🤝 組織・管理スキル（ソフトスキル）", "💻 ツール・サービス"]
    assert all(p[0].startswith("3️⃣") for p in paths)
    body = answer.text.split("**出典**", 1)[0]
    groups = [line for line in body.splitlines() if line.startswith("- **")]
    nested = [line for line in body.splitlines() if line.startswith("  - ")]
    assert [g.split("**")[1] for g in groups] == ["技術スキル（ハードスキル）", "組織・管理スキル（ソフトスキル）", "ツール・サービス"]
    # each subsection's list in full, up to the documented limit
    shown, total = answer.items
    assert len(nested) == shown == total and "件中" not in body
    checks = answer_checks(answer)
    assert checks["dangling_pointers"] == checks["duplicate_lines"] == checks["label_leaks"] == 0

    # a list longer than the limit is cut, and what is cut is counted under its heading
    from rag.answers.compose import ExtractiveAnswerer

    short = ExtractiveAnswerer(max_items=2).compose(replace(ctx, broad=True), shape="list")
    body = short.text.split("**出典**", 1)[0]
    cut = [(int(a), int(b)) for a, b in re.findall(r"（(\d+)件中(\d+)件", body)]
    assert cut and all(s == 2 for _, s in cut)
    assert short.items == (total - sum(t - s for t, s in cut), total)
    assert len([line for line in body.splitlines() if line.startswith("  - ")]) == short.items[0]


def test_a_whole_section_with_its_own_table_shows_the_table_then_its_subsections(write_guide, make_assistant):
    """A question about a whole section whose own text holds a table (a career ladder) gets that
    table whole, after the section's sentence before it, then each subsection by its heading and
    first sentence, the one the ranker chose with its next closest sentence under it."""
    write_guide(
        text=_baker_guide(
            """
            ## 5️⃣ キャリアパス

            パン職人のキャリアは、見習いから始まり、職長を経て独立へと進むのが一般的です。

            | 段階 | 役割 |
            | :--- | :--- |
            | **見習い** | 材料の計量と仕込みの補助を担う。 |
            | **職人** | 成形と焼成を任され、商品を仕上げる。 |
            | **職長** | 厨房全体の段取りと後輩の指導を担う。 |

            ### 独立という選択肢

            経験を積んだ職人の中には、自分の店を開く人もいます。
            開業の前に、原価計算と仕入れ先の開拓を職長の時期から学んでおくと安心です。

            ### 海外で働く

            フランスやドイツのベーカリーで修業を積む人もいます。
            """
        ),
    )
    assistant = make_assistant()
    answer = _with_first(assistant, "パン職人のキャリアパスは？", "独立という選択肢", shape="explanation", broad=True)
    body = [line for line in answer.text.split("**出典**", 1)[0].splitlines() if line.strip()]
    assert body[0].startswith("パン職人のキャリアは、見習いから始まり")
    labels = [line.split("**")[1] for line in body if line.startswith("- **")]
    assert labels == ["見習い", "職人", "職長", "独立という選択肢", "海外で働く"]
    assert answer.items == (3, 3)  # the table's rows are the answer's items
    details = [line for line in body if line.startswith("  - ")]
    assert details and details[0].startswith("  - 開業の前に、原価計算と仕入れ先の開拓")
    from rag.evaluation import answer_checks

    assert answer_checks(answer)["duplicate_lines"] == 0


def test_an_explanation_about_a_whole_section_lists_its_subsections(seed_assistant):
    from dataclasses import replace

    ctx = seed_assistant._context("CISOは普段どんな仕事をしているの？", None, None)
    answer = seed_assistant.answerer.compose(replace(ctx, broad=True), shape="explanation")
    cited = [c.heading_path for c in answer.citations]
    duties = [p for p in cited if p[0].startswith("2️⃣") and len(p) == 2]
    assert len(duties) == 7  # every one of the seven duties, in the guide's order
    assert sorted(p[1][0] for p in duties) == list("1234567")
    body = [line for line in answer.text.split("**出典**", 1)[0].splitlines() if line.strip()]
    items = [line for line in body if line.startswith("- **")]
    in_order = [p[1].split(". ", 1)[1] for p in sorted(duties, key=lambda p: p[1])]
    assert [line.split("**")[1] for line in items] == in_order  # in the guide's order
    # the family's sentence closest to the question leads, then the overview (no line twice)
    assert not body[0].startswith("- ") and re.search(r"\[\d+\]$", body[0])
    from rag.evaluation import answer_checks

    assert answer_checks(answer)["duplicate_lines"] == 0


def test_the_breadth_model_decides_only_when_fitted(seed_assistant):
    from dataclasses import replace

    from rag.answers.breadth import BREADTH_FEATURES, decide_broad

    snapshot = seed_assistant.snapshot
    ctx = seed_assistant._context("CISOに必要なスキルを全部教えて", None, None)
    assert snapshot.calibration is not None and snapshot.calibration.breadth is not None
    assert snapshot.calibration.breadth.features == BREADTH_FEATURES
    assert not decide_broad(snapshot, ctx.ranking, ctx.question, replace(snapshot.calibration, breadth=None))
    pinned = ctx.ranking.pinned_to(snapshot, int(ctx.ranking.sections[0]))
    assert not decide_broad(snapshot, pinned, ctx.question, snapshot.calibration)  # the reader chose one section


#: A baker's career stages as a guide writes them (two whole-table tests share it).
_CAREER_TABLE = """\
| 段階 | 主な役割 | 必要な経験 |
| --- | --- | --- |
| 見習い | 生地の計量と成形の補助 | 衛生管理の基礎 |
| 職人 | 仕込みから焼成まで一人で担当 | 3年以上の現場経験 |
| シェフ | 商品開発と厨房の統括 | 原価管理と人材育成 |
| オーナー | 独立開業と店舗経営 | 資金計画と集客 |
| 講師 | 製パン学校で技術を教える | 指導経験と資格 |
"""


def test_a_whole_table_follows_the_sentence_that_answers(write_guide, make_assistant):
    """An explanation whose best passages include several rows of a table shows the whole
    table; when the best passage of the section is a sentence, that sentence leads."""
    from dataclasses import replace

    write_guide(
        "baker",
        text=_baker_guide(
            f"## 5️⃣ キャリアパス\n\n{_CAREER_TABLE}\nパン職人の年収の目安は、見習いで250万円前後、シェフで450万円から600万円です。\n"
        ),
    )
    assistant = make_assistant()
    ctx = assistant._context("パン職人の年収の目安は？", None, None)
    answer = assistant.answerer.compose(ctx, shape="explanation")
    body = answer.text.split("**出典**", 1)[0]
    lines = [line for line in body.splitlines() if line.strip()]
    assert lines[0].startswith("パン職人の年収の目安は")
    assert sum(line.startswith("- **") for line in lines) == 5  # every row, in order
    assert body.index("見習い**") < body.index("職人**") < body.index("シェフ**") < body.index("オーナー**") < body.index("講師**")
    assert answer.items == (5, 5)


def test_a_whole_table_led_by_a_row_opens_with_what_its_section_says_first(write_guide, make_assistant):
    """When a row is the best passage, the whole table follows the section's own sentence
    before it (as a list answer does), not a bare list of rows."""
    write_guide(
        "baker",
        text=_baker_guide(f"## 5️⃣ キャリアパス\n\nパン職人は見習いから始まり、10年ほどで独立開業する人もいます。\n\n{_CAREER_TABLE}"),
    )
    assistant = make_assistant()
    ctx = assistant._context("シェフになると厨房で何を任される？", None, None)
    answer = assistant.answerer.compose(ctx, shape="explanation")
    lines = [line for line in answer.text.split("**出典**", 1)[0].splitlines() if line.strip()]
    assert lines[0] == "パン職人は見習いから始まり、10年ほどで独立開業する人もいます。 [1]"
    assert sum(line.startswith("- **") for line in lines) == 5 and answer.items == (5, 5)


def _with_second(ranking, snapshot, second: int, gap: float):
    """``ranking`` with ``second`` moved to second place, ``gap`` below the first in score and
    every other candidate far below (the ranker's probabilities are a softmax of these)."""
    import numpy as np

    from rag.retrieval import Ranking

    first = int(ranking.order[0])
    where = int(np.flatnonzero(ranking.evidence.sections == second)[0])
    scores = np.full_like(ranking.scores, ranking.scores[first] - 20.0)
    scores[first], scores[where] = ranking.scores[first], ranking.scores[first] - gap
    order = np.array([first, where] + [i for i in ranking.order.tolist() if i not in (first, where)], dtype=np.int64)
    return Ranking(ranking.evidence, scores, order, ranking.guides, ranking.named, ranking.intent)


def test_a_close_second_section_is_answered_from_too(seed_assistant):
    """When the ranker finds another section nearly as likely, the answer gives that section's
    own content under its title (its list for a list question), after the lead's answer."""
    import math
    from dataclasses import replace

    from rag.answers.compose import RELATED_POINTS, RELATED_RATIO
    from rag.documents import heading_title

    snapshot = seed_assistant.snapshot
    ctx = seed_assistant._context("CISOに必要なスキルを全部教えて", None, None)
    lead = int(ctx.ranking.sections[0])
    family = {lead, int(snapshot.layout.section_parent[lead])}
    interview = next(
        int(s) for s in ctx.ranking.evidence.sections
        if snapshot.sections[s].heading_path[0].startswith("9️⃣") and int(snapshot.layout.section_parent[s]) not in family
        and int(s) not in family and len(parse(snapshot.sections[s].text).tables) > 0
    )
    title = heading_title(snapshot.sections[interview].heading_path[-1])
    close = replace(ctx, ranking=_with_second(ctx.ranking, snapshot, interview, gap=0.1), shape="list", broad=False)
    alone = seed_assistant.answerer.compose(replace(close, ranking=ctx.ranking.pinned_to(snapshot, lead), shape="list"))
    answer = seed_assistant.answerer.compose(close)
    body = answer.text.split("**出典**", 1)[0]
    assert f"**関連する記載 — {title}**" in body
    part = body.split(f"**関連する記載 — {title}**", 1)[1]
    number = next(c.number for c in answer.citations if c.heading_path == snapshot.sections[interview].heading_path)
    assert len([line for line in _items(part) if line.endswith(f"[{number}]")]) == 15  # the whole interview table
    assert answer.shape == "list" and answer.items == alone.items  # the lead's shape and counts are reported

    prose = next(
        int(s) for s in ctx.ranking.evidence.sections
        if int(s) not in family and int(snapshot.layout.section_parent[s]) not in family
        and not snapshot.layout.section_has_children[s] and not parse(snapshot.sections[s].text).tables
        and len(parse(snapshot.sections[s].text).sentences) > RELATED_POINTS
    )
    title = heading_title(snapshot.sections[prose].heading_path[-1])
    explained = seed_assistant.answerer.compose(
        replace(close, ranking=_with_second(ctx.ranking, snapshot, prose, gap=0.1), shape="explanation")
    )
    part = explained.text.split("**出典**", 1)[0].split(f"**関連する記載 — {title}**", 1)[1]
    quoted = [line for line in part.splitlines() if line.strip()]
    assert 1 <= len(quoted) <= RELATED_POINTS and all(line.endswith("]") for line in quoted)

    far = replace(close, ranking=_with_second(ctx.ranking, snapshot, interview, gap=-math.log(RELATED_RATIO) + 0.5))
    assert "**関連する記載" not in seed_assistant.answerer.compose(far).text


def test_a_close_section_of_another_job_is_titled_with_that_job(write_guide, make_assistant):
    """A related part from another guide names its job: under a bare heading (「仕事内容」)
    the reader would take it for the lead's job."""
    from dataclasses import replace

    write_guide("baker")
    write_guide("florist", title="花屋（Florist）", duty="生花の仕入れとアレンジメント", task="切り花の水揚げ", skill="色彩感覚", skill_detail="季節の花を組み合わせる力。")
    assistant = make_assistant()
    snapshot = assistant.snapshot
    ctx = assistant._context("パン職人の仕事内容は？", None, None)
    lead = int(ctx.ranking.sections[0])
    assert snapshot.sections[lead].guide == "baker"
    other = next(int(s) for s in ctx.ranking.evidence.sections if snapshot.sections[int(s)].guide == "florist")
    close = replace(ctx, ranking=_with_second(ctx.ranking, snapshot, other, gap=0.1), shape="explanation", broad=False)
    text = assistant.answerer.compose(close).text
    from rag.documents import heading_title

    title = heading_title(snapshot.sections[other].heading_path[-1])
    label = snapshot.guides["florist"].label
    assert label == "Florist" and f"**関連する記載 — {label} › {title}**" in text


def test_a_close_sibling_subsection_is_answered_from_but_not_the_leads_parent(seed_assistant):
    from dataclasses import replace

    from rag.documents import heading_title

    snapshot = seed_assistant.snapshot
    layout = snapshot.layout
    ctx = seed_assistant._context("インシデント対応でCISOは何をする？", None, None)
    lead = int(ctx.ranking.sections[0])
    parent = int(layout.section_parent[lead])
    assert parent != lead  # the lead is a subsection (2️⃣ 主な業務 › 3. インシデント対応…)
    candidates = {int(s) for s in ctx.ranking.evidence.sections}
    sibling = next(s for s in range(len(snapshot.sections)) if s in candidates and s not in (lead, parent) and int(layout.section_parent[s]) == parent)
    close = replace(ctx, ranking=_with_second(ctx.ranking, snapshot, sibling, gap=0.1), shape="explanation", broad=False)
    text = seed_assistant.answerer.compose(close).text
    assert f"**関連する記載 — {heading_title(snapshot.sections[sibling].heading_path[-1])}**" in text
    assert parent in candidates
    up = replace(close, ranking=_with_second(ctx.ranking, snapshot, parent, gap=0.1))
    assert "**関連する記載" not in seed_assistant.answerer.compose(up).text


def test_a_clock_time_is_part_of_a_label_not_a_label():
    """「9:00 出所・メール確認: …」 (a schedule item) loses its label, never just 「9」, and a
    colon between digits is no label at all."""
    assert strip_label("9:00 出所・メール確認: 依頼者からの連絡を確認します。") == "依頼者からの連絡を確認します。"
    assert strip_label("朝9:00に出社し、メールを確認します。") == "朝9:00に出社し、メールを確認します。"
    assert strip_label("比率は1:1です。") == "比率は1:1です。"
    from rag.answers.compose import ExtractiveAnswerer

    assert ExtractiveAnswerer._item_text("10:00 顧問先訪問（月次監査）: 試算表をもとに社長へ報告します。") == (
        "**10:00 顧問先訪問（月次監査）** — 試算表をもとに社長へ報告します。"
    )


def test_an_outline_of_steps_quotes_more_of_the_step_the_ranker_chose(seed_assistant):
    """A steps outline shows each step by its heading and first sentence; the step the ranker
    put first also shows, indented under it, its closest sentences that the outline does not
    show yet (a step's first sentence states its aim; the asker's detail is further in)."""
    from rag.answers.compose import OUTLINE_DETAILS
    from rag.evaluation import answer_checks

    question = "CISOになるための勉強の順番は？クラウドセキュリティはどう学べばいい？"
    ctx = seed_assistant._context(question, None, None)
    answer = seed_assistant.answerer.compose(ctx, shape="steps")
    top = seed_assistant.snapshot.sections[int(ctx.ranking.sections[0])]
    assert top.heading_path[0].startswith("7️⃣") and len(top.heading_path) == 2
    body = answer.text.split("**出典**", 1)[0].splitlines()
    steps = [line for line in body if re.match(r"^\d+\. ", line)]
    assert len(steps) == 7
    details = [line for line in body if line.startswith("   - ")]
    assert 1 <= len(details) <= OUTLINE_DETAILS
    # right under the chosen step, cited to it, quoted from it, and shown once
    at = body.index(details[0])
    step = next(line for line in reversed(body[:at]) if re.match(r"^\d+\. ", line))
    assert step.split("**")[1] == top.heading_path[-1].split(". ", 1)[1]
    number = int(re.search(r"\[(\d+)\]$", step).group(1))
    for line in details:
        assert int(re.search(r"\[(\d+)\]$", line).group(1)) == number
        quoted = re.sub(r"^\s+- (\*\*[^*]+\*\* — )?| \[\d+\]$", "", line).rstrip("…")
        assert quoted[:20] in top.text
    assert answer_checks(answer)["duplicate_lines"] == 0
