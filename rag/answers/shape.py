"""What shape an answer takes: an explanation, a list, a table or steps.

The question says what the reader needs; a calibration carries a classifier fitted on the
labelled ``shape`` of the corpus questions (multinomial logistic on the question vector).
Without one, interrogative patterns decide. The matched section then says what is possible
(a list question over a section without items becomes an explanation).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from ..fitting.artifact import ANSWER_SHAPES
from ..fitting.intent import IntentModel
from ..normalization import fold

SHAPES = ANSWER_SHAPES

_STEPS = re.compile(
    r"順番|順序|ステップ|手順|ロードマップ|何から|まず何|最初に何|どうやって.{0,12}(?:なる|なれ|目指)|なるには|なるため|"
    r"目指すには|ルート|道のり|\bsteps?\b|\broadmap\b|where (?:do|should) i start|how (?:do|can|would) i (?:become|get)",
    re.IGNORECASE,
)
_LIST = re.compile(
    r"全部|すべて|全て|一覧|リスト|いくつか|挙げ|どんな.{0,12}(?:が|は)?(?:ある|あります)|"
    r"(?:スキル|資格|ツール|質問|企業|会社|就職先|職場|仕事内容|業務|役割|知識|科目|本)(?:は|って|を)?(?:何|なに|どれ|教えて)|"
    r"\bwhat (?:are|kinds?|types?)\b|\bwhich\b.{0,30}\b(?:skills|tools|certifications|questions|companies|employers)\b|\blist\b",
    re.IGNORECASE,
)
_TABLE = re.compile(r"比較|違い|表で|一覧表|\bcompare\b|\bcomparison\b|\bdifference\b|\bvs\.?\b", re.IGNORECASE)


# Words that ask for a format outright: they decide before any classifier.
_EXPLICIT = (
    ("table", re.compile(r"表で|表に|一覧表|比較|\btable\b|\bcompare\b|\bcomparison\b", re.IGNORECASE)),
    ("steps", re.compile(r"順番|順序|ステップ|手順|\bstep[- ]by[- ]step\b|\bsteps\b|\bin order\b", re.IGNORECASE)),
    ("list", re.compile(r"全部|すべて|全て|一覧|リストで|\blist (?:all|every)\b|\ball (?:the )?\w+s\b", re.IGNORECASE)),
)


# Asks where to begin (「最初に何を」「どれから」, "which … first"): in a list of steps, the first.
_FIRST = re.compile(
    r"最初に|最初は|まず(?:は)?(?:何|なに|どれ)|何から|なにから|どれから|一番最初|いちばん最初|手始め|"
    r"\b(?:what|which)\b[^.?!]*\bfirst\b(?!\s*[a-z])|where (?:do|should|would|can) i (?:start|begin)|\bstart with\b",
    re.IGNORECASE,
)


def asks_first(question: str) -> bool:
    """The question asks what to do or take first (「まず何から」, "which should I learn first?")."""
    return bool(_FIRST.search(question))


# Asks whether something is needed (「資格は必要ですか？」「専門学校に行かないとダメ？」, "do I need a
# degree?"): the answer is a sentence that states what is (or is not) required.
_ASKS_NEED = re.compile(
    r"必要(?:ですか|ある|あり|です|な[のん]|か|？|\?)|必須|(?:いる|要る|いります|要ります)(?:の)?(?:ですか|？|\?)|"
    r"なくても|ないと(?:ダメ|だめ|無理|いけない)|じゃないと|でないと|"
    r"\bneeds?\b|\brequired?\b|\brequirements?\b|\bnecessary\b|\bhave to\b|\bmust\b",
    re.IGNORECASE,
)
_STATES_NEED = re.compile(r"必要|必須|不要|問わ|なくても|欠かせ|求められ|義務|なければ(?:なら|いけ)|限られ")


def asks_need(question: str) -> bool:
    """The question asks whether something is required (「国家資格は必要ですか？」, "do I need…")."""
    return bool(_ASKS_NEED.search(question))


def states_need(text: str) -> bool:
    """The sentence says what is, or is not, required (「必須の資格はありません」「学歴は問わない」)."""
    return bool(_STATES_NEED.search(text))


# The unit an amount question asks in (「勉強時間はどのくらい？」 asks for hours, 「何年かかる？」 for
# years, 「年収は？」 for yen), and how a number in that unit is written (「3,000〜5,000時間」
# 「2〜3年」「約400万円」): a sentence that states a number in the asked unit answers before one
# that states any number (「8月に3日間」 does not say how many hours of study).
_NUMBER = r"[0-9０-９][0-9０-９,，.．]*\s*(?:[〜～~\-－]\s*[0-9０-９][0-9０-９,，.．]*\s*)?(?:万|千|百)?\s*"
_UNITS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = tuple(
    (re.compile(asks, re.IGNORECASE), re.compile(_NUMBER + unit + r"(?!目)"))  # 「1年目」 is a year of service
    for asks, unit in (
        (r"何時間|時間(?:は|が|って|を|で|く?らい|ほど)|\bhours?\b", r"時間"),
        (r"何[かヶケカ]月|[かヶケカ]月(?:く?らい|ほど)|\bmonths?\b", r"(?:[かヶケカ]月|年)"),
        (r"何年|年数|年(?:く?らい|ほど)|\byears?\b|\bhow long\b", r"(?:年|[かヶケカ]月)"),
        (r"年収|月収|給[料与]|報酬|収入|初任給|月給|時給|いくら|何円|\bsalary\b|\bpay\b|\bearn|\bincome\b|\bhow much\b", r"円"),
        (r"合格率|割合|何割|何[%％]|\bpass rate\b|\bpercent", r"(?:[%％]|割)"),
        (r"何人|人数|\bhow many people\b", r"(?:人|名)"),
    )
)


def amount_in_asked_unit(question: str) -> re.Pattern[str] | None:
    """A pattern for a number in the unit an amount question asks in, or None when the question
    names no unit (「どのくらい難しい？」)."""
    return next((amount for asks, amount in _UNITS if asks.search(question)), None)


# Asks what the job (or a thing) is or does (「SREって何する仕事？」「看護師とは？」, "what does a
# nurse do?"): the answer is a sentence that says what it is, in the guide's words.
_ASKS_DEFINITION = re.compile(
    r"(?<!こ)とは(?:何|なに|どんな|具体的|[?？]|$)|って(?:何|なに)(?:[?？]|ですか|なの|を?する|$)|"
    r"(?:何|なに)を?(?:する|して(?:る|いる))(?:仕事|人|職業|の)|どんな仕事|何の仕事|"
    r"\bwhat (?:does|do) (?:an? |the )?[^?]{1,60}\bdo\b",
    re.IGNORECASE,
)
# What a question asks about, before 「って」「とは」 (「ソリューション営業って何？」).
_ASKED_TOPIC = re.compile(r"([^\s、。,？?]{2,20}?)(?:って|とは)")
# A sentence that opens on its topic: 「データサイエンティストは、…」「SREとは、…」.
_TOPIC = re.compile(r"^\s*(?:\*\*)?([^、。,「」]{1,60}?)(?:\*\*)?(?:とは|は)(?![がをにでのもと])[、,]?")
# A sentence whose predicate is the name: 「…を実現する専門職が、**SRE（…）**です。」
_FOCUS = re.compile(r"が[、,]?\s*(?:\*\*)?([^が、。,「」]{1,60}?)(?:\*\*)?(?:なの)?(?:です|である)[。.]?\s*$")
_PARENTHESES = re.compile(r"[（(][^）)]*[）)]")
# A topic may carry a few words before the name (「日本の看護師」), not after it (「看護師の仕事」
# is another topic).
_TOPIC_SLACK = 8
_NOT_TOPIC = ("に", "で", "と", "へ", "から", "まで", "より")
_CONNECTIVES = ("しかし", "ただし", "また", "つまり", "一方", "実際", "そして", "さらに", "なお", "でも", "だから", "そのため", "そこで")
#: A definition proper ends on a copula (「…専門職です。」「…存在である。」).
_COPULA = re.compile(r"(?:です|である|だ)[。.]?\s*$")


def asks_definition(question: str) -> bool:
    """The question asks what something is or does (「PdMって何する人？」, "what does an SRE do?"),
    not how two things differ (「違いって何？」)."""
    return bool(_ASKS_DEFINITION.search(question)) and not _TABLE.search(question)


def asked_topics(question: str) -> list[str]:
    """What a Japanese question names before 「って」/「とは」 (folded)."""
    return [fold(m.group(1)) for m in _ASKED_TOPIC.finditer(question)]


def _names_it(phrase: str, names: Sequence[str]) -> bool:
    """``phrase`` (a topic or a predicate) is one of ``names``, with a few words before it."""
    phrase = _PARENTHESES.sub("", fold(phrase.replace("**", ""))).strip()
    return any(name and phrase.endswith(name) and len(phrase) <= len(name) + _TOPIC_SLACK for name in names)


def definition_rank(sentence: str, names: Sequence[str]) -> int | None:
    """How plainly the sentence says what one of ``names`` (folded) is: 0 when the name is its
    predicate (「…を実現する専門職が、SREです。」「…に責任を持つのが編集者なのです。」), 1 when
    the name is its topic and it ends on a copula (「看護師は、…専門職です。」), 2 for another
    sentence on that topic (「法人営業は、…を担います。」); None when it is not about the name
    (「弁護士には…」「看護師の仕事は…」) or answers the sentence before it (「しかし実際の歯科
    衛生士は…」「そこで登場するのが、税理士です。」)."""
    text = sentence.strip()
    focus = _FOCUS.search(text)
    if focus and _names_it(focus.group(1), names) and not fold(text).startswith(_CONNECTIVES):
        return 0
    match = _TOPIC.match(text)
    if not match:
        return None
    topic = fold(match.group(1))
    if topic.endswith(_NOT_TOPIC) or topic.startswith(_CONNECTIVES) or not _names_it(topic, names):
        return None
    return 1 if _COPULA.search(text) else 2


def defines(sentence: str, names: Sequence[str]) -> bool:
    """The sentence says what one of ``names`` (folded) is (see :func:`definition_rank`)."""
    return definition_rank(sentence, names) is not None


# What a day looks like (「毎日何してるの？」, "on a typical day"): the guide's day-in-the-life
# section answers that, not its list of duties.
_ASKS_DAY = re.compile(r"毎日|一日|1日|日常|\bday\b|\bdaily\b|\bshift\b", re.IGNORECASE)
# ... and its schedule (「1日のスケジュールは？」「1週間の流れ」): a day or a week in the job, in full.
_ASKS_SCHEDULE = re.compile(_ASKS_DAY.pattern + r"|スケジュール|タイムテーブル|1週間|一週間|\bschedule\b|\bweek\b", re.IGNORECASE)
_EN_WHAT_DOES = re.compile(r"\bwhat (?:does|do) ([^?]{1,60}?)\s+do\b", re.IGNORECASE)
# What may stand beside the job's name in 「<topic>って」 and still mean the job itself
# (「地方公務員の行政職」 -> 「の」).
_TOPIC_REST = 2


def asks_what_job_does(question: str, names: Sequence[str]) -> bool:
    """The question asks what the job itself is or does (「看護師って何する仕事？」, "What does
    a data scientist do?"), ``names`` being the job's folded names; not a part of it
    (「訪問歯科の歯科衛生士って何するの？」) and not its day (「毎日何してるの？」)."""
    if not asks_definition(question) or _ASKS_DAY.search(question):
        return False
    longest = sorted((n for n in names if n), key=len, reverse=True)
    topics = asked_topics(question)
    if topics:
        for topic in topics:
            rest = topic
            for name in longest:
                rest = rest.replace(name, "")
            if rest != topic and len(rest.replace("の", "")) <= _TOPIC_REST:
                return True
        return False
    match = _EN_WHAT_DOES.search(fold(question))
    return bool(match) and any(re.search(rf"(?<![a-z0-9]){re.escape(n)}", match.group(1)) for n in longest)


# Asks how two things differ (「幼稚園教諭と保育士の違いは？」「どう違う？」, "How is X different from
# Y?"): a comparison is read across every row of the guide's comparison, not the closest one.
_COMPARES = re.compile(r"(?<!間)違[いう]|比較|\bcompare|\bcomparison\b|\bdiffer|\bvs\.?(?=\s)", re.IGNORECASE)


def asks_comparison(question: str) -> bool:
    """The question asks how things differ (「違いは？」「どう違う？」, "how is X different")."""
    return bool(_COMPARES.search(question))


# Asks whether the asker can get into the job from where they stand (「文系でもなれる？」「30歳からは
# 遅い？」「営業からPdMになれる？」, "Can I become … without a CS degree?"): the guide answers that in
# what it says about who may enter (「学歴や資格よりも…」「未経験からでも十分に目指せます」).
_ENTERING = re.compile(
    r"なれ|なる|目指|転職|就職|入れ|入社|採用され|未経験|文系|理系|学歴|大学|高卒|専門学校|年齢|[0-9０-９]+歳|[0-9０-９]+代|"
    r"\bbecome\b|\bswitch|\bget into\b|\bbreak into\b|\btransition|\bcareer change|\bdegree\b|\bbackground\b|"
    r"\bno experience\b|\btoo old\b|\btoo late\b",
    re.IGNORECASE,
)
_FEASIBLE = re.compile(
    r"(?:でも|ないと|なくても|じゃないと|でないと|なしで)[^。？?]{0,20}?(?:厳し|無理|難し|なれ|でき|大丈夫|目指せ|可能|働け|いい|OK|アリ|遅)|"
    r"なれ(?:ます|る)(?:か|[？?]|の|$)|アリ(?:です|でしょう|か|[？?]|$)|可能(?:です|でしょう)?か|遅い|遅すぎ|手遅れ|厳しい(?:です|でしょう|か|[？?]|$)|"
    r"\bcan i\b|\bcould i\b|\bis it (?:possible|realistic|too late)\b|\bwithout\b|\btoo old\b|\btoo late\b|\bam i\b",
    re.IGNORECASE,
)
# ... and not whether one can rise within it (「支配人になれる？」 after 「キャリアパスは？」).
_ASKS_CAREER = re.compile(r"キャリアパス|キャリアアップ|昇進|昇格|出世|\bpromot|\bcareer path|\bprogression\b", re.IGNORECASE)
# A sentence that says who may enter: 「学歴や資格よりも…が問われる」「未経験からでも十分に目指せます」
# 「受験資格に年齢や学歴の制限はなく」「特定の学歴や資格は必須ではありません」.
_STATES_OPENNESS = re.compile(
    r"未経験(?:から|でも|で|者)|問わ|制限はな|必須ではな|必要ありませ|不要|以上に|よりも|目指せ|目指しやす|挑戦しやす|門戸|遅すぎ|遅くはな"
)


def asks_feasibility(question: str) -> bool:
    """The question asks whether the asker can get into the job (「文系でもなれる？」「30歳からは
    遅い？」, "Can I become one without a degree?")."""
    return (
        bool(_ENTERING.search(question))
        and bool(_FEASIBLE.search(question))
        and not asks_first(question)
        and not _ASKS_CAREER.search(question)
    )


def states_openness(sentence: str) -> bool:
    """The sentence says who may enter the job (「学歴や資格よりも…」「未経験からでも目指せます」)."""
    return bool(_STATES_OPENNESS.search(sentence))


def asks_schedule(question: str) -> bool:
    """The question asks what a day or a week of the job looks like (「1日の流れは？」, "What
    would a typical day look like?")."""
    return bool(_ASKS_SCHEDULE.search(question))


# Asks what is asked in an interview, or what to ask (「面接でよく聞かれることは？」「採用面接で
# どこを見ればいい？」, "common interview questions"): the guide's own list of questions answers
# that, not its preparation tips; questions for the interviewer (「逆質問」) are another matter.
_ASKS_INTERVIEW = re.compile(
    r"面接[^。？?]{0,15}?(?:聞かれ|きかれ|訊かれ|質問|問われ|聞く|聞け|聞いたら|何を確認|確認すべき|どこを見|何を見|見極め|見抜|出る|出題)|"
    r"\binterview[^.?]{0,40}?\b(?:questions?|ask|asked)\b|\b(?:ask|questions?)\b[^.?]{0,40}?\binterview",
    re.IGNORECASE,
)
_REVERSE = re.compile(r"逆質問|\bask (?:the|my|an?|our) interviewers?\b|\breverse questions?\b", re.IGNORECASE)


def asks_interview_questions(question: str) -> bool:
    """The question asks what an interview asks, or what to ask in one (「面接で何を聞かれる？」,
    "What should I ask when interviewing…?"), not what to ask the interviewer (「逆質問」)."""
    return bool(_ASKS_INTERVIEW.search(question)) and not _REVERSE.search(question)


def explicit_shape(question: str) -> str | None:
    """The shape a question asks for in so many words (「表で比較して」, "list all"), if any."""
    for shape, pattern in _EXPLICIT:
        if pattern.search(question):
            return shape
    return None


def shape_by_rules(question: str) -> str:
    """The shape a question asks for, by its interrogatives."""
    if _STEPS.search(question):
        return "steps"
    if _TABLE.search(question):
        return "table"
    if _LIST.search(question):
        return "list"
    return "explanation"


def question_shape(question: str, vector: np.ndarray | None, model: IntentModel | None) -> str:
    """A format asked for outright; else the fitted classifier's shape; else the rules'."""
    explicit = explicit_shape(question)
    if explicit is not None:
        return explicit
    if model is None or vector is None:
        return shape_by_rules(question)
    return SHAPES[int(np.argmax(model.probabilities(vector)))]
