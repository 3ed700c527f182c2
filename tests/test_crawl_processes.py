"""policywatch.crawler.processes: a crawl process forked from the crawl command waits for its arguments, then is the
real one, with its exit codes, signals, environment, the descriptors it is given, and its parent's socket."""

from __future__ import annotations

import fcntl
import gc
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from typing import NamedTuple

import pytest

from policywatch.crawler.processes import ForkedCrawl
from policywatch.crawler.run import YOUNG_COLLECTION_THRESHOLD, collect_less
from policywatch.portal import PortalHandler, serve
from tests.conftest import crawl_config_text, source_toml


def write_config(folder, base: str = "http://127.0.0.1:9") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(crawl_config_text() + source_toml("here", f"{base}/index.html"), encoding="utf-8")
    return str(path)


def started(args: list[str], err, env: dict[str, str] | None = None, pass_fds: list[int] = ()) -> ForkedCrawl:
    process = ForkedCrawl(err.fileno(), err.fileno())
    process.start(args, env or {}, list(pass_fds))
    return process


def said(err) -> str:
    err.seek(0)
    return err.read()


class Holding(NamedTuple):
    base: str
    arrived: threading.Event  # a request has come
    release: threading.Event  # let the held requests be answered (503)


@pytest.fixture
def holding(tmp_path) -> Iterator[Holding]:
    """A portal that holds every request until released: a crawl process caught in the middle of its crawl."""
    arrived, release = threading.Event(), threading.Event()

    class Handler(PortalHandler):
        def do_GET(self) -> None:
            arrived.set()
            release.wait(30)
            self.send_error(503)

    (tmp_path / "site").mkdir()
    with serve(tmp_path / "site", Handler) as base:
        try:
            yield Holding(base, arrived, release)
        finally:
            release.set()


def test_a_forked_crawl_process_is_the_real_one_with_its_exit_codes_signals_and_parent_socket(tmp_path,
                                                                                                 holding) -> None:
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        bad = started(["--config", str(tmp_path / "missing.toml")], err)
        assert bad.wait(60) == 2
        assert said(err).startswith("error: ")

    arrived, release = holding.arrived, holding.release
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        config = write_config(tmp_path / "held", holding.base)
        killed = started(["--config", config], err)
        assert arrived.wait(60) and killed.poll() is None
        killed.kill()
        assert killed.wait(10) == -signal.SIGKILL

        # Told to watch its parent, it winds down when the parent's end of its socket closes.
        arrived.clear()
        orphaned = started(["--config", config, "--watch-parent"], err)
        assert arrived.wait(60)
        orphaned.stdin.close()
        release.set()
        assert orphaned.wait(60) == 0
        text = said(err)
    assert "the parent process is gone: stopping the crawl" in text and "Traceback" not in text


def test_the_environment_and_the_descriptors_given_reach_the_crawl_and_a_lock_lives_as_long_as_it(tmp_path,
                                                                                                  holding) -> None:
    """The run's lock (policywatch.core.store) is sent to the crawl processes: held while any of them lives."""
    arrived, release = holding.arrived, holding.release
    lock = tmp_path / "run.lock"
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        config = write_config(tmp_path / "held", holding.base)
        held = os.open(lock, os.O_RDWR | os.O_CREAT)
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # The database comes from the environment, as a PostgreSQL URL does.
        process = started(["--config", config], err, env={"POLICYWATCH_DB": str(tmp_path / "elsewhere.db")},
                          pass_fds=[held])
        os.close(held)  # only the crawl process holds it now
        try:
            assert arrived.wait(60)
            probe = os.open(lock, os.O_RDWR)
            with pytest.raises(BlockingIOError):
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            release.set()
        assert process.wait(60) == 0, said(err)
        fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)  # gone with the process
        os.close(probe)
    assert (tmp_path / "elsewhere.db").exists() and not (tmp_path / "held" / "state.db").exists()


def test_a_crawl_process_never_started_ends_at_once_and_crawls_nothing(tmp_path) -> None:
    with tempfile.TemporaryFile("w+", encoding="utf-8") as err:
        process = ForkedCrawl(err.fileno(), err.fileno())
        process.cancel()
        assert process.returncode == 0 and said(err) == ""


def test_a_crawling_process_collects_young_garbage_less_often() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, *before[1:])
        collect_less()
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)
