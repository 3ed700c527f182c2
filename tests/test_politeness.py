"""Crawls are polite: robots.txt obeyed, a configured User-Agent, conditional re-checks."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from typing import ClassVar

import pytest

from policywatch.portal import PortalHandler
from tests.conftest import source_toml
from tests.mailserver import free_port

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


# Shared politeness ([cluster] redis, policywatch.crawler.politeness): two crawl processes, one host.

DELAY = 0.3
TOLERANCE = 0.05  # timer and scheduling granularity between a request's start and its arrival at the server


class ArrivalPortal(PortalHandler):
    """Remembers when each request arrived (monotonic seconds)."""

    arrivals: ClassVar[list[float]] = []

    def do_GET(self) -> None:
        ArrivalPortal.arrivals.append(time.monotonic())
        super().do_GET()


def make_list_site(root, items: int = 6) -> None:
    root.mkdir(parents=True)
    links = []
    for i in range(items):
        title = f"关于开展2024年度第{i}批科技型中小企业评价工作的通知"
        (root / f"{i}.html").write_text(PAGE.format(title=title, body=f"{title}。现将有关事项通知如下。"),
                                        encoding="utf-8")
        links.append(f"<li><a href='/{i}.html'>{title}</a></li>")
    (root / "index.html").write_text("<ul>" + "".join(links) + "</ul>", encoding="utf-8")


def crawl_config(folder, base: str, redis: str | None) -> str:
    folder.mkdir()
    text = (f"[crawl]\ndownload_delay = {DELAY}\nautothrottle = false\nconcurrency_per_domain = 1\ntimeout = 5\n"
            'retries = 0\nallow_hosts = ["127.0.0.1"]\n')
    if redis:
        text += f'[cluster]\nredis = "{redis}"\n'
    path = folder / "config.toml"
    path.write_text(text + source_toml("polite", f"{base}/index.html"), encoding="utf-8")
    return str(path)


def crawl_twice_at_once(tmp_path, base: str, redis: str | None, tag: str) -> list[subprocess.CompletedProcess]:
    """Two `python -m policywatch.crawler.run` processes, each with its own state.db, crawling the same portal at
    once."""
    configs = [crawl_config(tmp_path / f"{tag}{n}", base, redis) for n in (1, 2)]
    processes = [subprocess.Popen([sys.executable, "-m", "policywatch.crawler.run", "--config", c],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in configs]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def gaps(arrivals: list[float]) -> list[float]:
    ordered = sorted(arrivals)
    return [b - a for a, b in itertools.pairwise(ordered)]


@pytest.mark.slow  # waits out real seconds: two crawls' requests a host's delay apart
def test_two_crawl_processes_share_one_hosts_delay(tmp_path, portal, redis_url):
    make_list_site(tmp_path / "site")
    base = portal(tmp_path / "site", ArrivalPortal)

    ArrivalPortal.arrivals = []
    for result in crawl_twice_at_once(tmp_path, base, redis_url, "shared"):
        assert result.returncode == 0, result.stderr
        assert "unreachable" not in result.stderr
    shared = gaps(ArrivalPortal.arrivals)
    assert len(ArrivalPortal.arrivals) >= 16  # robots.txt, the list and 6 pages, twice
    assert min(shared) >= DELAY - TOLERANCE, shared

    # The same two processes without [cluster]: each keeps its own pace, so together they crawl faster.
    ArrivalPortal.arrivals = []
    for result in crawl_twice_at_once(tmp_path, base, None, "alone"):
        assert result.returncode == 0, result.stderr
    alone = gaps(ArrivalPortal.arrivals)
    assert min(alone) < DELAY - TOLERANCE, alone  # the check above fails without the shared pace
    print(f"min gap shared {min(shared):.3f}s, alone {min(alone):.3f}s")


def test_redis_down_crawl_goes_on_and_says_so(tmp_path, portal, open_store):
    make_list_site(tmp_path / "site", items=2)
    base = portal(tmp_path / "site")
    closed = free_port()  # nothing listens there
    config = crawl_config(tmp_path / "down", base, f"redis://127.0.0.1:{closed}/0")
    result = subprocess.run([sys.executable, "-m", "policywatch.crawler.run", "--config", config], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "shared politeness" in line]
    assert len(warnings) == 1 and "unreachable" in warnings[0], result.stderr
    store = open_store(tmp_path / "down" / "state.db")
    assert store.count("documents") == 2


def test_a_lease_never_released_frees_after_its_ttl(redis_url):
    import redis.asyncio as aioredis

    from policywatch.crawler.politeness import PREFIX, HostGate

    async def scenario() -> tuple:
        client = aioredis.Redis.from_url(redis_url)
        gate = HostGate(client)
        try:
            first, wait = await gate.acquire("example.org", 1, 0.0, 0.4)  # taken, never released
            blocked, _ = await gate.acquire("example.org", 1, 0.0, 0.4)
            ttls = [await client.pttl(PREFIX + "example.org"), await client.pttl(PREFIX + "example.org:leases")]
            await asyncio.sleep(0.5)
            later, _ = await gate.acquire("example.org", 1, 0.0, 0.4)
            return first, wait, blocked, ttls, later
        finally:
            await client.aclose()

    first, wait, blocked, ttls, later = asyncio.run(scenario())
    assert first is not None and wait == 0
    assert blocked is None  # the host is at its limit while the lease lives
    assert all(ttl > 0 for ttl in ttls)  # nothing stays in Redis for ever
    assert later is not None
