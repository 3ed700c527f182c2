"""state.db: content-addressed versions, fetch log, schema owned by one module; the tests that take ``db_target``
run on SQLite and on PostgreSQL, the others are about the SQLite file itself."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import zlib

import pytest

from policywatch.core.minhash import likeness
from policywatch.core.model import Fetch, Snapshot
from policywatch.core.store import CHECK_EVERY, Store, StoreError
from policywatch.crawler.pipelines import store_fetch, store_snapshot

URL = "http://127.0.0.1:1/zcfg/1.html"


def snapshot(text: str, title: str = "关于开展干细胞临床研究备案的通知", url: str = URL) -> Snapshot:
    fetch = Fetch(source="nhc", url=url, kind="detail", fetched_at="2023-12-05T01:00:00+00:00",
                  status=200, bytes=len(text.encode()), etag='"abc"')
    return Snapshot(fetch=fetch, canonical_url=url, title=title, text=text,
                    published="2023-12-05", authority="国家卫生健康委员会")


def test_same_text_is_one_version_and_stored_once(db_target, open_store) -> None:
    store = open_store(db_target)
    first, _ = store_snapshot(store, 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")
    # Only noise differs: full-width punctuation, spacing, a view counter line.
    again, _ = store_snapshot(store, 2, snapshot("支持开展 干细胞临床研究.\n浏览次数：42"), "2023-12-19")
    other_doc, _ = store_snapshot(store, 2, snapshot("支持开展干细胞临床研究。", url=URL + "?x"), "2023-12-19")

    assert (first.new_document, first.new_version) == (True, True)
    assert (again.new_document, again.new_version) == (False, False)
    assert other_doc.new_document and store.count("texts") == 1
    assert store.count("versions") == 2 and store.count("fetches") == 3
    body = store.db.execute("SELECT body FROM texts").fetchone()[0]
    assert zlib.decompress(body).decode() == "支持开展干细胞临床研究。"


def test_text_or_metadata_change_is_a_new_version(db_target, open_store) -> None:
    store = open_store(db_target)
    store_snapshot(store, 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")
    changed_text, _ = store_snapshot(store, 2, snapshot("支持开展干细胞和免疫细胞临床研究。"), "x")
    changed_title, _ = store_snapshot(store, 3, snapshot("支持开展干细胞和免疫细胞临床研究。", title="新标题"), "x")

    assert changed_text.new_version and changed_title.new_version
    doc = store.document(URL)
    assert doc["versions"] == 3 and doc["title"] == "新标题"
    assert doc["text"] == "支持开展干细胞和免疫细胞临床研究。"
    assert store.document(str(doc["id"]))["url"] == URL


def test_fetch_log_and_due_rechecks(db_target, open_store) -> None:
    store = open_store(db_target)
    store_snapshot(store, 1, snapshot("正文内容足够长。"), next_check="2023-12-12T00:00:00+00:00")
    [ref] = store.document_refs("nhc", now="2023-12-06T00:00:00+00:00")
    assert (ref.due, ref.etag) == (False, '"abc"')
    assert store.document_refs("nhc", now="2023-12-13T00:00:00+00:00")[0].due
    assert store.document_refs("nhc", now="2023-12-06T00:00:00+00:00", recheck_all=True)[0].due

    not_modified = Fetch("nhc", URL, "detail", "2023-12-13T00:00:00+00:00", status=304)
    store_fetch(store, 2, not_modified, next_check="2023-12-20T00:00:00+00:00")
    store_fetch(store, 2, Fetch("nhc", URL + "/gone", "detail", "2023-12-13T00:00:00+00:00",
                                status=404, error="HTTP 404"))
    assert not store.document_refs("nhc", now="2023-12-14T00:00:00+00:00")[0].due
    assert store.run_summary(2) == [{"source": "nhc", "pages": 2, "new_documents": 0,
                                     "new_versions": 0, "errors": 1}]
    if not store.postgres:
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_stored_signatures_are_recomputed_by_the_upgrade(tmp_path, open_store) -> None:
    """m008: signatures hashed the old way would never match new ones, so the upgrade recomputes them."""
    path = tmp_path / "state.db"
    store = open_store(path)
    text = "根据干细胞临床研究管理办法，本批项目予以备案，请各单位按期完成研究任务。" * 5
    store_snapshot(store, 1, snapshot(text), "2023-12-12")
    store.db.execute("UPDATE documents SET likeness = zeroblob(256), shingles = 1")
    store.db.execute("DELETE FROM doc_bands")
    store.db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_likeness_v2'")
    store.db.conn.commit()
    store.close()

    upgraded = open_store(path)
    mine = likeness("关于开展干细胞临床研究备案的通知", text)
    assert upgraded.db.execute("SELECT likeness, shingles FROM documents").fetchone() == (mine.signature, mine.size)
    assert upgraded.db.execute("SELECT band, bucket FROM doc_bands ORDER BY band").fetchall() == list(
        enumerate(mine.bands))
    # The same document fetched again is one group with itself, not a stranger.
    assert upgraded.duplicate_candidates(mine, URL + "?again")[0].signature == mine.signature


def test_a_write_waits_for_another_writer_to_commit(tmp_path, open_store) -> None:
    """Parallel crawl processes take turns at the write lock instead of failing with "database is locked"."""
    store = open_store(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO runs (started_at, status) VALUES ('2024-01-01T00:00:00+00:00', 'other')")
    threading.Timer(0.5, other.execute, ["COMMIT"]).start()

    run = store.start_run(["nhc"])  # blocks until the other connection commits

    assert [r["status"] for r in store.db["runs"].rows] == ["other", "running"]
    assert run == 2
    other.close()


def damage_a_page_of(path, table: str) -> None:
    """Overwrite the root page of one table with garbage, as a faulty disk or a bad copy would."""
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", [table]).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with open(path, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xa5" * size)


def test_integrity_is_checked_when_the_file_changed_and_once_a_day(tmp_path) -> None:
    """quick_check reads the whole file, so it runs only when something other than PolicyWatch changed it (or a
    day went by): a page damaged while the file keeps its size, time and inode goes unseen until then."""
    path = tmp_path / "state.db"
    with Store(path) as store:
        store_snapshot(store, 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")
    stat = path.stat()
    damage_a_page_of(path, "texts")

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # as PolicyWatch left it, to look at
    Store(path).close()  # not checked: opening reads no page of texts
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # changed by someone else
    with pytest.raises(StoreError, match=r"state\.db is damaged \(.+\): restore it from a backup$"):
        Store(path)

    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    checked = path.with_name("state.db.checked")
    record = json.loads(checked.read_text())
    checked.write_text(json.dumps(record | {"checked": time.time() - CHECK_EVERY - 1}))
    with pytest.raises(StoreError, match="damaged"):
        Store(path, read_only=True)


def test_read_only_store_reads_and_refuses_writes(tmp_path, open_store) -> None:
    path = tmp_path / "state.db"
    with pytest.raises(StoreError, match=r"does not exist yet: run `policywatch crawl` first$"):
        Store(path, read_only=True)
    assert not path.exists()
    store_snapshot(open_store(path), 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")

    reader = Store(path, read_only=True)
    try:
        assert reader.document(URL)["text"] == "支持开展干细胞临床研究。"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader.start_run(["nhc"])
    finally:
        reader.close()


def test_runs_left_running_by_dead_processes_become_interrupted(db_target, open_store) -> None:
    path = db_target
    store = open_store(path)
    with store.transaction():  # as killed crawls of an earlier release left them: no owner to ask
        store.db.conn.executemany("INSERT INTO runs (started_at, status) VALUES ('2024-01-01T00:00:00+00:00', ?)",
                                  [("running",), ("running",), ("finished",)])

    mine = store.start_run(["nhc"])
    again = open_store(path).start_run(["sh"])  # a second run of this process: the first is still alive

    assert [r["status"] for r in store.db["runs"].rows] == ["interrupted", "interrupted", "finished", "running",
                                                           "running"]
    store.finish_run(mine)
    store.finish_run(again)
    assert store.mark_interrupted_runs() == []
    assert [r["status"] for r in store.db["runs"].rows][-2:] == ["finished", "finished"]


OWNER = """
import subprocess, sys, os
from policywatch.core.store import Store
store = Store(sys.argv[1])
run = store.start_run(["nhc"])
subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], pass_fds=[store.run_lock(run)])
print(run, flush=True)
os._exit(0)  # the owner dies without finishing its run; the process it handed the run's lock to lives on
"""


def test_a_run_lives_while_a_process_given_its_lock_does(tmp_path, open_store) -> None:
    """`policywatch crawl` killed while its crawl processes go on: the run is theirs until they end."""
    path = tmp_path / "state.db"
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
    run = int(owner.stdout.readline())
    assert owner.wait(timeout=60) == 0
    store = open_store(path)

    assert store.mark_interrupted_runs() == []

    owner.stdin.close()  # the crawl process reads to the end of its input, and ends
    deadline = time.monotonic() + 30
    while not (marked := store.mark_interrupted_runs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked == [run]
    assert store.db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]


OWNER_ALIVE = """
import sys
from policywatch.core.store import Store
store = Store(sys.argv[1])
run = store.start_run(["nhc"])
store.close()
print(run, flush=True)
sys.stdin.read()
"""


def test_a_postgresql_run_lives_while_the_process_that_started_it_does(pg_url, open_store) -> None:
    """On PostgreSQL a run's lock is its starter's session: any process, on any machine, sees whether it lives."""
    owner = subprocess.Popen([sys.executable, "-c", OWNER_ALIVE, pg_url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    run = int(owner.stdout.readline())
    store = open_store(pg_url)

    assert store.mark_interrupted_runs() == []

    owner.stdin.close()
    assert owner.wait(timeout=60) == 0
    deadline = time.monotonic() + 30
    while not (marked := store.mark_interrupted_runs()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marked == [run]
    assert store.db.execute("SELECT status FROM runs").fetchall() == [("interrupted",)]


def test_a_read_only_postgresql_store_reads_and_refuses_writes(pg_url, open_store) -> None:
    import psycopg

    store_snapshot(open_store(pg_url), 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")
    reader = open_store.read_only(pg_url)
    assert reader.document(URL)["text"] == "支持开展干细胞临床研究。"
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.start_run(["nhc"])


def test_a_new_postgresql_database_has_the_tables_of_a_new_state_db(tmp_path, pg_url, open_store) -> None:
    """The same migrations make the same tables and columns, whichever database runs them."""
    sqlite_store, pg_store = open_store(tmp_path / "state.db"), open_store(pg_url)
    sqlite_columns = {(table, column) for table, column in sqlite_store.db.execute(
        "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' "
        "AND m.name NOT LIKE 'sqlite_%' AND m.name != '_sqlite_migrations'").fetchall()}
    pg_columns = set(pg_store.db.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name != 'policywatch_migrations'").fetchall())
    assert pg_columns == sqlite_columns


def test_damage_met_while_writing_is_checked_at_the_next_open(tmp_path) -> None:
    """A crawl that meets a damaged page mid-run does not vouch for the file: its next open checks it, and refuses."""
    path = tmp_path / "state.db"
    with Store(path) as store:
        store_snapshot(store, 1, snapshot("支持开展干细胞临床研究。"), "2023-12-12")
    store = Store(path)
    stat = path.stat()
    damage_a_page_of(path, "texts")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # looks untouched: only the failed write tells

    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        store_snapshot(store, 2, snapshot("支持开展干细胞和免疫细胞临床研究。", url=URL + "?2"), "2023-12-12")
    store.close()

    with pytest.raises(StoreError, match="damaged"):
        Store(path)
