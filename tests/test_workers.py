"""Crawl workers fed through a real Redis: `crawl` queues and waits, jobs spread over workers and queues, a
worker killed mid-job hands its job on with nothing lost or doubled, SIGTERM hands the rest of a job back."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import source_toml
from tests.test_crawl_kill import PAGES, SlowPortal, make_site
from tests.test_parallel_crawl import SITES, make_sites


def cluster_config(write_config, redis_url: str, *sources: str):
    """A config whose crawls go through ``redis_url``; a worker missing for 2 s is dead."""
    return write_config(f'[cluster]\nredis = "{redis_url}"\nheartbeat_seconds = 2\n', *sources)


@contextmanager
def worker(config, *args: str):
    """A `policywatch worker` process, once it takes jobs; stopped (SIGKILL if need be) at the end."""
    log = config.path.parent / f"worker-{time.monotonic_ns()}.err"
    command = forkcli.start(["--config", str(config.path), "worker", "--threads", "1", *args], stderr=log)
    process = command.process
    process.log = log
    try:
        deadline = time.monotonic() + 30
        while "worker taking jobs" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.05)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        command.finish()


def crawl(config, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return forkcli.run(["--config", str(config.path), "crawl", *args], timeout=timeout)


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()[0]


def wait_for(condition, limit: float = 60) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def documents(db: Path) -> int:
    return count(db, "SELECT count(*) FROM documents") if db.exists() and count(
        db, "SELECT count(*) FROM sqlite_master WHERE name = 'documents'") else 0


def runs(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sources, status FROM runs ORDER BY id").fetchall()


class PatientPortal(PortalHandler):
    """Every page takes 0.4 s: a job lasts long enough for an idle worker to take the next one."""

    def do_GET(self) -> None:
        time.sleep(0.4)
        super().do_GET()


def test_crawl_queues_one_job_per_source_and_prints_the_workers_runs(tmp_path, portal, write_config, redis_url):
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site", PatientPortal)
    config = cluster_config(write_config, redis_url, *(source_toml(s, f"{base}/{s}/index.html") for s in SITES))

    with worker(config) as first, worker(config) as second:
        done = crawl(config)

    assert done.returncode == 0, done.stderr
    for site in SITES:
        # The list page and 3 new documents, each a first version.
        assert re.search(rf"│ {site}\s+│\s+4 │\s+3 │\s+3 │\s+0 │", done.stdout), done.stdout
    assert "Crawl runs 1, 2, 3" in done.stdout
    assert sorted(runs(config.db)) == [(f'["{s}"]', "finished") for s in sorted(SITES)]
    assert documents(config.db) == 9
    jobs = [p.log.read_text().count("crawl:") for p in (first, second)]
    assert sum(jobs) == 3 and all(jobs), jobs  # both workers took jobs


def test_two_workers_redis_and_postgresql_as_on_two_machines(tmp_path, portal, write_config, redis_url, pg_url,
                                                             open_store):
    """The README's "Running on several machines": one Redis, one PostgreSQL, two workers and `crawl`."""
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site", PatientPortal)
    config = cluster_config(write_config, redis_url, *(source_toml(s, f"{base}/{s}/index.html") for s in SITES))
    config.path.write_text(f'db = "{pg_url}"\n' + config.path.read_text(encoding="utf-8"), encoding="utf-8")

    with worker(config) as first, worker(config) as second:
        done = crawl(config)

    assert done.returncode == 0, done.stderr
    for site in SITES:
        assert re.search(rf"│ {site}\s+│\s+4 │\s+3 │\s+3 │\s+0 │", done.stdout), done.stdout
    store = open_store(pg_url)
    assert sorted((r["sources"], r["status"]) for r in store.db["runs"].rows) == [
        (f'["{s}"]', "finished") for s in sorted(SITES)]
    assert store.count("documents") == 9 and store.count("versions") == 9
    assert all(p.log.read_text().count("crawl:") for p in (first, second))  # both workers took jobs
    assert not config.db_exists() or not (tmp_path / "state.db").exists()  # nothing went to a SQLite file


def test_a_source_queue_is_taken_only_by_workers_started_for_it(tmp_path, portal, write_config, redis_url):
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    config = cluster_config(write_config, redis_url, source_toml("alpha", f"{base}/alpha/index.html"),
                            source_toml("beta", f"{base}/beta/index.html", extra='queue = "cn-mainland"'))

    queued = crawl(config, "--no-wait")
    assert queued.returncode == 0, queued.stderr
    assert "queued alpha on default" in queued.stdout and "queued beta on cn-mainland" in queued.stdout
    assert not config.db.exists() or not runs(config.db)  # queued, not crawled

    with worker(config):
        wait_for(lambda: documents(config.db) == 3 and runs(config.db) == [('["alpha"]', "finished")])
        time.sleep(1)  # beta's job waits on its own queue, untouched
        assert runs(config.db) == [('["alpha"]', "finished")]
    with worker(config, "--queue", "cn-mainland"):  # the run closes after its last page: waited for before the kill
        wait_for(lambda: documents(config.db) == 6 and [s for _, s in runs(config.db)] == ["finished", "finished"])


@pytest.fixture
def slow_source(tmp_path, portal, write_config, redis_url):
    """One source of PAGES slow pages, so a worker is still crawling it when stopped or killed."""
    make_site(tmp_path / "site")
    base = portal(tmp_path / "site", SlowPortal)
    return cluster_config(write_config, redis_url, source_toml("slow", f"{base}/index.html"))


def assert_every_page_once(db: Path) -> None:
    """Every page stored, none twice, each with one version."""
    assert count(db, "SELECT count(*) FROM documents") == PAGES
    assert count(db, "SELECT count(*) FROM (SELECT url FROM documents GROUP BY url HAVING count(*) > 1)") == 0
    assert count(db, "SELECT count(*) FROM versions") == PAGES


@pytest.mark.slow  # waits for a slow portal's crawl to be mid-job, then for another worker to finish it
def test_a_worker_killed_mid_job_hands_it_on_and_nothing_is_lost_or_doubled(slow_source):
    config = slow_source

    with worker(config) as doomed:
        assert crawl(config, "--no-wait").returncode == 0
        wait_for(lambda: documents(config.db) >= 30)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    stored = documents(config.db)
    assert 30 <= stored < PAGES

    with worker(config) as heir:
        wait_for(lambda: "crawl:slow" in heir.log.read_text(), limit=120)  # logged once the job has ended
    assert_every_page_once(config.db)
    assert [status for _, status in runs(config.db)] == ["interrupted", "finished"]


@pytest.mark.slow  # waits for a slow portal's crawl to be mid-job, then for the job to go back
def test_sigterm_stores_what_is_in_flight_and_hands_the_rest_of_the_job_back(slow_source):
    config = slow_source

    with worker(config) as stopping:
        assert crawl(config, "--no-wait").returncode == 0
        wait_for(lambda: documents(config.db) >= 30)
        stopping.send_signal(signal.SIGTERM)
        assert stopping.wait(timeout=60) == 0
    assert "handing the running jobs back" in stopping.log.read_text()
    assert [status for _, status in runs(config.db)] == ["stopped"]
    assert documents(config.db) < PAGES

    with worker(config):
        wait_for(lambda: runs(config.db)[-1][1] == "finished", limit=120)
    assert_every_page_once(config.db)


def test_the_worker_log_has_the_workers_lines_and_the_crawl_log_the_crawls(tmp_path, write_config):
    """The crawl's modules log as policywatch.crawler.*: their lines go to crawl.log with Scrapy's (through the root
    logger), not to worker.log, though both loggers are named under policywatch."""
    config = write_config(source_toml("one", "http://127.0.0.1:9/"))
    code = ("import logging, sys\n"
            "from policywatch.core import config\n"
            "from policywatch.scheduler.service import log_to\n"
            "from policywatch.scheduler.worker import WORKER_LOGGERS\n"
            "log_to(config.load(sys.argv[1]), 'worker.log', *WORKER_LOGGERS)\n"
            "crawl = logging.FileHandler(sys.argv[2])\n"
            "logging.getLogger().addHandler(crawl)\n"
            "logging.getLogger('policywatch.worker').info('crawl:one: done')\n"
            "logging.getLogger('policywatch.crawler.politeness').warning('shared politeness: unreachable')\n")
    crawl_log = tmp_path / "crawl.log"
    subprocess.run([sys.executable, "-c", code, str(config.path), str(crawl_log)], check=True, capture_output=True)
    worker_log = (config.state_dir / "logs" / "worker.log").read_text(encoding="utf-8")
    assert "crawl:one: done" in worker_log and "shared politeness" not in worker_log
    assert crawl_log.read_text(encoding="utf-8") == "shared politeness: unreachable\n"


def test_operator_mistakes_get_one_line(tmp_path, write_config, redis_url):
    plain = write_config(source_toml("alpha", "http://127.0.0.1:9/index.html"))
    no_cluster = forkcli.run(["--config", str(plain.path), "worker"], timeout=60)
    assert no_cluster.returncode != 0
    assert no_cluster.stderr.strip().splitlines()[-1].endswith(
        "cluster: no [cluster] table: a worker takes jobs from the Redis it names")
    no_wait = crawl(plain, "--no-wait")
    assert no_wait.returncode != 0 and "needs a [cluster] table" in no_wait.stderr

    unreachable = cluster_config(write_config, "redis://127.0.0.1:9/0", source_toml("alpha", "http://127.0.0.1:9/"))
    refused = crawl(unreachable, timeout=60)
    assert refused.returncode != 0
    assert "cannot reach Redis (redis://127.0.0.1:9/0)" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    bad_queue = forkcli.run(["--config", str(unreachable.path), "worker", "--queue", "A B"], timeout=60)
    assert bad_queue.returncode != 0 and "a queue name is lowercase letters" in bad_queue.stderr


def test_crawl_with_no_worker_for_the_queue_says_so_and_waits_for_one(tmp_path, portal, write_config, redis_url,
                                                                     monkeypatch):
    monkeypatch.setenv("POLICYWATCH_UNTAKEN_HINT", "1")  # `crawl` asks after a second instead of ten
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    config = cluster_config(write_config, redis_url, source_toml("alpha", f"{base}/alpha/index.html",
                                                                 extra='queue = "browser"'))
    log = tmp_path / "crawl.err"
    with worker(config):  # a worker, but not for this queue
        waiting = forkcli.start(["--config", str(config.path), "crawl"], stderr=log)
        wait_for(lambda: "no worker has taken the job on queue 'browser'" in log.read_text(), limit=40)
        assert waiting.process.poll() is None
        with worker(config, "--queue", "browser"):
            done = waiting.finish(timeout=60)
    assert done.returncode == 0
    assert re.search(r"│ alpha\s+│\s+4 │\s+3 │", done.stdout)
    assert len(done.stderr.strip().splitlines()) == 1


def test_serve_queues_a_due_crawl_for_the_workers_instead_of_running_it(tmp_path, portal, write_config, redis_url):
    from policywatch.scheduler.jobs import crawl_source

    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    config = cluster_config(write_config, redis_url, source_toml("alpha", f"{base}/alpha/index.html"))

    summary = crawl_source(str(config.path), str(config.db), "alpha")  # what `serve` runs when alpha is due

    assert re.fullmatch(r"queued job [0-9a-f-]{36} on 'default'", summary)
    assert documents(config.db) == 0
    with worker(config):
        wait_for(lambda: documents(config.db) == 3)


def test_a_job_naming_a_source_this_worker_does_not_know_fails_once_with_its_reason(tmp_path, write_config,
                                                                                    redis_url):
    from dramatiq import Message

    from policywatch.scheduler import jobqueue

    config = cluster_config(write_config, redis_url, source_toml("alpha", "http://127.0.0.1:9/index.html"))
    broker = jobqueue.broker(config.cluster)
    try:
        with worker(config) as taker:
            forged = broker.enqueue(Message(queue_name="default", actor_name=jobqueue.ACTOR,
                                            args=("../../etc/passwd", False), kwargs={}, options={}))
            with pytest.raises(jobqueue.JobFailed, match=r"no source named '\.\./\.\./etc/passwd'"):
                jobqueue.wait(broker, [forged], timeout=60)
    finally:
        broker.close()
    assert "crawl:" not in taker.log.read_text()  # never crawled, never retried
    assert not (config.db.parent / "locks" / "../../etc/passwd.lock").exists()
    assert not config.db.exists() or not runs(config.db)


def test_the_untaken_hint_is_ten_seconds_unless_the_environment_gives_a_sane_number(monkeypatch):
    from policywatch.scheduler.jobqueue import UNTAKEN_HINT, UNTAKEN_HINT_VARIABLE, untaken_hint

    monkeypatch.delenv(UNTAKEN_HINT_VARIABLE, raising=False)
    assert untaken_hint() == UNTAKEN_HINT == 10.0
    for value, seconds in [("1", 1.0), ("0.5", 0.5), (" 2 ", 2.0), ("", 10.0), ("soon", 10.0), ("nan", 10.0),
                           ("inf", 10.0), ("-1", 10.0), ("0", 10.0), ("600", 10.0)]:
        monkeypatch.setenv(UNTAKEN_HINT_VARIABLE, value)
        assert untaken_hint() == seconds, value
