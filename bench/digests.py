"""``python -m bench.digests [--changes N --out DIR]``: the time one month's digest takes to build and render.

PRODUCT.md sets the bar "Digest of a month with 10,000 changes renders in < 2 s". Serving and crawling that many
pages would take long, so the month is written directly: a state.db holding ``changes`` change records in
December 2023 (mostly new policies, then text edits, metadata edits and removals, with reposts of one policy by
several portals), across national, provincial and news-site sources. Every row goes through the crawl's own
write path (``policywatch.crawler.pipelines.store_snapshot`` and ``store_fetch``), so the database is what crawls of
those portals would leave. Texts are recombined sentences of the seed roundups (``bench.workload.corpus``), so topics,
summaries, regions and diffs see realistic Chinese.

It then builds and renders the month's digest as ``policywatch digest build`` does, from opening state.db to
having the document: ``repeat`` times per format in this process (median and max), and once in a fresh process,
whose first digest also pays what every ``digest build`` command pays once (jieba's dictionary, compiling the
template). The timings are printed as JSON. The database is reused while ``DIR/digest-workload.json`` says it
was built with the same changes and seed, since building it takes a minute or so and is not what is measured.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.workload import TITLE_FORMS as PAGE_TITLE_FORMS
from bench.workload import corpus, paragraphs, revise, seeded
from policywatch.core import config as config_module
from policywatch.core.config import Config
from policywatch.core.hanzi import simplified
from policywatch.core.model import Fetch, SaveResult, Snapshot, Verdict
from policywatch.core.store import Store
from policywatch.crawler.pipelines import store_fetch, store_snapshot
from policywatch.digest.build import build_digest
from policywatch.digest.period import parse_period
from policywatch.digest.regions import NATIONAL, PROVINCES
from policywatch.digest.render import render

ROOT = Path(__file__).resolve().parent.parent
MONTH = "2023-12"
FORMATS = ("html", "md")
BAR_SECONDS = 2.0
# Shares of the month's change records; removals take what is left.
MIX = {"new": 0.70, "text": 0.17, "metadata": 0.08}
REPOST_SHARE = 0.1  # new policies that repost one published earlier by another portal
SECOND_EDIT_EVERY = 10  # every tenth text edit revises a policy already edited this month
PROVINCE_ABBR = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔滇藏陕甘青宁新"
NATIONAL_BODIES = (("国家卫生健康委员会", "国卫医发"), ("国家药品监督管理局", "国药监药注"),
                   ("科学技术部", "国科发"), ("国家发展和改革委员会", "发改高技"),
                   ("工业和信息化部", "工信部联消费"), ("国家医疗保障局", "医保发"))
PROVINCIAL_BODIES = (("卫生健康委员会", "卫医"), ("药品监督管理局", "药监"), ("科学技术厅", "科发"))
NEWS_SITES = ("细胞产业资讯", "生物医药时讯", "干细胞与外泌体")
TITLE_FORMS = (*PAGE_TITLE_FORMS, "关于组织实施《{}》的通知")
# Policy names beside the seeds' own: place, subject and kind, as portals name their plans and rules.
SUBJECTS = ("干细胞临床研究项目备案", "细胞治疗产品临床转化应用", "免疫细胞治疗技术临床应用", "基因治疗药物研发",
            "生物医药产业创新发展", "科技创新行动计划专项项目", "医疗器械注册人制度", "外泌体产品质量控制",
            "药品上市许可持有人监督检查", "医疗机构制剂注册", "重点实验室建设", "生物安全管理", "临床研究机构能力建设",
            "罕见病用药保障", "医保药品目录调整", "药品集中带量采购", "创新药首发上市", "医学科技成果转化",
            "卫生健康科技项目验收", "高新技术企业认定")
KINDS = ("实施方案", "管理办法", "工作指引", "若干措施", "行动计划（2024—2026年）", "专项资金管理办法", "实施细则")
CONFIG_HEAD = """db = "state.db"

[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体"]
exclude = []

[[digests]]
name = "monthly"
period = "month"
topics = ["cell-therapy"]
layout = "list"
language = "zh-Hans"
min_score = 2

[[digests]]
name = "regional"
period = "month"
topics = ["cell-therapy"]
layout = "by-region"
language = "zh-Hans"
"""


@dataclass(frozen=True)
class Portal:
    """One generated source: a portal section, or a news site without a region."""

    name: str
    region: str  # "" for news sites: the digest infers each item's region
    authority: str
    abbr: str  # the document-number prefix of its notices


@dataclass
class Policy:
    """One generated policy page, as the extractor would return it."""

    portal: Portal
    url: str
    title: str
    text: str
    published: str | None
    doc_number: str | None
    attachments: list[str] = field(default_factory=list)


def portals() -> list[Portal]:
    """National bodies, one body per province (rotating the kind), and a few industry news sites."""
    found = [Portal(f"nat-{i:02d}", NATIONAL, name, abbr) for i, (name, abbr) in enumerate(NATIONAL_BODIES)]
    for i, (province, _, _) in enumerate(PROVINCES[:31]):
        body, kind = PROVINCIAL_BODIES[i % len(PROVINCIAL_BODIES)]
        found.append(Portal(f"prov-{i:02d}", province, province + body, PROVINCE_ABBR[i] + kind))
    found += [Portal(f"news-{i:02d}", "", name, "") for i, name in enumerate(NEWS_SITES)]
    return found


def write_config(folder: Path, sources: list[Portal]) -> Path:
    """config.toml with the generated sources, the cell-therapy topic and a monthly digest in two layouts."""
    lines = [CONFIG_HEAD]
    for portal in sources:
        lines += ["[[sources]]", f'name = "{portal.name}"', f'title = "{portal.authority} 通知公告"',
                  *([f'region = "{portal.region}"'] if portal.region else []), f'authority = "{portal.authority}"',
                  f'start_urls = ["https://{portal.name}.example.gov.cn/tzgg/index.html"]',
                  "[sources.list]", 'item = "ul.list li"', ""]
    path = folder / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class Generator:
    """Policies and their edits; every choice comes from a Random seeded by what it makes."""

    def __init__(self, seed: int, sources: list[Portal]) -> None:
        self.seed, self.sources = seed, sources
        self.sentences, names = corpus()
        places = [short for _, short, _ in PROVINCES[:31]]
        self.names = [simplified(n) for n in names] + [f"{p}{s}{k}" for p in places for s in SUBJECTS for k in KINDS]
        self.numbers: dict[str, int] = {}
        self.titles: set[str] = set()

    def rng(self, *key: object) -> random.Random:
        return seeded(self.seed, *key)

    def policy(self, n: int, day: date) -> Policy:
        rng = self.rng("policy", n)
        portal = rng.choice(self.sources)
        title = self.title(rng, portal)
        opening = f"为贯彻落实党中央、国务院有关决策部署，{portal.authority}现就{title}有关事项通知如下。"
        text = "\n".join([opening, *paragraphs(rng, self.sentences, 3 * rng.randint(300, 6000))])
        published = None if rng.random() < 0.03 else day.isoformat()
        return Policy(portal, f"https://{portal.name}.example.gov.cn/art/{day:%Y%m}/t{n:05d}.html", title, text,
                      published, self.doc_number(portal, day), self.attachments(rng, portal, n))

    def title(self, rng: random.Random, portal: Portal) -> str:
        """A title no other generated policy has: portals rarely reuse one, and equal titles are one policy."""
        while True:
            title = rng.choice(TITLE_FORMS).format(rng.choice(self.names))
            if portal.region and rng.random() < 0.3:
                title = portal.authority + title
            if title not in self.titles:
                self.titles.add(title)
                return title

    def repost(self, n: int, original: Policy, day: date) -> Policy:
        """Another portal's copy of ``original``: its own title prefix, salutation and closing line."""
        rng = self.rng("repost", n)
        portal = rng.choice([p for p in self.sources if p != original.portal])
        text = f"各有关单位：\n{original.text}\n请结合实际认真贯彻执行。"
        return Policy(portal, f"https://{portal.name}.example.gov.cn/art/{day:%Y%m}/z{n:05d}.html",
                      f"转发{original.title}", text, day.isoformat(), self.doc_number(portal, day))

    def doc_number(self, portal: Portal, day: date) -> str | None:
        if not portal.abbr:
            return None
        self.numbers[portal.name] = self.numbers.get(portal.name, 0) + 1
        return f"{portal.abbr}〔{day.year}〕{self.numbers[portal.name]}号"

    @staticmethod
    def attachments(rng: random.Random, portal: Portal, n: int) -> list[str]:
        return [f"https://{portal.name}.example.gov.cn/files/P{n:05d}{k}.pdf" for k in range(rng.choice((0, 0, 1, 2)))]

    def edit_text(self, policy: Policy, n: int) -> Policy:
        """A sentence replaced, a paragraph added, or figures and a deadline changed (as bench.workload edits)."""
        rng = self.rng("edit", n)
        text = "\n".join(revise(rng, policy.text.split("\n"), self.sentences, 2024))
        if text == policy.text:  # the sentence drawn was the one replaced
            text += "\n" + rng.choice(self.sentences)
        return replace(policy, text=text)

    def edit_metadata(self, policy: Policy, n: int) -> Policy:
        """A new document number, a revised title, another attachment list, or (not substantive) a moved date."""
        rng = self.rng("metadata", n)
        edit = rng.randrange(4 if policy.published else 3)
        if edit == 0:
            return replace(policy, doc_number=(policy.doc_number or "") + "（修订）")
        if edit == 1:
            return replace(policy, title=policy.title + "（修订版）")
        if edit == 2:
            return replace(policy, attachments=[*policy.attachments, f"{policy.url[:-5]}-fj{n}.docx"])
        return replace(policy, published=(date.fromisoformat(policy.published) + timedelta(days=1)).isoformat())


def snapshot(policy: Policy, when: datetime) -> Snapshot:
    """What the extractor returns for the policy's page fetched at ``when``."""
    fetch = Fetch(policy.portal.name, policy.url, "detail", when.isoformat(), status=200,
                  bytes=len(policy.text.encode()) + 4000)
    return Snapshot(fetch, policy.url, policy.title, policy.text, policy.published, policy.portal.authority,
                    policy.doc_number, list(policy.attachments))


def build_state(folder: Path, changes: int, seed: int) -> tuple[Config, dict[str, int]]:
    """config.toml and state.db in ``folder``, with ``changes`` change records in MONTH; returns the counts."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        (folder / name).unlink(missing_ok=True)
    sources = portals()
    config = config_module.load(write_config(folder, sources))
    counts = {kind: int(changes * share) for kind, share in MIX.items()}
    counts["removed"] = changes - sum(counts.values())
    gen = Generator(seed, sources)
    month = parse_period(MONTH, "month")
    days = (month.end - month.start).days
    older = counts["metadata"] + counts["removed"] + counts["text"] - counts["text"] // SECOND_EDIT_EVERY
    with Store(config.db) as store:
        store.sync_sources(config.sources)
        run = store.start_run([s.name for s in config.sources])
        policies = []
        for n in range(older):  # published over the two months before, so their edits are changes, not news
            day = month.start - timedelta(days=1 + n * 61 // older)
            policies.append(gen.policy(n, day))
            save_policy(store, run, policies[-1], _at(day, n))
        events = _month_events(gen, month.start, days, counts, policies, older)
        for when, _, kind, policy in sorted(events, key=lambda e: (e[0], e[1])):
            if kind == "gone":
                store_fetch(store, run, Fetch(policy.portal.name, policy.url, "detail", when.isoformat(), status=404))
            else:
                save_policy(store, run, policy, when)
        store.finish_run(run)
        found = store.changes(month.start.isoformat(), month.end.isoformat())
        counts = {"total": len(found)} | {k: sum(c["kind"] == k for c in found) for k in ("new", "changed", "removed")}
        counts["documents"] = store.count("documents")
    return config, counts


def _month_events(gen: Generator, start: date, days: int, counts: dict[str, int], older: list[Policy],
                  first_new: int) -> list[tuple[datetime, int, str, Policy]]:
    """Every fetch of the month that makes a change record (plus the first of each two-check removal)."""
    events: list[tuple[datetime, int, str, Policy]] = []
    originals: list[Policy] = []
    for i in range(counts["new"]):
        n, day = first_new + i, start + timedelta(days=i * days // counts["new"])
        if originals and gen.rng("repost?", n).random() < REPOST_SHARE:
            policy = gen.repost(n, gen.rng("of", n).choice(originals[-50:]), day)
        else:
            policy = gen.policy(n, day)
            originals.append(policy)
        events.append((_at(day, n), n, "new", policy))
    pool = iter(older)
    edited: list[tuple[datetime, Policy]] = []
    for i in range(counts["text"]):
        n = first_new + counts["new"] + i
        if i % SECOND_EDIT_EVERY == SECOND_EDIT_EVERY - 1:
            earlier, policy = edited.pop(gen.rng("which", n).randrange(len(edited)))
            events.append((earlier + timedelta(days=1, hours=1), n, "changed", gen.edit_text(policy, n)))
            continue
        when = _at(start + timedelta(days=gen.rng("day", n).randrange(days - 1)), n)
        policy = gen.edit_text(next(pool), n)
        edited.append((when, policy))
        events.append((when, n, "changed", policy))
    for i in range(counts["metadata"]):
        n = first_new + counts["new"] + counts["text"] + i
        events.append((_at(start + timedelta(days=gen.rng("day", n).randrange(days)), n), n, "changed",
                       gen.edit_metadata(next(pool), n)))
    for i in range(counts["removed"]):
        n = first_new + counts["new"] + counts["text"] + counts["metadata"] + i
        policy, day = next(pool), start + timedelta(days=gen.rng("day", n).randrange(days - 1))
        events += [(_at(day, n), n, "gone", policy), (_at(day + timedelta(days=1), n), n, "gone", policy)]
    return events


def _at(day: date, n: int) -> datetime:
    """A fetch time on ``day``, spread over 08:00-20:00 China time (UTC, as crawls record it)."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=n * 7919 % 43_200)


def save_policy(store: Store, run: int, policy: Policy, when: datetime) -> tuple[SaveResult, Verdict]:
    """Store the policy's page fetched at ``when`` as a crawl does, re-checked a week later."""
    next_check = (when + timedelta(days=7)).isoformat()
    return store_snapshot(store, run, snapshot(policy, when), next_check)


def time_digest(config: Config, digest: str, fmt: str) -> tuple[float, float, str]:
    """Wall and CPU seconds to open state.db, build the digest of MONTH and render it in ``fmt``, as
    ``digest build`` does; and the document. CPU seconds say more than wall time on a busy machine."""
    spec = config.digest(digest)
    period = parse_period(MONTH, spec.period)
    started, cpu = time.perf_counter(), time.process_time()
    with Store(config.db) as store:
        document = render(build_digest(config, store, spec, period), fmt, config.templates)
    return time.perf_counter() - started, time.process_time() - cpu, document


@dataclass(frozen=True)
class MonthState:
    """The month's config and state.db in a folder, what it holds, and whether this run built it."""

    config: Config
    counts: dict[str, int]
    build_seconds: float
    reused: bool


def month_state(folder: Path, changes: int, seed: int) -> MonthState:
    """The month of ``changes`` change records in ``folder``: reused while ``folder/digest-workload.json`` says it
    was built with the same changes and seed (building it takes a minute or so and is not what the benchmarks
    measure), else built now. The digest and the archive site steps share it."""
    marker = folder / "digest-workload.json"
    wanted = {"changes": changes, "seed": seed, "month": MONTH}
    known = json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else {}
    if known.get("workload") == wanted and (folder / "state.db").exists():
        return MonthState(config_module.load(folder / "config.toml"), known["counts"], known["build_seconds"], True)
    started = time.perf_counter()
    config, counts = build_state(folder, changes, seed)
    build_seconds = time.perf_counter() - started
    marker.write_text(json.dumps({"workload": wanted, "counts": counts, "build_seconds": build_seconds}),
                      encoding="utf-8")
    return MonthState(config, counts, build_seconds, False)


def measure_digest(folder: Path, changes: int = 10_000, seed: int = 1, repeat: int = 3) -> dict[str, Any]:
    """Build (or reuse) the month in ``folder``, then time its digest ``repeat`` times per format."""
    month = month_state(folder, changes, seed)
    config = month.config
    result: dict[str, Any] = {"month": MONTH, "changes": month.counts, "build_seconds": round(month.build_seconds, 1),
                              "reused_state": month.reused, "digest": "monthly", "repeat": repeat, "formats": {}}
    for fmt in FORMATS:
        runs, cpu, outputs = [], [], set()
        for _ in range(repeat):
            seconds, cpu_seconds, document = time_digest(config, "monthly", fmt)
            runs.append(seconds)
            cpu.append(cpu_seconds)
            outputs.add(document)
        result["formats"][fmt] = {
            "median_s": round(statistics.median(runs), 3), "max_s": round(max(runs), 3),
            "runs_s": [round(s, 3) for s in runs], "cpu_median_s": round(statistics.median(cpu), 3),
            "cpu_max_s": round(max(cpu), 3), "bytes": len(document.encode("utf-8")),
            "same_bytes_every_run": len(outputs) == 1,
        }
        result["formats"][fmt]["first_run_s"] = first_run(folder, fmt)
    result |= _digest_shape(config)
    result["meets_bar"] = all(f["median_s"] < BAR_SECONDS for f in result["formats"].values())
    result["first_runs_meet_bar"] = all(f["first_run_s"] < BAR_SECONDS for f in result["formats"].values())
    return result


def first_run(folder: Path, fmt: str) -> float:
    """Seconds of the first digest a fresh process builds and renders, as one ``policywatch digest build`` does
    once its modules are imported: it also loads jieba's dictionary and compiles the template."""
    code = ("import sys; from pathlib import Path; from bench.digests import time_digest; "
            "from policywatch.core import config; "
            "print(time_digest(config.load(Path(sys.argv[1])), 'monthly', sys.argv[2])[0])")
    done = subprocess.run([sys.executable, "-c", code, str(folder / "config.toml"), fmt], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return round(float(done.stdout), 3)


def _digest_shape(config: Config) -> dict[str, int]:
    """What the monthly digest shows: items written up in full, items listed by title, reposts, removals."""
    spec = config.digest("monthly")
    with Store(config.db) as store:
        digest = build_digest(config, store, spec, parse_period(MONTH, spec.period))
    shown = (*digest.items, *digest.more)
    return {"items": len(shown), "items_in_full": len(digest.items), "items_by_title": len(digest.more),
            "changed_items": sum(i.kind == "changed" for i in shown),
            "items_with_reposts": sum(bool(i.also) for i in shown), "removed_items": len(digest.removed)}


def month_arguments(prog: str, description: str, out_help: str) -> argparse.ArgumentParser:
    """The options of every step built on the month: its size, its folder and its seed."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10_000, help="change records in the month")
    parser.add_argument("--out", type=Path, default=Path("bench-out/digest"), help=out_help)
    parser.add_argument("--seed", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = month_arguments("python -m bench.digests", __doc__, "folder for config and state.db")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per format")
    args = parser.parse_args(argv)
    result = measure_digest(args.out.resolve(), args.changes, args.seed, args.repeat)
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
