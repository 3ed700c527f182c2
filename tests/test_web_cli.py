"""`policywatch web` as a user runs it, and its [web] table: one line for every mistake, a clean stop on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from policywatch.core import config as config_module
from policywatch.core.config import ConfigError
from tests import forkcli
from tests.conftest import POLICYWATCH, source_toml
from tests.mailserver import free_port
from tests.processes import listening, wait_until_ready
from tests.test_web import SECRET, TOPICS

BASE = TOPICS + source_toml("sh-sti", "http://127.0.0.1:9/", region="上海市") + """
[smtp]
host = "127.0.0.1"
port = 8025
sender = "PolicyWatch <digest@example.org>"
"""
WEB = '\n[web]\nurl = "https://policy.example.org/watch"\n'


def load(tmp_path: Path, text: str) -> config_module.Config:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return config_module.load(path)


def test_the_web_table_sets_the_unsubscribe_links(tmp_path) -> None:
    config = load(tmp_path, BASE + WEB)
    assert config.web.url == "https://policy.example.org/watch/"
    assert (config.web.confirm_hours, config.web.subscribe_per_address, config.web.subscribe_per_client) == (48, 3, 10)
    assert config.delivery.unsubscribe_url == "https://policy.example.org/watch/unsubscribe?token={token}"
    same = '[delivery]\nunsubscribe_url = "https://policy.example.org/watch/unsubscribe?token={token}"\n'
    assert load(tmp_path, BASE + WEB + same).delivery.unsubscribe_url == config.delivery.unsubscribe_url
    assert load(tmp_path, BASE).web is None and load(tmp_path, BASE).delivery.unsubscribe_url == ""


@pytest.mark.parametrize(("extra", "message"), [
    ('\n[web]\nurl = "policy.example.org"\n',
     "config.toml: web.url: 'policy.example.org' is not an http(s) address like 'https://example.org/policy/'"),
    ('\n[web]\nurl = "https://policy.example.org/?a=1"\n', "config.toml: web.url: 'https://policy.example.org/?a=1' "
     "is not an http(s) address like 'https://example.org/policy/'"),
    ("\n[web]\nconfirm_hours = 48\n", "config.toml: web.url: required key is missing"),
    (WEB + "confirm_hours = 0\n", "config.toml: web.confirm_hours: must be greater than 0"),
    (WEB + "confirm_hours = nan\n", "config.toml: web.confirm_hours: must be a finite number, not nan"),
    (WEB + "subscribe_per_client = 0\n", "config.toml: web.subscribe_per_client: must be at least 1"),
    (WEB + 'subscribe_per_address = "3"\n', "config.toml: web.subscribe_per_address: expected int, got str"),
    (WEB + "port = 8080\n", "config.toml: web.port: unknown key (expected one of: url, confirm_hours, "
     "subscribe_per_address, subscribe_per_client)"),
    (WEB + '[delivery]\nunsubscribe_url = "https://elsewhere.example.org/u?t={token}"\n',
     "config.toml: delivery.unsubscribe_url: is 'https://elsewhere.example.org/u?t={token}', but `policywatch web` "
     "answers unsubscribe links at 'https://policy.example.org/watch/unsubscribe?token={token}' ([web] url): leave "
     "unsubscribe_url out and the links point there"),
])
def test_web_table_mistakes_are_one_line(tmp_path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, BASE + extra)
    assert str(caught.value) == message


def run_web(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return forkcli.run(["web", "--config", str(config), *args], timeout=60, env=env)


@pytest.mark.parametrize(("text", "secret", "message"), [
    (BASE, SECRET, "Error: config.toml: web: no [web] table: the subscription page needs its public address (url)"),
    (BASE.split("[smtp]")[0] + WEB, SECRET, "Error: config.toml: smtp: no [smtp] table: sending mail needs one "
     "(see README)"),
    (BASE + WEB, "", "Error: environment variable POLICYWATCH_SECRET is not set: unsubscribe links are signed with it"),
])
def test_web_refuses_to_start_without_what_it_needs(tmp_path, monkeypatch, text, secret, message) -> None:
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("POLICYWATCH_SECRET", secret)
    done = run_web(tmp_path / "config.toml")
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [message]


def test_a_port_in_use_is_one_line(tmp_path, monkeypatch) -> None:
    (tmp_path / "config.toml").write_text(BASE + WEB, encoding="utf-8")
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_web(tmp_path / "config.toml", "--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_web_builds_the_archive_serves_both_and_stops_on_sigterm(tmp_path, monkeypatch) -> None:
    port = free_port()
    (tmp_path / "config.toml").write_text(f'site = "site"\n{BASE}\n[web]\nurl = "http://127.0.0.1:{port}/"\n',
                                          encoding="utf-8")
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    process = subprocess.Popen([*POLICYWATCH, "web", "--config", str(tmp_path / "config.toml"), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(port, process)
        assert httpx.get(f"http://127.0.0.1:{port}/subscribe").status_code == 200
        index = httpx.get(f"http://127.0.0.1:{port}/")
        assert index.status_code == 200 and "PolicyWatch 政策档案" in index.text
        assert (tmp_path / "site" / "index.html").is_file()
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert f"built the archive site in {tmp_path / 'site'}" in stderr
    assert f"subscription page on http://127.0.0.1:{port}/subscribe, archive site" in stderr


def wait_for(port: int, process: subprocess.Popen) -> None:
    """Until the server accepts connections; it exiting (or a minute passing) fails the test with its stderr."""
    if not wait_until_ready(process, lambda: listening(port), 60):
        pytest.fail(f"policywatch web is not listening: {process.stderr.read() if process.poll() is not None else ''}")
