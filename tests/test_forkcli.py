"""tests/forkcli.py, the harness most CLI tests run commands with: a forked command must behave as a new process
would, and leave nothing of itself in the test process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from policywatch.portal import PortalHandler, serve
from tests import forkcli
from tests.conftest import crawl_config_text, source_toml


def write_config(folder, base: str = "http://127.0.0.1:9") -> str:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(crawl_config_text() + source_toml("here", f"{base}/index.html"), encoding="utf-8")
    return str(path)


def test_a_command_runs_with_its_own_environment_and_folder_and_leaves_the_test_process_alone(tmp_path) -> None:
    config = write_config(tmp_path / "named")
    write_config(tmp_path / "cwd")
    modules = {name: id(module) for name, module in sys.modules.items() if name.startswith("policywatch")}
    before = (dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))

    by_env = forkcli.run(["sources", "list", "--json"], env={"POLICYWATCH_CONFIG": config})
    by_cwd = forkcli.run(["sources", "list", "--json"], cwd=tmp_path / "cwd")
    missing = forkcli.run(["sources", "list"], cwd=tmp_path)

    assert [s["name"] for s in json.loads(by_env.stdout)] == ["here"], by_env.stderr
    assert [s["name"] for s in json.loads(by_cwd.stdout)] == ["here"], by_cwd.stderr
    assert missing.returncode == 1 and missing.stderr.startswith("Error: ") and missing.stderr.count("\n") == 1
    after = (dict(os.environ), os.getcwd(), signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))
    assert after == before
    assert {name: id(module) for name, module in sys.modules.items() if name.startswith("policywatch")} == modules


def test_a_usage_error_exits_2_and_a_hung_command_is_killed_at_its_timeout(tmp_path) -> None:
    usage = forkcli.run(["crawl", "--no-such-option"])
    assert usage.returncode == 2 and "No such option" in usage.stderr

    held = threading.Event()

    class Hanging(PortalHandler):
        def do_GET(self) -> None:
            held.wait(30)

    (tmp_path / "site").mkdir()
    with serve(tmp_path / "site", Hanging) as base:
        config = write_config(tmp_path / "hang", base)
        started = time.monotonic()
        try:
            with pytest.raises(subprocess.TimeoutExpired) as raised:
                forkcli.run(["crawl", "--config", config], timeout=3)
        finally:
            held.set()
        assert raised.value.cmd[:2] == ["policywatch", "crawl"] and time.monotonic() - started < 20
