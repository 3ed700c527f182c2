"""A real 征求意见稿 (consultation draft) and its final 试行 version, published at one URL, are one document.

Ministries often publish a draft for comment and months later the final text. When a portal replaces the
draft in place, PolicyWatch must keep one document with two versions and report one text change whose
diff shows what the ministry actually rewrote: clauses dropped, clauses added, words replaced, while
the many sentences the two share stay unmarked. The texts are the 卫生部 变性手术技术管理规范 pair from
../shared/corpus/real (see MANIFEST.md there), turned into an ordinary detail page; the expected edits
below were read off the two files by hand.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from tests import forkcli
from tests.conftest import CORPUS, source_toml

DRAFT = CORPUS / "draftpair-nhc-bianxing-shoushu-guifan-zhengqiuyijiangao-2009-06-15.md"
FINAL = CORPUS / "draftpair-nhc-bianxing-shoushu-guifan-shixing-2009-11-13.md"
LIST_TITLE = "变性手术技术管理规范"
MARKUP = re.compile(r"^(?:#+|\d+\.)\s+")  # Markdown heading marks and list numbers


def detail_page(markdown: Path) -> str:
    """The Markdown file as a plain detail page: <h1> title, 发布时间 line, one <p> per line in div#zoom.

    The file is a title line, source links, "---", the body, then the date on its last line; list
    markers ("1. ") and heading marks ("## ") are Markdown syntax, not policy text, and are dropped.
    """
    head, body = markdown.read_text(encoding="utf-8").split("\n---\n", 1)
    title = head.splitlines()[0].removeprefix("# ")
    lines = [line.strip() for line in body.strip().splitlines() if line.strip()]
    date = lines.pop()
    paragraphs = "".join(f"<p>{html.escape(MARKUP.sub('', line))}</p>" for line in lines)
    return (f"<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><p>发布时间：{date}</p><div id='zoom'>{paragraphs}</div></body></html>")


def marked(diff: str) -> tuple[list[str], list[str], str]:
    """Removed runs, added runs, and the text outside every marker, from `[-removed-]{+added+}` output."""
    removed = re.findall(r"\[-(.*?)-\]", diff, re.DOTALL)
    added = re.findall(r"\{\+(.*?)\+\}", diff, re.DOTALL)
    return removed, added, re.sub(r"\[-.*?-\]|\{\+.*?\+\}", "\x00", diff, flags=re.DOTALL)


def test_draft_then_final_is_one_document_whose_diff_shows_the_real_edits(
        tmp_path, portal, write_config, run_crawl, open_store):
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(f"<ul><li><a href='/guifan.html'>{LIST_TITLE}</a></li></ul>", encoding="utf-8")
    (site / "guifan.html").write_text(detail_page(DRAFT), encoding="utf-8")
    config = write_config(source_toml("nhc", f"{portal(site)}/index.html", title=None))
    store = open_store(config.db)

    run_crawl(config)
    (site / "guifan.html").write_text(detail_page(FINAL), encoding="utf-8")
    run_crawl(config, recheck_all=True)

    (doc,) = store.documents()
    versions = store.history(doc["id"])
    assert [(v["title"], v["published"], v["change"]) for v in versions] == [
        ("变性手术技术管理规范（征求意见稿）", "2009-06-15", "new"),
        ("变性手术技术管理规范（试行）", "2009-11-13", "changed"),
    ]
    (change,) = store.changes(kind="changed")
    assert set(change["fields"].split(",")) == {"text", "title", "published"}
    assert (change["from_version"], change["to_version"]) == (versions[0]["id"], versions[1]["id"])

    diff = forkcli.run(["diff", str(doc["id"]), "--format", "text", "--config", str(config.path)],
                       check=True).stdout
    removed, added, unchanged = marked(diff)
    # Words replaced in place: 生物学性别 became 生理性别, 外科手术禁忌症 became 手术禁忌证, 能力评估 became 能力审核.
    assert "使易性癖病患者的[-生物学-]{+生理+}性别与其心理性别相符" in diff
    assert "无[-外科手术禁忌症-]{+手术禁忌证+}。" in diff
    assert "临床应用能力[-评估-]{+审核+}，包括病例选择" in diff
    # Whole clauses dropped from the draft, and clauses new in the 试行 version.
    assert any("当地公安部门备案同意术后更改身份证上的性别。" in run for run in removed)
    assert any("患者以其选择的性别公开地生活和工作至少" in run for run in removed)
    assert any("上述材料须纳入病历资料。" in run for run in added)
    assert any("医疗机构开展变性手术技术应当与其功能、任务相适应" in run for run in added)
    # Sentences the two versions share are shown as they are, unmarked.
    for same in ("变性手术后，医院为患者出具有关诊疗证明，以便患者办理相关法律手续。",
                 "患者本人要求手术的书面报告并进行公证。"):
        assert same in unchanged
        assert not any(same in run for run in removed + added)
