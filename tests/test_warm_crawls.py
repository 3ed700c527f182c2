"""Crawls that pay no process start: `serve`'s own warm crawl workers, `crawl` handing its sources to them, and a
small crawl run inside the `policywatch crawl` process itself."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from policywatch.crawler.crawl import IN_PROCESS_PAGES, runs_here
from policywatch.portal import PortalHandler
from tests.conftest import POLICYWATCH, source_toml
from tests.processes import children, command_line, kill_all, wait_gone
from tests.test_parallel_crawl import SITES, make_sites
from tests.test_serve import Service


class SlowListPortal(PortalHandler):
    """Each list page takes half a second: a crawl lasts long enough to watch its processes."""

    def do_GET(self) -> None:
        if self.path.endswith("/index.html"):
            time.sleep(0.5)
        super().do_GET()


def cmdlines(pids: list[int]) -> list[str]:
    return [command_line(pid).replace(b"\0", b" ").decode() for pid in pids]


def warm_workers(serve_pid: int) -> list[int]:
    """serve's pool processes (not multiprocessing's resource tracker)."""
    return [pid for pid in children(serve_pid) if "spawn_main" in "".join(cmdlines([pid]))]


def crawl_watching_children(config, *args: str) -> tuple[subprocess.CompletedProcess, dict[int, bytes]]:
    """`policywatch crawl`, and every child process it had while it ran (polled), with its command line: its crawl
    processes, forked or not, and anything else it ran."""
    process = subprocess.Popen([*POLICYWATCH, "--config", str(config.path), "crawl", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen: dict[int, bytes] = {}

    def watch() -> None:
        while process.poll() is None:
            for pid in children(process.pid):
                seen[pid] = seen.get(pid) or command_line(pid)
            time.sleep(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    stdout, stderr = process.communicate(timeout=120)
    watcher.join()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), seen


def crawl_cli(config, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*POLICYWATCH, "--config", str(config.path), "crawl", *args], capture_output=True,
                          text=True, timeout=120)


@contextmanager
def serving(config) -> Iterator[Service]:
    """`policywatch serve` for ``config``, once it serves; it and its workers gone after the block."""
    service = Service(config).start()
    try:
        yield service
    finally:
        if service.process.poll() is None:
            service.process.kill()
        kill_all(children(service.process.pid))


def sources_toml(base: str, schedule: str | None = None) -> list[str]:
    extra = f'schedule = "{schedule}"' if schedule else ""
    return [source_toml(s, f"{base}/{s}/index.html", extra=extra) for s in SITES]


def test_a_small_crawl_runs_in_the_crawl_command_itself(tmp_path, portal, write_config):
    make_sites(tmp_path / "site")
    config = write_config(*sources_toml(portal(tmp_path / "site", SlowListPortal)), processes=2)
    assert not runs_here(config, list(SITES), False)  # a first crawl: its size is unknown until lists are read

    first, seen = crawl_watching_children(config)
    assert first.returncode == 0, first.stderr
    assert seen  # the control: crawl processes are seen

    assert runs_here(config, list(SITES), False)  # stored, nothing due: list pages only
    again, seen = crawl_watching_children(config)
    assert again.returncode == 0, again.stderr
    assert not seen, seen  # no crawl process, nor any other (Scrapy's `uname -p` was one)
    for site in SITES:  # the list page, read in this process; its 3 documents are not due
        assert re.search(rf"│ {site}\s+│\s+1 │\s+0 │\s+0 │\s+0 │", again.stdout), again.stdout
    assert "Crawl run 2" in again.stdout


def test_what_counts_as_small(tmp_path, portal, write_config, run_crawl):
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    config = write_config(*sources_toml(base), processes=2)
    run_crawl(config)
    names = list(SITES)
    assert runs_here(config, names, recheck_all=True)  # 3 × (1 list page + 3 documents) ≤ IN_PROCESS_PAGES
    assert IN_PROCESS_PAGES < 3 * (1 + 3) * 100
    browser = write_config(*sources_toml(base)[:2], source_toml("gamma", f"{base}/gamma/index.html",
                                                                   extra='fetcher = "browser"'), processes=2)
    assert not runs_here(browser, names, False)  # Chromium gets a crawl process of its own


def test_serve_crawls_in_warm_workers_that_crawl_hands_its_sources_to(tmp_path, portal, write_config):
    make_sites(tmp_path / "site")
    # Scheduled once a year: nothing runs by itself during the test.
    config = write_config(*sources_toml(portal(tmp_path / "site"), "0 0 1 1 *"), processes=2)
    with serving(config) as service:
        assert "2 warm crawl worker(s) ready" in service.log.read_text(encoding="utf-8")
        workers = warm_workers(service.process.pid)
        assert len(workers) == 2, cmdlines(children(service.process.pid))

        done, seen = crawl_watching_children(config)
        assert done.returncode == 0, done.stderr
        assert "crawling 3 source(s) with the warm workers of the running `policywatch serve`" in done.stderr
        assert not seen, seen  # the crawl command started no crawl process
        assert "Crawl runs 1, 2" in done.stdout  # one job, and one run, per warm worker
        for site in SITES:
            assert re.search(rf"│ {site}\s+│\s+4 │\s+3 │\s+3 │\s+0 │", done.stdout), done.stdout
        assert sorted(service.rows("SELECT sources, status FROM runs")) == [
            ('["alpha", "gamma"]', "finished"), ('["beta"]', "finished")]
        assert warm_workers(service.process.pid) == workers  # the same warm processes did it

        assert service.stop() == 0
        assert wait_gone(workers, limit=30) == []
        crawl_log = (config.state_dir / "logs" / "crawl.log").read_text(encoding="utf-8")
        assert "Traceback" not in crawl_log and "ERROR" not in crawl_log
    after = crawl_cli(config)
    assert after.returncode == 0, after.stderr
    assert "warm workers" not in after.stderr  # serve is gone: the crawl runs on its own


def test_a_warm_worker_that_dies_fails_its_job_alone(tmp_path, portal, write_config):
    make_sites(tmp_path / "site")
    config = write_config(*sources_toml(portal(tmp_path / "site", SlowListPortal), "0 0 1 1 *"), processes=1)
    with serving(config) as service:
        [worker] = warm_workers(service.process.pid)
        crawl = subprocess.Popen([*POLICYWATCH, "--config", str(config.path), "crawl", "alpha"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        service.wait(lambda: service.rows("SELECT count(*) FROM runs")[0][0] == 1, "the job to start")
        time.sleep(0.2)
        os.kill(worker, signal.SIGKILL)
        stdout, stderr = crawl.communicate(timeout=60)
        assert crawl.returncode == 1, stdout + stderr
        assert "crawl of alpha failed: WorkerDied: the crawl worker running alpha died" in stderr

        again = crawl_cli(config, "alpha")
        assert again.returncode == 0, again.stderr
        assert "warm workers" in again.stderr  # a new warm process took the job
        assert re.search(r"│ alpha\s+│\s+4 │\s+3 │\s+3 │\s+0 │", again.stdout), again.stdout
        assert service.stop() == 0
    statuses = dict(service.rows("SELECT id, status FROM runs"))
    assert statuses[1] in ("running", "interrupted") and statuses[max(statuses)] == "finished"


def test_the_serve_socket_takes_only_keyed_well_formed_requests(tmp_path, portal, write_config):
    from multiprocessing import AuthenticationError
    from multiprocessing.connection import Client

    from policywatch.scheduler.control import MAX_REQUEST, _address, _key_file

    make_sites(tmp_path / "site")
    config = write_config(*sources_toml(portal(tmp_path / "site"), "0 0 1 1 *"), processes=1)
    with serving(config) as service:
        key = _key_file(config)
        assert key.stat().st_mode & 0o777 == 0o600

        silent = socket.socket(socket.AF_UNIX)  # connects and never answers the key challenge
        silent.connect(_address(config))
        try:  # a client without the key: refused before anything it sends is read
            Client(_address(config), family="AF_UNIX", authkey=b"guess").close()
        except (AuthenticationError, EOFError, ConnectionError):
            pass
        else:
            raise AssertionError("a client without the key was let in")

        def ask(raw: bytes) -> str:
            with Client(_address(config), family="AF_UNIX", authkey=key.read_bytes()) as conn:
                conn.send_bytes(raw)
                return conn.recv_bytes().decode()

        assert "a crawl request is" in ask(b"[1, 2]")
        assert "a crawl request is" in ask(b'{"sources": [{"$gt": ""}]}')
        assert "no source named '../../etc/passwd'" in ask(b'{"sources": ["../../etc/passwd"]}')
        assert '"error"' in ask(b"\xff not json")
        try:  # a request over MAX_REQUEST is not read: the connection is dropped
            ask(b" " * (MAX_REQUEST + 1))
        except (EOFError, ConnectionError):
            pass
        else:
            raise AssertionError("an oversized request was answered")
        assert service.rows("SELECT count(*) FROM runs") == [(0,)]  # nothing was crawled

        done = crawl_cli(config, "alpha")  # and serve still works
        assert done.returncode == 0 and "warm workers" in done.stderr, done.stderr  # the silent one held nobody up
        silent.close()
        assert service.stop() == 0
    assert not key.exists()  # removed as serve stops
    assert "refused a client" in service.log.read_text(encoding="utf-8")


class StallingListPortal(PortalHandler):
    """List pages answer after 3 s: a crawl is surely under way when interrupted."""

    def do_GET(self) -> None:
        if self.path.endswith("/index.html") and StallingListPortal.stall:
            time.sleep(3)
        super().do_GET()

    stall = False


def test_ctrl_c_winds_an_in_process_crawl_down(tmp_path, portal, write_config, run_crawl, open_store):
    make_sites(tmp_path / "site")
    config = write_config(*sources_toml(portal(tmp_path / "site", StallingListPortal)), processes=2)
    run_crawl(config)
    assert runs_here(config, list(SITES), False)
    StallingListPortal.stall = True
    try:
        process = subprocess.Popen([*POLICYWATCH, "--config", str(config.path), "crawl"], stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        store = open_store(config.db)
        deadline = time.monotonic() + 30
        while store.db.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0] == 0:
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        time.sleep(0.5)  # the list pages are being fetched
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        StallingListPortal.stall = False
    assert process.returncode == 1, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "Error: crawl stopped"
    assert [r["status"] for r in store.db["runs"].rows] == ["finished", "stopped"]


def test_serve_workers_see_a_source_added_to_config_while_they_run(tmp_path, portal, write_config):
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    alpha, beta, gamma = sources_toml(base, "0 0 1 1 *")
    config = write_config(alpha, beta, processes=1)
    with serving(config) as service:
        first = crawl_cli(config)
        assert first.returncode == 0 and "warm workers" in first.stderr, first.stderr
        config.path.write_text(config.path.read_text(encoding="utf-8") + "\n" + gamma, encoding="utf-8")
        added = crawl_cli(config, "gamma")
        assert added.returncode == 0 and "warm workers" in added.stderr, added.stderr
        assert re.search(r"│ gamma\s+│\s+4 │\s+3 │\s+3 │\s+0 │", added.stdout), added.stdout
        assert service.stop() == 0
