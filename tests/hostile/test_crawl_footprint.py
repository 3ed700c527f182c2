"""A crawl process reads hostile pages, so it must offer nothing to whoever else is on the machine: no port that
takes commands (Scrapy's telnet console, or its remote control, which runs Python code sent to it and is on by
default in recent Scrapy), and no file in the user's home naming one."""

from __future__ import annotations

import os
import threading

import pytest

from policywatch.portal import PortalHandler
from tests.conftest import source_toml, write_notice_site
from tests.processes import children, listening_ports


@pytest.mark.parametrize("started", ["forked", pytest.param("new interpreter", marks=pytest.mark.exec_crawls)])
def test_a_crawl_process_listens_on_no_port_and_leaves_nothing_in_home(started, tmp_path, portal, write_config,
                                                                       run_crawl, monkeypatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    seen: dict[int, list[int]] = {}
    crawling = threading.Event()

    class Watching(PortalHandler):
        """Before answering the detail page, notes the ports every crawl process of this test (a new child of the test
        process, which listens on this portal's port: a forked child must not hold it) listens on."""

        def do_GET(self) -> None:
            if self.path == "/1.html":
                for pid in set(children(os.getpid())) - before:
                    seen[pid] = listening_ports(pid)
                crawling.set()
            super().do_GET()

    site = tmp_path / "site"
    write_notice_site(site)
    config = write_config(source_toml("one", f"{portal(site, Watching)}/index.html"))
    before = set(children(os.getpid()))
    result = run_crawl(config)

    assert crawling.is_set() and [row["new_documents"] for row in result.summary] == [1]
    assert seen and all(ports == [] for ports in seen.values()), seen  # the control: the crawl process was seen
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []

