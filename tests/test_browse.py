"""`policywatch browse`: Datasette serves the demo's state.db with the shipped metadata, and every canned
query runs and returns rows."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import yaml

from policywatch.browse import METADATA
from tests.conftest import POLICYWATCH

QUERIES = yaml.safe_load(METADATA.read_text(encoding="utf-8"))["databases"]["state"]["queries"]


@pytest.fixture(scope="module")
def browsing(demo_run):
    """The demo's state.db, served by `policywatch browse` on a free loopback port; yields (base URL, db)."""
    _, workdir = demo_run
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([*POLICYWATCH, "--config", str(workdir / "config.toml"), "browse", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/-/versions.json", timeout=2).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"policywatch browse did not come up: {server.stderr.read()[-1000:]}")
            time.sleep(0.2)
    yield base, workdir / "state.db"
    server.terminate()
    server.wait(timeout=30)


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
    done = subprocess.run([*POLICYWATCH, "--config", str(tmp_path / "config.toml"), "browse"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"Error: no state.db at {tmp_path / 'nowhere.db'}: run `policywatch crawl` first"]
    assert not (tmp_path / "nowhere.db").exists()
