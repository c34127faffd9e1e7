"""Generate synthetic guide collections shaped like ``seeds/ciso.md``, for scale tests and benchmarks.

Every guide keeps the seed's shape: a ``---json`` front matter with the same keys, an H1, numbered
H2 sections with H3 subsections, paragraphs and Markdown tables. Slugs, titles and text vary
deterministically with ``--seed``: role names are substituted, paragraphs are rebuilt from
shuffled seed sentences mixed with sentences from other sections and from a small word bank,
table rows are sampled and reordered. No two guides are identical (each also carries a unique
marker sentence), so caching or deduplication cannot distort the numbers.

    python scripts/synth_guides.py --count 100 --out /tmp/g100 [--seed 0] [--sections 2]

``--sections`` is how many H2 sections of the seed each guide keeps (``0`` = all of them, a
guide as large as the seed); small guides keep a 1,000-guide collection quick to embed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "ciso.md"

# (slug stem, Japanese title, abbreviation/short label, domain word replacing 「セキュリティ」)
ROLES: tuple[tuple[str, str, str, str], ...] = (
    ("data_scientist", "データサイエンティスト", "DS", "データ分析"),
    ("product_manager", "プロダクトマネージャー", "PdM", "プロダクト"),
    ("sre", "サイト信頼性エンジニア", "SRE", "信頼性"),
    ("cto", "最高技術責任者", "CTO", "技術"),
    ("cfo", "最高財務責任者", "CFO", "財務"),
    ("ux_designer", "UXデザイナー", "UXD", "ユーザー体験"),
    ("ml_engineer", "機械学習エンジニア", "MLE", "機械学習"),
    ("cloud_architect", "クラウドアーキテクト", "CA", "クラウド"),
    ("hr_manager", "人事マネージャー", "HRM", "人材"),
    ("legal_counsel", "企業内弁護士", "GC", "法務"),
    ("qa_engineer", "品質保証エンジニア", "QAE", "品質"),
    ("marketing_director", "マーケティングディレクター", "MD", "マーケティング"),
    ("supply_chain_manager", "サプライチェーンマネージャー", "SCM", "調達物流"),
    ("network_engineer", "ネットワークエンジニア", "NE", "ネットワーク"),
    ("dpo", "データ保護責任者", "DPO", "プライバシー"),
    ("game_designer", "ゲームデザイナー", "GD", "ゲーム体験"),
    ("pharmacist", "薬剤師", "RPh", "医薬品"),
    ("architect", "建築士", "ARC", "建築"),
    ("teacher", "高校教員", "TCH", "教育"),
    ("chef", "料理長", "CHEF", "調理"),
)

WORD_BANK_SUBJECTS = ("現場のチーム", "経営層", "顧客", "新人メンバー", "外部パートナー", "監査担当者", "利用者", "関係部署")
WORD_BANK_VERBS = ("定期的に見直します", "数値で説明します", "優先順位を付けて進めます", "記録に残して共有します",
                   "小さく試してから広げます", "リスクと効果を比べて判断します", "継続的に改善します")
WORD_BANK_OBJECTS = ("業務手順", "年間計画", "品質基準", "予算配分", "育成プログラム", "評価指標", "報告資料", "改善提案")

_FENCE = re.compile(r"\A---json[ \t]*\n(.*?)^---[ \t]*$\n?", re.MULTILINE | re.DOTALL)
_SENTENCE = re.compile(r"[^。！？]*[。！？]|[^。！？]+$")


@dataclass
class Section:
    """An H2 section of the seed: its heading, intro blocks and H3 subsections."""

    heading: str
    intro: list[str] = field(default_factory=list)
    subsections: list[tuple[str, list[str]]] = field(default_factory=list)


def parse_seed(text: str) -> tuple[dict, str, list[Section]]:
    """Front matter, the H1 line and the H2 sections (blocks are paragraphs or whole tables)."""
    match = _FENCE.match(text)
    if match is None:
        raise SystemExit("the seed must start with a ---json front matter")
    meta = json.loads(match.group(1))
    body = text[match.end() :]
    h1 = ""
    sections: list[Section] = []
    target: list[str] | None = None
    for block in re.split(r"\n\s*\n", body):
        block = block.strip("\n")
        if not block.strip() or block.strip() == "---":
            continue
        lines = block.split("\n")
        # a block may start with a heading followed by text
        while lines and lines[0].startswith("#"):
            head = lines.pop(0)
            if head.startswith("# "):
                h1 = head
            elif head.startswith("## "):
                sections.append(Section(head[3:].strip()))
                target = sections[-1].intro
            elif head.startswith("### ") and sections:
                sections[-1].subsections.append((head[4:].strip(), []))
                target = sections[-1].subsections[-1][1]
        rest = "\n".join(lines).strip()
        if rest and target is not None:
            target.append(rest)
    return meta, h1, sections


def substitute(text: str, title: str, abbr: str, domain: str) -> str:
    """The seed's role names replaced by another role's."""
    text = text.replace("Chief Information Security Officer", f"{abbr} ({title})")
    text = text.replace("最高情報セキュリティ責任者", title)
    text = re.sub(r"(?<![A-Za-z])v?CISOs?(?![A-Za-z])", abbr, text)
    text = text.replace("サイバーセキュリティ", domain).replace("情報セキュリティ", domain).replace("セキュリティ", domain)
    return text


def sentences(paragraph: str) -> list[str]:
    """Japanese sentences of a paragraph (ending with 。！？)."""
    return [s.strip() for s in _SENTENCE.findall(paragraph.replace("\n", "")) if s.strip()]


def is_table(block: str) -> bool:
    return block.lstrip().startswith("|")


def is_list(block: str) -> bool:
    return bool(re.match(r"\s*([*+-]|\d+\.)\s", block))


class Generator:
    """Deterministic guide factory over one parsed seed."""

    def __init__(self, seed_text: str, *, seed: int = 0, sections: int = 2) -> None:
        self.meta, self.h1, self.sections = parse_seed(seed_text)
        self.seed = seed
        self.keep_sections = sections
        self.pool = [
            s
            for sec in self.sections
            for block in [*sec.intro, *(b for _, bs in sec.subsections for b in bs)]
            if not is_table(block) and not is_list(block)
            for s in sentences(block)
        ]

    def _word_bank(self, rnd: random.Random, domain: str) -> str:
        return (
            f"{rnd.choice(WORD_BANK_SUBJECTS)}と{domain}の{rnd.choice(WORD_BANK_OBJECTS)}を"
            f"{rnd.choice(WORD_BANK_VERBS)}。"
        )

    def _paragraph(self, block: str, rnd: random.Random, domain: str) -> str:
        if is_table(block):
            rows = block.split("\n")
            head, body = rows[:2], rows[2:]
            body = rnd.sample(body, k=max(1, min(len(body), rnd.randint(2, 4))))
            return "\n".join(head + body)
        if is_list(block):
            groups: list[list[str]] = []
            for line in block.split("\n"):  # a top-level item with its nested lines
                if line[:1].strip() or not groups:
                    groups.append([line])
                else:
                    groups[-1].append(line)
            rnd.shuffle(groups)
            return "\n".join(line for group in groups for line in group)
        parts = sentences(block)
        rnd.shuffle(parts)
        parts = parts[: max(1, min(len(parts), rnd.randint(1, 3)))]
        parts.insert(rnd.randint(0, len(parts)), rnd.choice(self.pool))
        parts.insert(rnd.randint(0, len(parts)), self._word_bank(rnd, domain))
        return "".join(parts)

    def guide(self, index: int) -> tuple[str, str]:
        """(slug, file text) of guide number ``index``."""
        rnd = random.Random(self.seed * 1_000_003 + index)
        stem, title, abbr, domain = ROLES[(index + self.seed) % len(ROLES)]
        slug = f"{stem}_{index:05d}"
        variant = f"{title}（{abbr}-{index}）"
        meta = json.loads(json.dumps(self.meta, ensure_ascii=False))
        meta["slug"] = slug
        meta["title"] = variant
        meta["category"] = stem.split("_")[0]
        for key in ("keywords", "tags"):
            values = [substitute(v, title, abbr, domain) for v in meta.get(key, [])]
            rnd.shuffle(values)
            meta[key] = values[: rnd.randint(3, max(3, len(values)))]
        meta["related_jobs"] = sorted({ROLES[rnd.randrange(len(ROLES))][0] for _ in range(3)})
        meta["meta_description"] = substitute(meta.get("meta_description", ""), title, abbr, domain)
        meta["thumbnail"] = f"/static/img/{slug}.png"
        meta["hero_image"] = f"/static/img/{slug}_hero.png"

        chosen = list(range(len(self.sections)))
        if self.keep_sections and self.keep_sections < len(chosen):
            chosen = sorted(rnd.sample(chosen, self.keep_sections))
        out = ["---json", json.dumps(meta, ensure_ascii=False, indent=2), "---",
               f"# [完全ガイド] {abbr}: {variant}の役割、スキル、キャリアパス", ""]
        out.append(f"このガイドの識別番号は{slug}です。{self._word_bank(rnd, domain)}")
        out.append("")
        for number, s in enumerate(chosen, start=1):
            sec = self.sections[s]
            heading = substitute(re.sub(r"^\S*\ufe0f\u20e3\s*|^\S+\s+(?=\S)", "", sec.heading, count=1), title, abbr, domain)
            out += [f"## {number}\ufe0f\u20e3 {heading}", ""]
            for block in sec.intro:
                out += [substitute(self._paragraph(block, rnd, domain), title, abbr, domain), ""]
            subs = sec.subsections
            if self.keep_sections and len(subs) > 2:
                subs = sorted(rnd.sample(subs, 2), key=subs.index)
            for sub_heading, blocks in subs:
                out += [f"### {substitute(sub_heading, title, abbr, domain)}", ""]
                for block in blocks:
                    out += [substitute(self._paragraph(block, rnd, domain), title, abbr, domain), ""]
        return slug, "\n".join(out).rstrip() + "\n"


def generate(out: Path, count: int, *, seed: int = 0, sections: int = 2, seed_file: Path = SEED) -> list[Path]:
    """Write ``count`` guides into ``out`` (created); returns their paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    gen = Generator(Path(seed_file).read_text(encoding="utf-8"), seed=seed, sections=sections)
    paths = []
    for i in range(count):
        slug, text = gen.guide(i)
        path = out / f"{slug}.md"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, required=True, help="number of guides")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sections", type=int, default=2, help="H2 sections per guide; 0 = all (default 2)")
    parser.add_argument("--seed-file", type=Path, default=SEED, help="guide to imitate (default seeds/ciso.md)")
    args = parser.parse_args(argv)
    paths = generate(args.out, args.count, seed=args.seed, sections=args.sections, seed_file=args.seed_file)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} guides ({total / 1e6:.2f} MB) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
