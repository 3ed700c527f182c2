"""Shared fixtures: real loopback portals, real config files, real crawl subprocesses."""

from __future__ import annotations

import os
import sys
import tomllib
from contextlib import ExitStack
from pathlib import Path

import pytest

import policywatch.cli  # (click, rich, sqlite-utils …: imported once here, for every forked command)
import policywatch.crawler.run  # noqa: F401  (Scrapy, imported once here, for every forked crawl process)
from policywatch.core import config as config_module
from policywatch.core.store import Store
from policywatch.crawler import processes
from policywatch.crawler.crawl import CrawlResult, crawl
from policywatch.crawler.extract.encoding import decode_html
from policywatch.portal import PortalHandler, serve
from tests import forkcli

ROOT = Path(__file__).resolve().parent.parent
POLICYWATCH = [sys.executable, "-m", "policywatch.cli"]  # the CLI, run as a user runs it
# The saved real pages and the seed roundups live beside the checkout, in ../shared, and are never copied in.
SHARED = Path(os.environ.get("POLICYWATCH_SHARED", ROOT.parent / "shared"))
CORPUS = Path(os.environ.get("POLICYWATCH_CORPUS", SHARED / "corpus" / "real"))
SEEDS = SHARED / "seeds"
# Values read off the corpus pages by hand (corpus_expected.toml); saved pages by file name.
CORPUS_EXPECTED = tomllib.loads((Path(__file__).parent / "corpus_expected.toml").read_text(encoding="utf-8"))
EXPECTED_PAGES = {page["file"]: page for page in CORPUS_EXPECTED["detail"] if "record" not in page}
OFFICE = Path(__file__).parent / "fixtures" / "office"  # legacy Office files; see make_fixtures.py there

# Loopback crawls need no politeness delay, and error cases should fail fast; the portals' address must be allowed.
FAST_CRAWL = """
[crawl]
download_delay = 0
autothrottle = false
concurrency_per_domain = 8
timeout = {timeout}
retries = 0
max_page_bytes = {max_page_bytes}
max_attachment_bytes = {max_attachment_bytes}
allow_hosts = ["127.0.0.1"]
"""


def source_toml(name: str, start_url: str, item: str = "li", link: str = "a::attr(href)",
                title: str | None = "a::text", date: str | None = None, extra: str = "",
                region: str | None = "国家", authority: str = "测试机关") -> str:
    """One [[sources]] entry, as a maintainer would write it; region None leaves it to each document."""
    lines = [
        "[[sources]]", f'name = "{name}"', f'title = "{name} 测试"', f'region = "{region}"' if region else "",
        f'authority = "{authority}"', f'start_urls = ["{start_url}"]', extra, "[sources.list]",
        f'item = "{item}"', f'link = "{link}"',
    ]
    if title:
        lines.append(f'title = "{title}"')
    if date:
        lines.append(f'date = "{date}"')
    return "\n".join(lines) + "\n"


def make_docx(path: Path, paragraphs: list[str], author: str = "") -> None:
    """A Word file of these paragraphs, as a portal's attachment."""
    import docx

    document = docx.Document()
    document.core_properties.author = author
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    document.save(path)


def make_pdf(text: str) -> bytes:
    """A one-page PDF of this text in a core font (no font files needed), as a portal's attachment."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, text)
    return bytes(pdf.output())


def crawl_config_text(timeout: float = 5, max_page_bytes: int = 5_000_000, max_attachment_bytes: int = 5_000_000,
                      processes: int | None = 1) -> str:
    """The [crawl] table of a test config: FAST_CRAWL with these limits. One crawl process unless a test asks for
    more (None: one per CPU, the default): a second process gains nothing on the tests' small sites and costs a
    second of CPU (Python and Scrapy's import), and the crawls then cost the same on any number of CPUs."""
    text = FAST_CRAWL.format(timeout=timeout, max_page_bytes=max_page_bytes, max_attachment_bytes=max_attachment_bytes)
    if processes is not None:
        text += f"processes = {processes}\n"
    return text


def write_notice_site(folder: Path) -> None:
    """The smallest portal: a list page (index.html) linking one notice (1.html)."""
    folder.mkdir(parents=True, exist_ok=True)
    title = "关于细胞治疗备案的通知"
    (folder / "index.html").write_text(f"<ul><li><a href='1.html'>{title}</a></li></ul>", encoding="utf-8")
    (folder / "1.html").write_text(f"<h1>{title}</h1><p>发布时间：2023-12-05</p>"
                                   "<div id='zoom'><p>为规范细胞治疗临床研究，现开展备案工作。</p></div>",
                                   encoding="utf-8")


def read_corpus(name: str) -> str:
    """A saved corpus page's text, decoded as a crawl decodes it."""
    return decode_html((CORPUS / name).read_bytes()).text


@pytest.fixture
def write_config(tmp_path: Path, request: pytest.FixtureRequest):
    """Write a config.toml in tmp_path from source entries; returns the loaded Config. In a test that uses
    ``db_target``, its ``db`` is that database (state.db beside it, or a PostgreSQL URL)."""
    target = request.getfixturevalue("db_target") if "db_target" in request.fixturenames else None

    def write(*sources: str, timeout: float = 5, max_page_bytes: int = 5_000_000,
              max_attachment_bytes: int = 5_000_000, processes: int | None = 1):
        path = tmp_path / "config.toml"
        text = crawl_config_text(timeout, max_page_bytes, max_attachment_bytes, processes)
        if isinstance(target, str):
            text = f'db = "{target}"\n' + text
        path.write_text(text + "\n".join(sources), encoding="utf-8")
        return config_module.load(path)

    return write


@pytest.fixture
def portal():
    """Serve a folder on 127.0.0.1 for the test; call it with the folder, get the base URL."""
    with ExitStack() as stack:
        yield lambda directory, handler=PortalHandler: stack.enter_context(serve(directory, handler))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long by nature (the benchmarks run small, a wheel built and installed, "
                            "ten crawls killed one after another, a service restart that waits out real seconds): "
                            "`make test-slow` and CI run them, `make test` does not")
    config.addinivalue_line("markers", "exec_crawls: the test's crawls start their crawl processes as new "
                            "interpreters (python -m policywatch.crawler.run), as where they cannot be forked "
                            "(policywatch.crawler.processes)")


@pytest.fixture(scope="session", autouse=True)
def warm_test_process() -> None:
    """What every forked crawl process and command would otherwise load again, loaded once in this test process
    (each xdist worker): every library a PolicyWatch module imports, the modules a crawl imports as it runs (a small
    crawl of a loopback page teaches which), what extracting that page loads and compiles on first use (the label
    patterns; trafilatura's fallbacks, with jusText's stoplists of every language: a third of a second for each crawl
    process that meets a short page), and jieba's dictionary (a second to load; word diffs use it). Then the zygote
    the commands are forked from (tests.forkcli) is forked, warm as well."""
    import tempfile

    from policywatch.crawler.extract.detail import extract_detail
    from policywatch.detection.diff import tokenize

    forkcli.import_every_module()
    tokenize("细胞治疗")
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_notice_site(root / "site")
        with serve(root / "site") as base:
            (root / "config.toml").write_text(crawl_config_text() + source_toml("warm", f"{base}/index.html"),
                                              encoding="utf-8")
            forkcli.import_what_a_crawl_imports(root / "config.toml")
            extract_detail((root / "site" / "1.html").read_text(encoding="utf-8"), f"{base}/1.html")
    forkcli.start_zygote()


@pytest.fixture(autouse=True)
def exec_crawls(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that looks at the crawl processes it starts from outside (their command lines, their memory, their
    sockets), marked ``exec_crawls``, gets them started as new interpreters, as they are where a fork is not
    possible."""
    if request.node.get_closest_marker("exec_crawls") is not None:
        monkeypatch.setattr(processes, "can_fork", lambda: False)


@pytest.fixture
def run_crawl():
    """Crawl for real, in crawl processes, exactly as `policywatch crawl` does."""

    def run(config, *sources: str, recheck_all: bool = False) -> CrawlResult:
        return crawl(config, sources, recheck_all)

    return run


@pytest.fixture
def open_store():
    """Open a Store on a path or PostgreSQL URL (``open_store.read_only`` a read-only one), closed after the test."""
    stores: list[Store] = []

    def open_(path, read_only: bool = False) -> Store:
        store = Store(path, read_only=read_only)
        stores.append(store)
        return store

    open_.read_only = lambda path: open_(path, read_only=True)
    yield open_
    for store in stores:
        store.close()


class SharedCrawls:
    """Sites served, and crawled, once per session (per xdist worker) for the many tests that start from the same
    crawl and go on from what it stored (digests sent, subscribers added): a crawl costs a crawl process, about
    two seconds of CPU (mostly Scrapy's imports), a copy of what it stored a few milliseconds.

    The first test to ask crawls for real, into its own database, which is then kept; every later test with the
    same config gets its own copy (SQLite: the file; PostgreSQL: CREATE DATABASE … TEMPLATE), once per kind of
    database. A test that changes its site or crawls it again needs a site of its own instead.
    """

    def __init__(self, folder: Path, stack: ExitStack) -> None:
        self.folder, self.stack = folder, stack
        self.bases: dict[str, str] = {}
        self.kept: dict[tuple[str, str], tuple[str, str]] = {}  # (site, kind) → (config it was crawled with, copy)

    def site(self, name: str, make) -> str:
        """The base URL of site ``name``: a folder written by ``make(folder)``, served until the session ends."""
        if name not in self.bases:
            folder = self.folder / name
            make(folder)
            self.bases[name] = self.stack.enter_context(serve(folder))
        return self.bases[name]

    def crawl(self, name: str, config) -> None:
        """Leave in ``config``'s database what a crawl of its sources (on site ``name``) stores."""
        import shutil
        import sqlite3

        from tests.pgserver import copy_database

        text = "".join(line for line in config.path.read_text(encoding="utf-8").splitlines(keepends=True)
                       if not line.startswith("db = "))
        kind = "postgresql" if config.postgres else "sqlite"
        kept = self.kept.get((name, kind))
        if kept is None:
            crawl(config, (), False)
            if config.postgres:
                copy = f"kept_{name}"
                copy_database(str(config.db), str(config.db).rsplit("/", 1)[1], copy)
            else:
                copy = str(self.folder / f"{name}.db")
                with sqlite3.connect(config.db) as source, sqlite3.connect(copy) as target:
                    source.backup(target)
                source.close()
                target.close()
            self.kept[(name, kind)] = (text, copy)
            return
        crawled_with, copy = kept
        assert text == crawled_with, f"site {name!r} was crawled with another config: give this test a site of its own"
        if config.postgres:
            copy_database(str(config.db), copy, str(config.db).rsplit("/", 1)[1], replace=True)
        else:
            shutil.copyfile(copy, config.db)


@pytest.fixture(scope="session")
def shared_crawls(tmp_path_factory):
    """Sites served and crawled once per session for the tests that only go on from a crawl (SharedCrawls)."""
    with ExitStack() as stack:
        yield SharedCrawls(tmp_path_factory.mktemp("shared"), stack)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`policywatch demo`, run once per session (per worker) for the tests that only read what it made: (its
    printed output, its folder)."""
    workdir = tmp_path_factory.mktemp("demo")
    result = forkcli.run(["demo", "--dir", str(workdir)], timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout, workdir


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """The archive-site test history (tests.archive_site), built once per session for the tests that only read
    it; its portals stay served until the session ends."""
    from tests.archive_site import build_archive

    with ExitStack() as stack:
        yield build_archive(tmp_path_factory.mktemp("archive"), stack)


def _require_server(installed: bool, name: str) -> None:
    """A test server that is not installed skips the tests that need it, with one line; in CI it fails them."""
    from tests.redisserver import in_ci

    if installed:
        return
    message = f"{name} not installed: `make servers` installs it with apt-get (as root or with sudo)"
    if in_ci():
        pytest.fail(f"CI is set but {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server per session (per worker); skipped without one, failed without one in CI."""
    import shutil

    from tests.redisserver import RedisServer

    _require_server(shutil.which("redis-server") is not None, "redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL server per session (per worker); skipped without one, failed without one in CI."""
    from tests.pgserver import PostgresServer, bin_dir

    _require_server(bin_dir() is not None, "PostgreSQL")
    server = PostgresServer()
    server.start()
    yield server
    server.stop()


_DATABASES = iter(range(1, 1_000_000))


@pytest.fixture
def pg_url(pg_server) -> str:
    """A new, empty database on the test server: every test starts with no tables."""
    return pg_server.create_database(f"test_{next(_DATABASES)}")


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """The database a store test runs on, each test once per kind: state.db in tmp_path, then a PostgreSQL one
    (see ``write_config``, which puts it in config.toml)."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def redis_url(redis_server) -> str:
    """The test server's URL, its data flushed: every test starts with an empty Redis."""
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server.url


# Test modules that share a session fixture taking many seconds to make (demo_run, archive): each group runs on one
# xdist worker (pytest_xdist_make_scheduler), which makes the fixture once instead of every worker making its own.
SHARED_FIXTURE_GROUPS = {
    "tests/test_demo.py": "demo_run", "tests/test_browse.py": "demo_run",
    "tests/test_site.py": "archive", "tests/test_site_browser.py": "archive",
}
# The tests that each keep a worker busy longest, started first, then the groups above: xdist hands tests out in the
# order collected, and one of these started near the end would run on while the other workers have nothing left.
LONG_FIRST = (
    "tests/test_browser_fetcher.py::test_a_js_cookie_challenge_is_passed_by_the_browser_and_reported_over_http",
    "tests/test_health.py::test_a_breaking_source_alerts_its_maintainers_once_per_breakage",
    "tests/hostile/test_database.py::test_two_crawls_at_once_on_a_new_file",
    "tests/hostile/test_bombs.py::test_a_crawl_of_bombs_records_them_and_stores_the_rest",
    "tests/test_warm_crawls.py::test_serve_crawls_in_warm_workers_that_crawl_hands_its_sources_to",
    "tests/test_warm_crawls.py::test_a_small_crawl_runs_in_the_crawl_command_itself",
    "tests/test_workers.py::test_crawl_queues_one_job_per_source_and_prints_the_workers_runs",
    "tests/test_warm_crawls.py::test_a_warm_worker_that_dies_fails_its_job_alone",
    "tests/test_detect.py::test_attachments_are_hashed_read_and_diffed[postgresql]",
    "tests/test_warm_crawls.py::test_serve_workers_see_a_source_added_to_config_while_they_run",
    # marked slow: first when `make test-slow` runs them
    "tests/test_bench.py::test_small_benchmark_runs_every_step",
    "tests/hostile/test_interrupted.py::test_ten_random_kills_then_one_crawl_store_what_a_clean_crawl_stores",
    "tests/test_bench_workers.py::test_kill_bench_kills_a_worker_mid_job_and_finds_every_page_and_file_once",
    "tests/test_packaging.py::test_the_wheel_installs_policywatch_alone_and_its_demo_runs",
    "tests/test_serve.py::test_a_restart_after_downtime_runs_the_missed_crawls_once",
    "tests/test_bench_workers.py::test_scale_bench_stores_every_page_once_for_each_worker_count",
    "tests/test_politeness.py::test_two_crawl_processes_share_one_hosts_delay",
    "tests/test_serve.py::test_crawls_run_on_schedule_never_overlap_and_stop_cleanly_on_sigterm",
    "tests/test_workers.py::test_a_worker_killed_mid_job_hands_it_on_and_nothing_is_lost_or_doubled",
    "tests/test_workers.py::test_sigterm_stores_what_is_in_flight_and_hands_the_rest_of_the_job_back",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (LONG_FIRST), then the groups sharing a slow fixture, the others in the order
    collected."""

    def rank(item: pytest.Item) -> int:
        if item.nodeid in LONG_FIRST:
            return LONG_FIRST.index(item.nodeid)
        return len(LONG_FIRST) + (item.nodeid.split("::", 1)[0] not in SHARED_FIXTURE_GROUPS)

    items.sort(key=rank)


@pytest.hookimpl(tryfirst=True, optionalhook=True)  # before xdist's own choice; without xdist, unused
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """With -n and xdist's default distribution (--dist load): tests are handed out one at a time in the order
    collected, as a worker runs low, except that the modules of SHARED_FIXTURE_GROUPS go to one worker together.
    (xdist's own --dist loadgroup marks do not group tests under pytest 9.2: pytest-xdist issue #1386.)"""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Scheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return SHARED_FIXTURE_GROUPS.get(nodeid.split("::", 1)[0], nodeid)

    return Scheduling(config, log)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The Chromium the browser tests shared (tests.browser) and the commands' zygote (tests.forkcli) end with the
    session."""
    from tests import browser

    browser.close()
    forkcli.stop_zygote()


def pytest_sessionstart(session: pytest.Session) -> None:
    """Without the shared pages nothing real can be tested: say so once, instead of failing test by test."""
    missing = [str(folder) for folder in (CORPUS, SEEDS) if not folder.is_dir()]
    if missing:
        raise pytest.UsageError(f"the saved portal pages and seeds are missing ({', '.join(missing)}): clone this "
                                "repository beside its shared/ folder, or set POLICYWATCH_SHARED to it")
    if not hasattr(session.config, "workerinput"):  # once, not in each xdist worker
        compile_checkout()


def compile_checkout() -> None:
    """Byte-compile the checkout's own modules before the tests start: the tests start well over a thousand
    processes (the CLI, crawls, workers), and with PYTHONDONTWRITEBYTECODE set (as many containers set it) or in
    a fresh checkout each of them would compile what it imports from source again. Installed packages are
    compiled when installed; this does the same for the checkout (__pycache__ folders, ignored by git)."""
    import compileall

    for package in sorted(path.parent for path in ROOT.glob("*/__init__.py")):
        compileall.compile_dir(package, quiet=2)
