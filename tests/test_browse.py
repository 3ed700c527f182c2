"""`policywatch browse`: Datasette serves the demo's state.db with the shipped metadata, and every canned
query runs and returns rows; stopping browse, however, stops Datasette."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import suppress
from pathlib import Path

import pytest
import yaml

from policywatch.browse import METADATA
from policywatch.core.store import Store
from tests import forkcli
from tests.conftest import POLICYWATCH
from tests.processes import children, kill_all, wait_gone

QUERIES = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["state"]["queries"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_browse(config: Path, port: int) -> subprocess.Popen:
    """`policywatch browse` on ``port`` (in a session of its own), returned once Datasette answers there."""
    server = subprocess.Popen([*POLICYWATCH, "--config", str(config), "browse", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json", timeout=2).close()
            return server
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                stop_group(server)
                pytest.fail(f"policywatch browse did not come up: {server.stderr.read()[-1000:]}")
            time.sleep(0.2)


def stop_group(server: subprocess.Popen) -> None:
    """Stop `policywatch browse` as an operator would (SIGTERM), then SIGKILL whatever of its session is left."""
    server.terminate()
    server.wait(timeout=30)
    with suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.stderr.close()


@pytest.fixture(scope="module")
def browsing(demo_run):
    """The demo's state.db, served by `policywatch browse` on a free loopback port; yields (base URL, db)."""
    _, workdir = demo_run
    port = free_port()
    server = start_browse(workdir / "config.toml", port)
    yield f"http://127.0.0.1:{port}", workdir / "state.db"
    stop_group(server)


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read().decode("utf-8"))


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_every_canned_query_returns_rows(browsing, name):
    base, db = browsing
    params = {"_shape": "array"}
    if ":url" in QUERIES[name]["sql"]:
        with sqlite3.connect(db) as conn:  # a document the demo changed, so it has history
            params["url"] = conn.execute("SELECT d.url FROM documents d JOIN changes c ON c.document_id = d.id "
                                         "WHERE c.kind = 'changed' ORDER BY d.id LIMIT 1").fetchone()[0]
    rows = get(f"{base}/state/{name}.json?{urllib.parse.urlencode(params)}")
    assert rows, name
    if name == "history_of_url":
        assert [r["what"] for r in rows].count("version") >= 2 and "changed" in [r["what"] for r in rows]
    if name == "sources_with_errors":
        assert "sh-sti" in [r["name"] for r in rows]  # the demo removes one of its pages: an HTTP 404


def test_tables_are_described(browsing):
    base, _ = browsing
    metadata = get(f"{base}/-/metadata.json")
    tables = metadata["databases"]["state"]["tables"]
    assert tables["changes"]["description"].startswith("What each crawl found")
    assert metadata["title"] == "PolicyWatch change history"


def test_browsing_a_missing_database_is_one_line(tmp_path):
    (tmp_path / "config.toml").write_text('db = "nowhere.db"\n', encoding="utf-8")
    done = forkcli.run(["--config", str(tmp_path / "config.toml"), "browse"], timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: no state.db at {tmp_path / 'nowhere.db'}: run `policywatch crawl` first"]
    assert not (tmp_path / "nowhere.db").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGKILL],
                         ids=["SIGTERM", "SIGINT", "SIGHUP", "SIGKILL"])
def test_stopping_browse_stops_datasette(tmp_path, stop):
    Store(tmp_path / "state.db").close()
    (tmp_path / "config.toml").write_text('db = "state.db"\n', encoding="utf-8")
    port = free_port()
    server = start_browse(tmp_path / "config.toml", port)
    datasette = [pid for pid in children(server.pid)
                 if b"datasette" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    try:
        assert len(datasette) == 1
        os.kill(server.pid, stop)
        server.wait(timeout=60)

        assert wait_gone(datasette) == [], "Datasette outlived `policywatch browse`"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        if stop != signal.SIGKILL:
            assert server.returncode == 0
    finally:
        kill_all(datasette)
        stop_group(server)
