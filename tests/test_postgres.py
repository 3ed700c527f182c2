"""db = "postgresql://…": every command through the real CLI against a real PostgreSQL server, and the one-line
errors of a malformed URL or a server that cannot be reached (never showing the password)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import psycopg

from policywatch.core.store.schema import migrations
from tests import forkcli
from tests.conftest import source_toml
from tests.mailserver import free_port
from tests.pgserver import PASSWORD


def policywatch(*args: str) -> subprocess.CompletedProcess[str]:
    return forkcli.run(args, timeout=300)


def test_crawl_list_and_digest_with_a_postgresql_db(tmp_path, portal, write_config, pg_url) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<ul><li><a href='/1.html'>关于开展细胞治疗备案的通知</a></li></ul>",
                                     encoding="utf-8")
    (site / "1.html").write_text("<h1>关于开展细胞治疗备案的通知</h1><p>发布时间：2023-12-05</p>"
                                 "<div id='zoom'><p>为规范细胞治疗临床研究，现开展备案工作。</p></div>",
                                 encoding="utf-8")
    config = write_config(source_toml("cli", f"{portal(site)}/index.html"))

    crawl = policywatch("crawl", "--config", str(config.path), "--db", pg_url)
    listed = policywatch("--config", str(config.path), "--db", pg_url, "sources", "list", "--json")
    shown = policywatch("show", "1", "--config", str(config.path), "--db", pg_url)

    assert crawl.returncode == 0, crawl.stderr
    assert PASSWORD not in crawl.stdout + crawl.stderr
    [source] = json.loads(listed.stdout)
    assert (source["name"], source["documents"]) == ("cli", 1) and source["last_crawl"]
    assert "为规范细胞治疗临床研究" in shown.stdout
    assert not (tmp_path / "state.db").exists()  # nothing went to SQLite; logs and locks went to state/
    assert (tmp_path / "state" / "logs" / "crawl.log").exists()


def test_a_malformed_postgresql_url_is_one_line_without_its_password(tmp_path) -> None:
    config = tmp_path / "config.toml"
    for url, problem in (("postgresql://pw:hunter2@db.example:notaport/policy", "Port could not be cast"),
                         ("postgresql://pw:hunter2@db.example:5432/", "names one database"),
                         ("mysql://pw:hunter2@db.example/policy", "unsupported database 'mysql'")):
        config.write_text(f'db = "{url}"\n', encoding="utf-8")
        result = policywatch("sources", "list", "--config", str(config))
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and problem in result.stderr, result.stderr
        assert "hunter2" not in result.stderr and "pw:***@db.example" in result.stderr


def test_an_unreachable_postgresql_server_is_one_line(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("", encoding="utf-8")
    port = free_port()
    result = policywatch("changes", "--config", str(config), "--db", f"postgresql://pw:hunter2@127.0.0.1:{port}/policy")
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot reach PostgreSQL at 127.0.0.1:{port}/policy: ")
    assert result.stderr.count("\n") == 1 and "hunter2" not in result.stderr


def test_browse_says_it_reads_sqlite_only(tmp_path, pg_url) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'db = "{pg_url}"\n', encoding="utf-8")
    result = policywatch("browse", "--config", str(config))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "is PostgreSQL" in result.stderr and PASSWORD not in result.stderr


def test_the_scheduler_keeps_its_jobs_in_postgresql(tmp_path, write_config, pg_url) -> None:
    from policywatch.core import config as config_module
    from policywatch.scheduler.service import build_scheduler, sync_jobs, wanted_jobs

    write_config(source_toml("one", "http://127.0.0.1:9/"))
    config = config_module.load(tmp_path / "config.toml", pg_url)
    for _ in range(2):  # the second start finds the job the first stored
        scheduler = build_scheduler(config)
        scheduler.start(paused=True)
        sync_jobs(scheduler, wanted_jobs(config), datetime.now(config.zone))
        assert [job.id for job in scheduler.get_jobs()] == ["crawl:one"]
        scheduler.shutdown(wait=False)
    with psycopg.connect(pg_url) as conn:  # the stored jobs do not carry the URL (and its password)
        [(state,)] = conn.execute("SELECT job_state FROM scheduler_jobs").fetchall()
    assert b"postgresql" not in bytes(state) and PASSWORD.encode() not in bytes(state)


def test_commands_started_together_on_an_empty_database_migrate_it_once(pg_url, open_store) -> None:
    """The first to take the advisory lock creates the tables; the others wait, then find them there."""
    opener = "import sys; from policywatch.core.store import Store; Store(sys.argv[1]).close()"
    processes = [subprocess.Popen([sys.executable, "-c", opener, pg_url], stderr=subprocess.PIPE, text=True)
                 for _ in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    assert [p.returncode for p in processes] == [0] * 4, errors
    store = open_store(pg_url)
    names = [row[0] for row in store.db.execute("SELECT name FROM policywatch_migrations ORDER BY name").fetchall()]
    assert names == sorted(m.name for m in migrations._migrations)
