"""Generate N sites x M detail pages of Chinese policy prose, mutate them, and write the crawl config.

Sentences come from the seeds (``../shared/seeds``, or ``$POLICYWATCH_SHARED/seeds``) and the demo portal's pages,
recombined deterministically (``--seed``). Layout under ``DIR/site``::

    siteNN/list/index.html, index_1.html, ...   list pages (ul.list li, a.next), newest first
    siteNN/art/YYYYMM/tNNNN.html                detail pages (h1.article-title, #zoom)
    siteNN/art/YYYYMM/tNNNN_K.pdf, tNNNN_K.docx  their attached files, with ``attachments`` > 0 (PDF and Word
                                                in turn, each with a text of its own)

``DIR/workload.json`` remembers every site's items, so ``mutate`` can edit pages and add list items later.
"""

from __future__ import annotations

import argparse
import html
import json
import math
import os
import random
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

from policywatch.crawler.extract.encoding import decode_html

ROOT = Path(__file__).resolve().parent.parent
SEEDS = Path(os.environ.get("POLICYWATCH_SHARED", ROOT.parent / "shared")) / "seeds"
DEMO_PORTAL = ROOT / "policywatch" / "demo" / "portal"
PER_LIST_PAGE = 25
CONCURRENCY = 8  # per domain, for PolicyWatch and the bare spider alike

AUTHORITIES = [
    ("国家卫生健康委员会", "国家", "国卫医发"), ("国家药品监督管理局", "国家", "国药监药注"),
    ("科学技术部", "国家", "国科发"), ("上海市科学技术委员会", "上海市", "沪科"),
    ("北京市科学技术委员会", "北京市", "京科发"), ("广东省药品监督管理局", "广东省", "粤药监"),
    ("吉林省人民政府", "吉林省", "吉政发"), ("海南省卫生健康委员会", "海南省", "琼卫医"),
    ("深圳市科技创新委员会", "广东省", "深科技创新"), ("江苏省科学技术厅", "江苏省", "苏科计"),
]
TRADITIONAL = set("們這個來時為與發會國書實學對關應經點質網術細療區際醫貿開於進產藥規劃證")  # seed 000 is zh-Hant
TITLE_FORMS = [
    "关于印发《{}》的通知", "关于公开征求《{}（征求意见稿）》意见的通知", "《{}》政策解读",
    "关于做好《{}》贯彻落实工作的通知", "关于发布《{}》的公告",
]


@dataclass
class Item:
    number: int
    title: str
    published: str
    path: str  # relative to the site root folder


def corpus() -> tuple[list[str], list[str]]:
    """(sentences, policy names) from the seeds and the demo portal texts, in a stable order."""
    texts = [decode_html(p.read_bytes()).text for p in sorted([*SEEDS.glob("*.md"), *SEEDS.glob("*.txt")])]
    for page in sorted(DEMO_PORTAL.rglob("*.htm*")):
        raw = decode_html(page.read_bytes()).text
        texts.extend(re.sub(r"<[^>]+>", "", p) for p in re.findall(r"<p[^>]*>(.*?)</p>", raw, re.S))
    sentences, names = {}, {}
    for text in texts:
        text = html.unescape(text)
        for sentence in re.findall(r"[^。！？\n]+[。！？]", text):
            sentence = sentence.strip()
            if (12 <= len(sentence) <= 220 and not TRADITIONAL.intersection(sentence)
                    and len(re.findall(r"[\u4e00-\u9fff]", sentence)) > len(sentence) / 2):
                sentences.setdefault(sentence, None)
        for name in re.findall(r"《([^《》\n]{4,40})》", text):
            names.setdefault(name, None)
    if not sentences:
        raise SystemExit(f"no sentences found in {SEEDS} or {DEMO_PORTAL}")
    return list(sentences), list(names) or ["细胞治疗产品管理办法"]


def seeded(seed: int, *key: object) -> random.Random:
    """A Random seeded by the workload's seed and what it is for: each choice is stable on its own."""
    return random.Random(":".join(map(str, (seed, *key))))


def paragraph(rng: random.Random, sentences: list[str]) -> str:
    """1-4 sentences, as one line of an extracted page."""
    return "".join(rng.choice(sentences) for _ in range(rng.randint(1, 4)))


def paragraphs(rng: random.Random, sentences: list[str], size: int) -> list[str]:
    """Paragraphs of at least ``size`` UTF-8 bytes in all."""
    out, total = [], 0
    while total < size:
        out.append(paragraph(rng, sentences))
        total += len(out[-1].encode())
    return out


def revise(rng: random.Random, text: list[str], sentences: list[str], year: int) -> list[str]:
    """One revision a drafter makes to a text's paragraphs (the first, its heading, stays): a sentence replaced,
    a paragraph added, or a figure and a deadline (in ``year``) changed."""
    revised = list(text)
    edit = rng.randrange(3)
    k = rng.randrange(1, len(revised)) if len(revised) > 1 else 0
    if edit == 0:
        parts = re.findall(r"[^。！？]+[。！？]?", revised[k]) or [revised[k]]
        parts[rng.randrange(len(parts))] = rng.choice(sentences)
        revised[k] = "".join(parts)
    elif edit == 1:
        revised.insert(k, "".join(rng.choice(sentences) for _ in range(rng.randint(1, 3))))
    else:
        revised[k] = re.sub(r"\d+", lambda m: str(int(m.group()) + 1), revised[k], count=2)
        revised[k] += f"本通知自{year}年{rng.randint(1, 12)}月1日起施行。"
    return revised


class Writer:
    """Writes pages for one workload folder; every choice comes from a Random seeded by what it builds."""

    def __init__(self, out: Path, seed: int) -> None:
        self.out, self.seed = out, seed
        self.sentences, self.names = corpus()

    def rng(self, *key: object) -> random.Random:
        return seeded(self.seed, *key)

    def new_item(self, site: int, number: int, day: date) -> Item:
        rng = self.rng("item", site, number)
        title = rng.choice(TITLE_FORMS).format(rng.choice(self.names))
        return Item(number, title, day.isoformat(), f"art/{day:%Y%m}/t{number:04d}.html")

    def detail(self, site: int, item: Item, text: list[str] | None = None, attachments: int = 0) -> str:
        authority, _, abbr = AUTHORITIES[site % len(AUTHORITIES)]
        rng = self.rng("detail", site, item.number)
        if text is None:
            size = rng.randint(1024, 20 * 1024)
            opening = f"为贯彻落实党中央、国务院有关决策部署，现就{item.title}有关事项通知如下。"
            text = [opening, *paragraphs(rng, self.sentences, size - len(opening.encode()))]
        body = "\n".join(f"<p>{html.escape(p)}</p>" for p in text)
        year = item.published[:4]
        links = "".join(f'<p><a href="/site{site:02d}/{path}">附件{k}：{html.escape(item.title)}.{path.rsplit(".")[-1]}'
                        f"</a></p>\n" for k, path in enumerate(attachment_paths(item, attachments), 1))
        files = f'<div class="attachments">\n{links}</div>\n' if links else ""
        return PAGE.format(
            site=site, title=html.escape(item.title), authority=authority, date=item.published,
            doc_number=f"{abbr}〔{year}〕{item.number % 300 + 1}号", body=body,
            head=f"{html.escape(item.title)}_{authority}", files=files,
        )

    def write_attachments(self, site: int, item: Item, count: int) -> None:
        """The files a detail page links: a one-page PDF (Latin text: a core font needs no font file) and a Word
        file (Chinese prose) in turn, each text seeded by its page and number."""
        for k, path in enumerate(attachment_paths(item, count), 1):
            rng = self.rng("attachment", site, item.number, k)
            target = self.out / "site" / f"site{site:02d}" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.endswith(".pdf"):
                words = " ".join(f"{rng.choice(LATIN)}{rng.randint(1, 99)}" for _ in range(40))
                target.write_bytes(pdf_file([f"Annex {k} to notice t{item.number:04d} of site {site:02d}",
                                             words[:90], words[90:180]]))
            else:
                target.write_bytes(docx_file([f"附件{k}：{item.title}", *paragraphs(rng, self.sentences, 1500)]))

    def list_pages(self, site: int, items: list[Item]) -> list[str]:
        authority = AUTHORITIES[site % len(AUTHORITIES)][0]
        ordered = sorted(items, key=lambda i: (i.published, i.number), reverse=True)
        chunks = [ordered[i:i + PER_LIST_PAGE] for i in range(0, len(ordered), PER_LIST_PAGE)] or [[]]
        pages = []
        for n, chunk in enumerate(chunks):
            lis = "\n".join(
                f'<li><a href="/site{site:02d}/{i.path}" target="_blank">{html.escape(i.title)}</a>'
                f'<span class="date">{i.published}</span></li>' for i in chunk
            )
            more = f'<a class="next" href="index_{n + 1}.html">下一页</a>' if n + 1 < len(chunks) else ""
            pages.append(LIST.format(site=site, authority=authority, items=lis, next=more, page=n + 1,
                                     head=f"通知公告_{authority}"))
        return pages

    def write_lists(self, site: int, items: list[Item]) -> None:
        folder = self.out / "site" / f"site{site:02d}" / "list"
        folder.mkdir(parents=True, exist_ok=True)
        for n, page in enumerate(self.list_pages(site, items)):
            (folder / ("index.html" if n == 0 else f"index_{n}.html")).write_text(page, encoding="utf-8")

    def write_detail(self, site: int, item: Item, text: str) -> None:
        path = self.out / "site" / f"site{site:02d}" / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def attachment_paths(item: Item, count: int) -> list[str]:
    """Where a detail page's ``count`` files are, relative to its site: PDF and Word in turn, beside the page."""
    stem = item.path.removesuffix(".html")
    return [f"{stem}_{k}.{'pdf' if k % 2 else 'docx'}" for k in range(1, count + 1)]


LATIN = ("article", "measure", "annex", "clause", "permit", "review", "trial", "record", "notice", "filing")


def pdf_file(lines: list[str]) -> bytes:
    """A one-page PDF of these lines (ASCII, in Helvetica, a core font: no font file needed), with a correct
    cross-reference table, so any reader takes it as it is."""
    escaped = [line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for line in lines]
    stream = "BT /F1 11 Tf 72 770 Td " + " 0 -16 Td ".join(f"({line}) Tj" for line in escaped) + " ET"
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        "/Contents 5 0 R >>",
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{o:010d} 00000 n \n" for o in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def docx_file(paragraphs: list[str]) -> bytes:
    """A Word (.docx) file of these paragraphs."""
    import io

    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def generate(out: Path, sites: int = 20, pages: int = 50, seed: int = 1, attachments: int = 0) -> dict:
    """Write the sites and workload.json; returns the manifest. Each detail page links ``attachments`` files."""
    writer = Writer(out, seed)
    (out / "site").mkdir(parents=True, exist_ok=True)
    (out / "site" / "robots.txt").write_text("User-agent: *\nDisallow: /admin/\n", encoding="utf-8")
    manifest: dict = {"seed": seed, "sites": {}, "mutations": 0, "attachments": attachments}
    start = date(2023, 12, 31)
    for site in range(sites):
        items = [writer.new_item(site, n, start - timedelta(days=n * 3 + site % 3)) for n in range(pages)]
        for item in items:
            writer.write_detail(site, item, writer.detail(site, item, attachments=attachments))
            writer.write_attachments(site, item, attachments)
        writer.write_lists(site, items)
        manifest["sites"][str(site)] = [asdict(i) for i in items]
    (out / "workload.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return manifest


_ZOOM = re.compile(r'(<div id="zoom" class="article-content">\n)(.*?)(\n</div>)', re.S)


def mutate(out: Path, fraction: float, new_items: int | None = None) -> dict[str, int]:
    """Edit the text of ``fraction`` of the detail pages and add ``new_items`` list items (default: one per 200
    pages, at least one); returns the counts."""
    manifest = json.loads((out / "workload.json").read_text(encoding="utf-8"))
    writer = Writer(out, manifest["seed"])
    round_ = manifest["mutations"] = manifest["mutations"] + 1
    rng = writer.rng("mutate", round_)
    everything = [(int(s), Item(**i)) for s, items in manifest["sites"].items() for i in items]
    chosen = rng.sample(everything, min(len(everything), math.ceil(len(everything) * fraction)))
    for site, item in chosen:
        path = out / "site" / f"site{site:02d}" / item.path
        page = path.read_text(encoding="utf-8")
        match = _ZOOM.search(page)
        assert match, path
        text = [html.unescape(p) for p in re.findall(r"<p>(.*?)</p>", match.group(2))]
        revised = revise(rng, text, writer.sentences, 2024 + round_ % 3)
        writer.write_detail(site, item, writer.detail(site, item, revised, manifest.get("attachments", 0)))
    count = max(1, len(everything) // 200) if new_items is None else new_items
    sites = sorted(manifest["sites"], key=int)
    for n in range(count):
        site = sites[n % len(sites)]
        items = [Item(**i) for i in manifest["sites"][site]]
        number = max(i.number for i in items) + 1
        item = writer.new_item(int(site), number, date(2024, 1, 1) + timedelta(days=round_ * 7 + n // len(sites)))
        writer.write_detail(int(site), item, writer.detail(int(site), item, attachments=manifest.get("attachments", 0)))
        writer.write_attachments(int(site), item, manifest.get("attachments", 0))
        items.append(item)
        writer.write_lists(int(site), items)
        manifest["sites"][site] = [asdict(i) for i in items]
    (out / "workload.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    return {"edited": len(chosen), "new": count}


def write_config(out: Path, base_url: str, concurrency: int = CONCURRENCY, *, delay: float = 0,
                 allow_hosts: str = "127.0.0.1", base_urls: list[str] | None = None, top: str = "") -> Path:
    """config.toml for the PolicyWatch crawl of the generated sites served at ``base_url`` (site N at
    ``base_urls[N]`` when given), with ``download_delay = delay`` and ``top`` (more tables) after [crawl]."""
    manifest = json.loads((out / "workload.json").read_text(encoding="utf-8"))
    pages = max(len(items) for items in manifest["sites"].values())
    max_pages = math.ceil(pages / PER_LIST_PAGE) + 20  # room for items added by mutate
    lines = [
        'db = "state.db"', "", "[crawl]", "obey_robots = false", f"download_delay = {delay}", "autothrottle = false",
        f"concurrency_per_domain = {concurrency}", "timeout = 30", "retries = 0",
        f'allow_hosts = ["{allow_hosts}"]', "", top,
    ]
    for site in sorted(manifest["sites"], key=int):
        base = base_urls[int(site)] if base_urls else base_url
        authority, region, _ = AUTHORITIES[int(site) % len(AUTHORITIES)]
        lines += [
            "[[sources]]", f'name = "site{int(site):02d}"', f'title = "{authority} 通知公告（基准站点{site}）"',
            f'region = "{region}"', f'authority = "{authority}"',
            f'start_urls = ["{base}/site{int(site):02d}/list/index.html"]', "[sources.list]",
            'item = "ul.list li"', 'link = "a::attr(href)"', 'title = "a::text"', 'date = "span.date::text"',
            'next_page = "a.next::attr(href)"', f"max_pages = {max_pages}", "[sources.detail]",
            'title = "h1.article-title::text"', 'body = "#zoom"', "",
        ]
    path = out / "config.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# The page chrome every page of a site shares, as on a real portal: head, header, navigation.
_TOP = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{head}</title>
<link rel="stylesheet" href="/css/site.css">
</head>
<body>
<div class="header"><a class="logo" href="/site{site:02d}/">{authority}</a></div>
<div class="nav"><ul><li><a href="/">首页</a></li>
<li class="on"><a href="/site{site:02d}/list/index.html">通知公告</a></li>
<li><a href="/">政务公开</a></li><li><a href="/">办事服务</a></li></ul></div>
"""

LIST = _TOP + """<div class="main">
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt; 通知公告</div>
<ul class="list">
{items}
</ul>
<div class="pagination"><span class="current">{page}</span>{next}</div>
</div>
<div class="footer">主办：{authority}　网站标识码：3100000{site:02d}　沪ICP备05000000号</div>
</body>
</html>
"""

PAGE = _TOP + """<div class="main">
<div class="breadcrumb">当前位置：<a href="/">首页</a> &gt;
<a href="/site{site:02d}/list/index.html">通知公告</a> &gt; 正文</div>
<div class="article">
<h1 class="article-title">{title}</h1>
<div class="article-info">
<span class="pubdate">发布日期：{date}</span>
<span class="source">来源：{authority}</span>
</div>
<div class="doc-no">{doc_number}</div>
<div id="zoom" class="article-content">
{body}
</div>
{files}</div>
</div>
<div class="footer">主办：{authority}　网站标识码：3100000{site:02d}</div>
</body>
</html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workload", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mutate", type=float, default=None, metavar="FRACTION",
                        help="edit this share of the existing detail pages instead of generating")
    parser.add_argument("--new-items", type=int, default=None)
    parser.add_argument("--base-url", default=None, help="also write config.toml for sites served here")
    args = parser.parse_args(argv)
    if args.mutate is not None:
        print(mutate(args.out, args.mutate, args.new_items))
    else:
        generate(args.out, args.sites, args.pages, args.seed)
    if args.base_url:
        print(write_config(args.out, args.base_url))


if __name__ == "__main__":
    main()
