"""state.db in a hostile place: commands racing on a new file, a damaged file, a read-only or full disk, a crawl
killed mid-run. Every command either works or says what is wrong in one line and exits 1, never with a traceback,
and nothing already stored is lost."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest
import sqlite_utils

from policywatch.core import config as config_module
from policywatch.core.store import Store
from policywatch.core.store.schema import migrations
from policywatch.crawler.pipelines import store_snapshot
from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import crawl_config_text, source_toml
from tests.test_digest import CELL_TOPIC, digest_toml
from tests.test_store import snapshot

RACES = 10
NOBODY = 65534  # the user (and group) id with no files of its own
SKIPPED = "Error: crawl skipped: every source asked for is being crawled by another process\n"


def cli(config: Path, *args: str, user: int | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return forkcli.run(["--config", str(config), *args], cwd=cwd or config.parent, user=user)


def at_once(*commands: list[str]) -> list[tuple[int, str]]:
    """Start the `policywatch` commands together, each its own process, and wait for all: (exit code, stderr) of
    each."""
    started = [forkcli.start(c) for c in commands]
    return [(done.returncode, done.stderr) for done in (c.finish() for c in started)]


def assert_one_line_error(result: subprocess.CompletedProcess | tuple[int, str], *words: str) -> None:
    code, stderr = (result.returncode, result.stderr) if isinstance(result, subprocess.CompletedProcess) else result
    assert "Traceback" not in stderr, stderr
    assert code == 1, stderr
    assert stderr.startswith("Error: ") and stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    for word in words:
        assert word in stderr


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def connect(db: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(db))


def schema_complete(db: Path) -> bool:
    """WAL on and every migration applied."""
    with sqlite_utils.Database(db) as database:
        return database.journal_mode == "wal" and not migrations.pending(database)


def write_mail_config(folder: Path, *sources: str, processes: int | None = 1) -> Path:
    """A config with one digest (subscribers need one) and these sources; state.db beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    path.write_text(crawl_config_text(processes=processes) + CELL_TOPIC + digest_toml("monthly") + "\n".join(sources),
                    encoding="utf-8")
    return path


def fill(db: Path, documents: int = 150) -> None:
    """Real content: documents with their texts, versions, bands and fetches, as crawls store them."""
    rng = random.Random(16)
    with Store(db) as store:
        for n in range(documents):
            text = "干细胞临床研究。" + "".join(chr(0x4E00 + rng.randrange(3000)) for _ in range(600))
            store_snapshot(store, 1, snapshot(text, url=f"http://127.0.0.1:1/zcfg/{n}.html"), "2023-12-12")


# -- races on a new file ------------------------------------------------------------------------------------------


def test_two_inits_at_once_on_a_new_file(tmp_path) -> None:
    config = write_mail_config(tmp_path, source_toml("one", "http://127.0.0.1:9/"))
    for attempt in range(RACES):
        db = tmp_path / f"race-{attempt}" / "state.db"
        results = at_once(*[["init", "--config", str(config), "--db", str(db)]] * 2)
        for code, stderr in results:
            assert code == 0 and "Traceback" not in stderr, (attempt, stderr)
        assert schema_complete(db)


def test_subscribers_add_racing_init_on_a_new_file(tmp_path) -> None:
    config = write_mail_config(tmp_path, source_toml("one", "http://127.0.0.1:9/"))
    for attempt in range(RACES):
        db = tmp_path / f"race-{attempt}" / "state.db"
        results = at_once(["init", "--config", str(config), "--db", str(db)],
                          ["subscribers", "add", "li@example.org", "--digest", "monthly",
                           "--config", str(config), "--db", str(db)])
        for code, stderr in results:
            assert code == 0 and "Traceback" not in stderr, (attempt, stderr)
        with connect(db) as conn:
            assert conn.execute("SELECT email FROM subscribers").fetchall() == [("li@example.org",)]
            assert conn.execute("SELECT name FROM sources").fetchall() == [("one",)]


def test_two_crawls_at_once_on_a_new_file(tmp_path, portal) -> None:
    site = tmp_path / "site"
    for name in ("one", "two"):
        (site / name).mkdir(parents=True)
        (site / name / "index.html").write_text(
            f"<ul><li><a href='1.html'>{name}：关于细胞治疗备案的通知</a></li></ul>", encoding="utf-8")
        (site / name / "1.html").write_text(
            f"<h1>{name}：关于细胞治疗备案的通知</h1><p>发布时间：2023-12-05</p>"
            "<div id='zoom'><p>为规范细胞治疗临床研究，现开展备案工作。</p></div>", encoding="utf-8")
    base = portal(site)
    config = write_mail_config(tmp_path, *(source_toml(n, f"{base}/{n}/index.html") for n in ("one", "two")),
                               processes=1)
    for attempt in range(RACES):
        db = tmp_path / f"race-{attempt}" / "state.db"
        # Each its own source, so both crawl at once; and both all sources, where one may find them taken.
        sources = (("one",), ("two",)) if attempt % 2 else ((), ())
        results = at_once(*[["crawl", *names, "--config", str(config), "--db", str(db)]
                            for names in sources])
        for code, stderr in results:
            assert "Traceback" not in stderr, (attempt, stderr)
            assert code == 0 or (not attempt % 2 and (code, stderr) == (1, SKIPPED)), (attempt, stderr)
        assert any(code == 0 for code, _ in results)
        with connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM documents").fetchone() == (2,)
            statuses = sorted(s for (s,) in conn.execute("SELECT status FROM runs"))
            assert statuses in (["finished", "finished"], ["finished", "skipped"]), statuses
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# -- a damaged file -----------------------------------------------------------------------------------------------


def damaged_copy(source: Path, target: Path, how: str) -> None:
    """``target``: ``source`` with a page in the middle overwritten, cut in half, or not a database at all."""
    target.parent.mkdir(parents=True, exist_ok=True)
    data = bytearray(source.read_bytes())
    if how == "page":
        size = int.from_bytes(data[16:18], "big")
        middle = len(data) // size // 2 * size
        data[middle:middle + size] = bytes(random.Random(9).randrange(256) for _ in range(size))
    elif how == "truncated":
        del data[len(data) // 2:]
    else:
        data = bytearray(b"PolicyWatch state, exported as text\n" * 200)
    target.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    good = tmp_path_factory.mktemp("good") / "state.db"
    fill(good)
    assert not (good.parent / "state.db-wal").exists()  # closed: everything checkpointed into the file
    return good


@pytest.fixture(params=["page", "truncated", "not-a-database"])
def damaged(request, tmp_path, portal, good_db) -> tuple[Path, str]:
    """A config whose state.db is damaged ``how``, with a source on a live portal: (config path, how)."""
    good = good_db
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<ul><li><a href='1.html'>关于细胞治疗备案的通知</a></li></ul>", encoding="utf-8")
    config = write_mail_config(tmp_path / "work", source_toml("one", f"{portal(site)}/index.html"))
    damaged_copy(good, config.parent / "state.db", request.param)
    if request.param != "not-a-database":
        with connect(config.parent / "state.db") as conn:  # the damage is real, as SQLite sees it
            try:
                found = conn.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as e:
                found = str(e)
            assert found != "ok"
    return config, request.param


@pytest.mark.parametrize("args", [
    ["show", "1"], ["changes", "--json"], ["sources", "list"], ["init"],
    ["subscribers", "add", "li@example.org", "--digest", "monthly"],
    ["digest", "build", "--digest", "monthly", "--period", "2023-12"],
])
def test_every_command_on_a_damaged_file_says_so_in_one_line(damaged, args) -> None:
    config, _ = damaged
    before = digest(config.parent / "state.db")
    assert_one_line_error(cli(config, *args), "state.db")
    assert digest(config.parent / "state.db") == before


def test_a_crawl_on_a_damaged_file_fails_without_writing(damaged) -> None:
    config, how = damaged
    before = digest(config.parent / "state.db")
    result = cli(config, "crawl")
    assert_one_line_error(result, "state.db is damaged", "restore it from a backup")
    assert "file is not a database" in result.stderr or how != "not-a-database"
    assert digest(config.parent / "state.db") == before
    assert not (config.parent / "state.db-wal").exists() or not (config.parent / "state.db-wal").stat().st_size


# -- a read-only file ---------------------------------------------------------------------------------------------


@pytest.fixture
def reader():
    """(a folder every user can reach, the user id to run a CLI as who cannot write what the test process made
    there, or None for the test process's own). Root writes through any permission bits, so as root the commands
    run as nobody (65534)."""
    folder = Path(tempfile.mkdtemp(prefix="policywatch-ro-"))
    folder.chmod(0o755)
    user = NOBODY if os.geteuid() == 0 else None
    try:
        yield folder, user
    finally:
        for path in [folder, *folder.rglob("*")]:
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(folder)


def read_only_setup(folder: Path, folder_writable: bool) -> tuple[Path, str]:
    """A config and a state.db with one document, the file read-only, its folder too unless ``folder_writable``."""
    config = write_mail_config(folder / "work", source_toml("one", "http://127.0.0.1:9/"))
    db = config.parent / "state.db"
    with Store(db) as store:
        text = "关于开展干细胞临床研究备案的通知。支持开展干细胞和免疫细胞临床研究。"
        store_snapshot(store, 1, snapshot(text), "2023-12-12")
        store.add_subscribers([_subscriber(config)])
    db.chmod(0o444)
    config.parent.chmod(0o1777 if folder_writable else 0o555)
    return config, digest(db)


def _subscriber(config: Path):
    from policywatch.deliver.subscribers import new_subscriber

    return new_subscriber(config_module.load(config), "li@example.org", ("monthly",), None, (), (), None)


@pytest.mark.parametrize("folder_writable", [False, True], ids=["read-only-folder", "writable-folder"])
def test_a_read_only_file_reads_and_refuses_writes_in_one_line(reader, folder_writable) -> None:
    folder, user = reader
    config, before = read_only_setup(folder, folder_writable)

    show = cli(config, "show", "1", "--json", user=user)
    assert show.returncode == 0, show.stderr
    assert '"title": "关于开展干细胞临床研究备案的通知"' in show.stdout
    for args in (["changes", "--json"], ["history", "1"], ["sources", "list", "--json"], ["subscribers", "list"],
                 ["digest", "build", "--digest", "monthly", "--period", "2023-12", "--format", "text"]):
        result = cli(config, *args, user=user)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
    assert "干细胞临床研究" in cli(config, "digest", "build", "--digest", "monthly", "--period", "2023-12",
                                  "--format", "text", user=user).stdout

    for args in (["init"], ["crawl"], ["subscribers", "add", "wang@example.org", "--digest", "monthly"],
                 ["subscribers", "remove", "li@example.org"]):
        assert_one_line_error(cli(config, *args, user=user))
    assert digest(config.parent / "state.db") == before


def test_a_reader_on_an_old_schema_upgrades_it_or_says_to_run_init(reader, tmp_path) -> None:
    folder, user = reader
    config, _ = read_only_setup(folder, folder_writable=False)
    db = config.parent / "state.db"
    for path in (db, db.parent):
        path.chmod(0o755)
    with connect(db) as conn:  # as made by the release before the last migration
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_likeness_v2'")
        conn.commit()
    db.chmod(0o444)
    db.parent.chmod(0o555)

    assert_one_line_error(cli(config, "show", "1", user=user), "run `policywatch init`")

    db.chmod(0o644)
    db.parent.chmod(0o755)
    shown = cli(config, "show", "1")  # where it can be written, reading brings it up to date first
    assert shown.returncode == 0, shown.stderr
    assert schema_complete(db)


# -- a full disk --------------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs (needs mount privileges, which root has)."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_full_disk_fails_in_one_line_and_keeps_what_was_stored(small_disk, tmp_path) -> None:
    config = write_mail_config(small_disk, source_toml("one", "http://127.0.0.1:9/"))
    assert cli(config, "subscribers", "add", "li@example.org", "--digest", "monthly").returncode == 0
    people = tmp_path / "people.csv"
    people.write_text("email,name,digests\n" + "".join(f"p{n}@example.org,某人{n},monthly\n" for n in range(5000)),
                      encoding="utf-8")
    reading = sqlite3.connect(config.parent / "state.db")  # as another command would: its -wal and -shm stay
    reading.execute("SELECT count(*) FROM subscribers").fetchone()
    filler = small_disk / "filler"
    try:
        with filler.open("wb") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    except OSError:
        pass  # the disk is full

    for args in (["subscribers", "import", str(people)], ["subscribers", "add", "wang@example.org", "--digest",
                                                          "monthly"]):
        assert_one_line_error(cli(config, *args), "state.db", "full")

    filler.unlink()
    reading.close()
    listed = cli(config, "subscribers", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [row["email"] for row in json.loads(listed.stdout)] == ["li@example.org"]
    with connect(config.parent / "state.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


# -- a killed crawl -----------------------------------------------------------------------------------------------


def run_statuses(db: Path) -> dict[str, str]:
    """Each run's status, by the one source it crawled (an empty map until the table exists)."""
    try:
        with connect(db) as conn:
            rows = conn.execute("SELECT sources, status FROM runs").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {sources.strip('[]"'): status for sources, status in rows}


def test_a_killed_crawl_is_marked_interrupted_by_the_next_and_a_live_one_is_not(tmp_path, portal, write_config,
                                                                               run_crawl) -> None:
    gate = threading.Event()

    class Gated(PortalHandler):
        """The held/ list pages wait until the test opens the gate: those crawls are surely under way until then."""

        def do_GET(self) -> None:
            if self.path.startswith("/held/"):
                gate.wait(60)
            super().do_GET()

    site = tmp_path / "site"
    (site / "held").mkdir(parents=True)
    for name in ("killed", "alive", "next"):
        (site / "held" / f"{name}.html").write_text("<ul></ul>", encoding="utf-8")
    (site / "next.html").write_text("<ul></ul>", encoding="utf-8")
    base = portal(site, Gated)
    config = write_config(source_toml("killed", f"{base}/held/killed.html"),
                          source_toml("alive", f"{base}/held/alive.html"), source_toml("next", f"{base}/next.html"))
    crawls = {name: subprocess.Popen([sys.executable, "-m", "policywatch.crawler.run", "--config", str(config.path),
                                      name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for name in ("killed", "alive")}
    try:
        deadline = time.monotonic() + 60
        while run_statuses(config.db) != {"killed": "running", "alive": "running"} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run_statuses(config.db) == {"killed": "running", "alive": "running"}
        os.kill(crawls["killed"].pid, signal.SIGKILL)
        assert crawls["killed"].wait() == -signal.SIGKILL

        run_crawl(config, "next")

        assert run_statuses(config.db) == {"killed": "interrupted", "alive": "running", "next": "finished"}
        gate.set()
        assert crawls["alive"].wait(timeout=60) == 0
        assert run_statuses(config.db)["alive"] == "finished"
    finally:
        gate.set()
        for process in crawls.values():
            if process.poll() is None:
                process.kill()
                process.wait()
