"""Crawls are polite: robots.txt obeyed, a configured User-Agent, conditional re-checks."""

from __future__ import annotations

from typing import ClassVar

from policywatch.portal import PortalHandler
from tests.conftest import source_toml

PAGE = ("<html><head><meta charset='utf-8'></head><body><h1>{title}</h1><p>发布日期：2023-12-06</p>"
        "<div id='zoom'><p>{body}</p></div></body></html>")


class RecordingPortal(PortalHandler):
    """Remembers every request's path, User-Agent and conditional headers."""

    seen: ClassVar[list[tuple[str, str, str | None, int]]] = []

    def send_response(self, code: int, message: str | None = None) -> None:
        RecordingPortal.seen.append(
            (self.path, self.headers.get("User-Agent", ""), self.headers.get("If-None-Match"), code))
        super().send_response(code, message)


def make_site(root) -> None:
    (root / "admin").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /admin/\n")
    for name, title in (("a", "关于上海市2023年度细胞与基因治疗专项项目立项的通知"),
                        ("b", "关于开展2024年度科技型中小企业评价工作的通知")):
        (root / f"{name}.html").write_text(
            PAGE.format(title=title, body=f"{title}。现将有关事项通知如下，请认真贯彻执行。"), encoding="utf-8")
    (root / "admin" / "secret.html").write_text(PAGE.format(title="内部", body="不应抓取" * 10))
    (root / "index.html").write_text(
        "<ul><li><a href='/a.html'>a</a></li><li><a href='/b.html'>b</a></li>"
        "<li><a href='/admin/secret.html'>secret</a></li></ul>", encoding="utf-8")


def test_robots_user_agent_and_conditional_recheck(tmp_path, portal, write_config, run_crawl, open_store):
    make_site(tmp_path / "site")
    RecordingPortal.seen = []
    base = portal(tmp_path / "site", RecordingPortal)
    config = write_config(source_toml("polite", f"{base}/index.html"))

    first = run_crawl(config)

    paths = [path for path, *_ in RecordingPortal.seen]
    assert "/robots.txt" in paths and "/admin/secret.html" not in paths
    assert {agent for _, agent, *_ in RecordingPortal.seen} == {config.crawl.user_agent}
    assert first.summary[0]["new_documents"] == 2
    store = open_store(config.db)
    blocked = store.db.execute("SELECT error FROM fetches WHERE url LIKE '%/admin/%'").fetchone()
    assert blocked == ("forbidden by robots.txt",)

    # Nothing is due yet: a second crawl reads the list page only.
    RecordingPortal.seen = []
    run_crawl(config)
    assert sorted(p for p, *_ in RecordingPortal.seen if p.endswith(".html")) == ["/index.html"]

    # --recheck-all re-fetches stored pages with their ETag: 304s, no new versions.
    RecordingPortal.seen = []
    again = run_crawl(config, recheck_all=True)
    rechecks = {path: (etag, code) for path, _, etag, code in RecordingPortal.seen
                if path in ("/a.html", "/b.html")}
    assert {path: code for path, (_, code) in rechecks.items()} == {"/a.html": 304, "/b.html": 304}
    assert all(etag for etag, _ in rechecks.values())
    assert again.summary[0]["new_versions"] == 0
    assert store.count("versions") == 2

    # A changed page is fetched in full and becomes a new version.
    (tmp_path / "site" / "a.html").write_text(
        PAGE.format(title="关于上海市2023年度细胞与基因治疗专项项目立项的通知",
                    body="市科委资助4430万元，其中2023年拨款3989万元。请各项目承担单位做好组织实施。"),
        encoding="utf-8")
    changed = run_crawl(config, recheck_all=True)
    assert changed.summary[0]["new_versions"] == 1
    assert "4430万元" in store.document(f"{base}/a.html")["text"]
