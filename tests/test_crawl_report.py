"""What `policywatch crawl` tells whoever runs it: its exit code, the [sources.detail] selectors that matched
nothing, and (while it runs) how far it has got, on a terminal and in a log."""

from __future__ import annotations

import re
import subprocess
import threading

from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import POLICYWATCH, source_toml
from tests.terminal import plain, run_on_terminal

TITLE = "关于开展第{n}批细胞治疗备案工作的通知"
PROGRESS = re.compile(r"crawl: \d+ of about \d+ pages \(\d+%\), \d+ new documents, \d+ errors; \d+s so far, "
                      r"(about \d+(s|m\d\ds) left|time left not known yet)")


def write_site(site, count: int = 3) -> None:
    site.mkdir(parents=True, exist_ok=True)
    for n in range(1, count + 1):
        (site / f"{n}.html").write_text(
            f"<h1>{TITLE.format(n=n)}</h1><p>发布时间：2023-12-0{n}</p><div id='zoom'><p>为规范细胞治疗临床研究，"
            f"现开展第{n}批备案工作。请各单位按要求报送材料。</p></div>", encoding="utf-8")
    links = "".join(f"<li><a href='/{n}.html'>{TITLE.format(n=n)}</a></li>" for n in range(1, count + 1))
    (site / "index.html").write_text(f"<ul>{links}</ul>", encoding="utf-8")


def crawl(config, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return forkcli.run(["crawl", *args, "--config", str(config.path)], env=env)


class HeldPortal(PortalHandler):
    """Answers /2.html only once ``release`` is set: a crawl that cannot end before the test has seen it run."""

    release = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/2.html":
            self.release.wait(60)
        super().do_GET()


# --- exit codes ------------------------------------------------------------------------------------------------------

def test_a_crawl_exits_3_when_a_source_is_broken_or_unreachable(tmp_path, portal, write_config):
    write_site(tmp_path / "site")
    base = portal(tmp_path / "site")
    config = write_config(source_toml("fine", f"{base}/index.html"),
                          source_toml("moved", f"{base}/gone/index.html"),  # its list page answers 404
                          source_toml("redesigned", f"{base}/1.html", item="ul.news li"))  # no items any more
    both = crawl(config)
    assert both.returncode == 3, both.stderr
    lines = [line.strip() for line in both.stdout.splitlines()]
    assert "broken moved: its list page could not be fetched (HTTP 404)" in lines
    assert any(line.startswith("alert redesigned: found 0 items on its list pages") for line in lines)
    assert crawl(config, "fine").returncode == 0  # only what this crawl ran counts
    assert crawl(config, "moved").returncode == 3

    usage = crawl(config, "--progress-every", "-1")
    assert usage.returncode == 2 and "-1.0 is not in the range" in usage.stderr
    bad_env = crawl(config, env={"POLICYWATCH_PROGRESS_EVERY": "soon"})
    assert bad_env.returncode == 2 and "POLICYWATCH_PROGRESS_EVERY" in bad_env.stderr
    unknown = crawl(config, "nope")
    assert unknown.returncode == 1 and unknown.stderr.startswith("Error: config.toml: sources: no source named")


# --- detail selectors that match nothing -----------------------------------------------------------------------------

def test_a_detail_selector_that_matches_nothing_is_told_once_per_source_and_selector(tmp_path, portal, write_config):
    write_site(tmp_path / "site", count=3)
    base = portal(tmp_path / "site")
    detail = '\n[sources.detail]\ntitle = "h2.title::text"\nbody = "#content"\n'
    config = write_config(source_toml("redesign", f"{base}/index.html") + detail)
    done = crawl(config)
    assert done.returncode == 0, done.stderr
    warned = [line.strip() for line in done.stdout.splitlines() if "matched nothing" in line]
    assert warned == [
        f"warning redesign: [sources.detail] body '#content' matched nothing; found automatically (3 pages, the "
        f"first {base}/1.html)",
        f"warning redesign: [sources.detail] title 'h2.title::text' matched nothing; found automatically (3 pages, "
        f"the first {base}/1.html)",
    ]

    check = forkcli.run(["sources", "check", "redesign", "--config", str(config.path)])
    assert check.returncode == 0, check.stderr
    tail = check.stdout.splitlines()[-4:]  # the warnings close the report
    for selector in ("title 'h2.title::text'", "body '#content'"):
        assert check.stdout.count(f"[sources.detail] {selector} matched nothing") == 1
        assert f"! [sources.detail] {selector} matched nothing; found automatically" in tail


# --- progress --------------------------------------------------------------------------------------------------------

def test_without_a_terminal_a_crawl_writes_a_progress_line_every_few_seconds(tmp_path, portal, write_config):
    write_site(tmp_path / "site")
    HeldPortal.release.clear()
    config = write_config(source_toml("slow", f"{portal(tmp_path / 'site', HeldPortal)}/index.html"))
    process = subprocess.Popen([*POLICYWATCH, "crawl", "--config", str(config.path)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               env={"POLICYWATCH_PROGRESS_EVERY": "0.2"})
    try:
        seen = []
        for line in process.stderr:  # /2.html is held: the crawl is running while these lines come
            seen.append(line.rstrip("\n"))
            if PROGRESS.fullmatch(seen[-1]) and " 0 of " not in seen[-1]:
                break
        HeldPortal.release.set()
        rest, stdout = process.stderr.read(), process.stdout.read()
    finally:
        HeldPortal.release.set()
        process.wait(120)
    assert process.returncode == 0, rest
    assert seen and PROGRESS.fullmatch(seen[-1]), seen
    assert all(PROGRESS.fullmatch(line) for line in seen + rest.splitlines())  # nothing else on stderr
    assert "│ slow" in stdout

    quiet = crawl(config, "--progress-every", "0")
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_on_a_terminal_a_crawl_shows_its_totals_and_the_time_left(tmp_path, portal, write_config):
    write_site(tmp_path / "site")
    HeldPortal.release.clear()
    config = write_config(source_toml("slow", f"{portal(tmp_path / 'site', HeldPortal)}/index.html"))
    try:
        code, output = run_on_terminal(
            [*POLICYWATCH, "crawl", "--config", str(config.path)], 120,
            when=(lambda shown: bool(re.search(r"about \d+s left", plain(shown))), HeldPortal.release.set))
    finally:
        HeldPortal.release.set()
    shown = plain(output)
    assert code == 0, shown
    assert re.search(r"slow: \d+ pages, \d+ new, \d+ errors", shown)  # the source's own line
    assert re.search(r"crawl: \d+ of about 4 pages \(\d+%\), \d+ new documents, 0 errors; about \d+s left", shown)
    assert "│ slow" in shown  # then the table


def test_a_crawls_size_is_estimated_from_state_db_then_from_what_it_queues():
    from policywatch.progress import CrawlCounts

    now = [0.0]
    counts = CrawlCounts({"a": 5, "b": 1}, clock=lambda: now[0])  # a: 1 list page + 4 due; b: never crawled
    assert counts.total() == 6 and counts.left() is None
    now[0] = 10.0
    counts.add({"event": "fetch", "source": "b", "kind": "list", "queued": 9})  # b's list named 9 new items
    counts.add({"event": "fetch", "source": "a", "kind": "list", "queued": 2})  # fewer than state.db expects
    counts.add({"event": "fetch", "source": "elsewhere", "kind": "detail"})  # not this crawl's
    assert (counts.done(), counts.total()) == (2, 5 + 10)
    assert counts.left() == 13 * 10.0 / 2
    assert counts.line() == ("crawl: 2 of about 15 pages (13%), 0 new documents, 0 errors; 10s so far, "
                             "about 1m05s left")
