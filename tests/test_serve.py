"""`policywatch serve` for real: a subprocess running APScheduler with second-level cron schedules, crawling a
loopback portal in real time; stopped with SIGTERM and started again."""

from __future__ import annotations

import itertools
import pickle
import re
import signal
import sqlite3
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from policywatch.core import config as config_module
from policywatch.digest.period import period_of
from policywatch.portal import PortalHandler
from policywatch.scheduler.service import build_scheduler, sync_jobs, wanted_jobs
from tests.conftest import POLICYWATCH, crawl_config_text, source_toml
from tests.mailserver import Mailbox, MailServer
from tests.test_delivery import SECRET, smtp_toml
from tests.test_digest import CELL_TOPIC, digest_toml, with_digests, write_site
from tests.test_health import PAGES

SHANGHAI = ZoneInfo("Asia/Shanghai")


class SlowListPortal(PortalHandler):
    """The list page takes two seconds: longer than the one-second schedule, so runs would overlap."""

    def do_GET(self) -> None:
        if self.path == "/index.html":
            time.sleep(2)
        super().do_GET()


class Service:
    """One `policywatch serve` process, its log, and its state.db. The tests' configs say `processes = 1`: one
    warm crawl worker is all a service of one source needs, and the service starts sooner than with one per CPU."""

    def __init__(self, config) -> None:
        self.config = config
        self.log = Path(config.path).parent / "serve-stderr.log"
        self.process: subprocess.Popen | None = None

    def start(self, cwd: Path | None = None) -> Service:
        self.log.write_text("", encoding="utf-8")
        with self.log.open("w", encoding="utf-8") as log:
            self.process = subprocess.Popen([*POLICYWATCH, "serve", "--config", str(self.config.path)],
                                            stdout=log, stderr=log, cwd=cwd)
        self.wait(lambda: "serving" in self.log.read_text(encoding="utf-8"), "the service to start")
        return self

    def stop(self, timeout: float = 60) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def wait(self, condition, what: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"serve exited while waiting for {what}:\n{self.log.read_text('utf-8')}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log.read_text('utf-8')}")
            time.sleep(0.1)

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.config.db) as db:
            db.execute("PRAGMA busy_timeout = 10000")
            return db.execute(sql).fetchall()

    def job_runs(self, outcome: str | None = None, job: str = "crawl:cell") -> list[tuple]:
        sql = f"SELECT outcome, started_at, finished_at, detail FROM job_runs WHERE job = '{job}' ORDER BY id"
        rows = self.rows(sql) if Path(self.config.db).exists() else []
        return [r for r in rows if outcome is None or r[0] == outcome]


@pytest.mark.slow  # waits out real seconds: crawls fall due while one still runs
def test_crawls_run_on_schedule_never_overlap_and_stop_cleanly_on_sigterm(tmp_path, portal, write_config):
    write_site(tmp_path / "site", PAGES)
    base = portal(tmp_path / "site", SlowListPortal)
    config = write_config(source_toml("cell", f"{base}/index.html", extra='schedule = "* * * * * *"'), processes=1)
    service = Service(config).start()
    service.wait(lambda: service.job_runs("ok") and service.job_runs("skipped"), "a crawl and a skipped run")
    service.wait(lambda: service.rows("SELECT status FROM runs ORDER BY id DESC LIMIT 1") == [("running",)],
                 "the next crawl to be under way")
    assert service.stop() == 0

    runs = service.job_runs()
    crawls = [r for r in runs if r[0] in ("ok", "stopped")]
    assert crawls[-1][0] == "stopped" and all(r[0] == "ok" for r in crawls[:-1])
    for earlier, later in itertools.pairwise(crawls):
        assert later[1] >= earlier[2], "two crawls of one source overlapped"
    assert all("previous run is still going" in r[3] for r in runs if r[0] == "skipped")
    statuses = [s for (s,) in service.rows("SELECT status FROM runs ORDER BY id")]
    assert statuses[-1] == "stopped" and set(statuses[:-1]) == {"finished"}
    assert service.rows("SELECT count(*) FROM source_runs WHERE source = 'cell' AND outcome = 'ok'")[0][0] >= 1
    assert service.rows("PRAGMA integrity_check") == [("ok",)]
    log = service.log.read_text(encoding="utf-8")
    assert "received SIGTERM: stopping" in log and log.rstrip().endswith("stopped")


@pytest.mark.slow  # waits out real seconds: crawls fall due while the service is down
def test_a_restart_after_downtime_runs_the_missed_crawls_once(tmp_path, portal):
    write_site(tmp_path / "site", PAGES)
    base = portal(tmp_path / "site")
    # Due three times, one second apart, while the service is down: a few seconds after this first start, which
    # is stopped again at once. A machine too busy to start and stop it that soon tries again, with the crawls
    # due later by twice the time the start and stop took (each try in a folder of its own).
    lead = 4.0
    for attempt in range(4):
        start = datetime.now(SHANGHAI)
        due = (start + timedelta(seconds=lead)).replace(microsecond=0)
        seconds = ",".join(str((due + timedelta(seconds=s)).second) for s in (0, 1, 2))
        folder = tmp_path / f"try-{attempt}"
        folder.mkdir()
        (folder / "config.toml").write_text(crawl_config_text(processes=1) + source_toml(
            "cell", f"{base}/index.html", extra=f'schedule = "{seconds} * * * * *"'), encoding="utf-8")
        service = Service(config_module.load(folder / "config.toml")).start()
        assert service.stop() == 0
        stopped = datetime.now(SHANGHAI)
        if stopped < due:
            break
        lead = 2 * (stopped - start).total_seconds() + 1
    else:
        pytest.fail(f"serve could not be started and stopped within {lead / 2:.0f} s, four times")
    assert service.job_runs() == []

    time.sleep(max(0.0, (due + timedelta(seconds=4) - datetime.now(SHANGHAI)).total_seconds()))
    service.start()
    service.wait(lambda: service.job_runs("ok"), "the coalesced crawl")
    time.sleep(2)  # room for any further run that should not happen
    assert service.stop() == 0
    log = service.log.read_text(encoding="utf-8")
    assert re.search(r"crawl:cell: missed 3 run\(s\) while stopped; running it once now", log)
    assert [r[0] for r in service.job_runs()] == ["ok"]
    assert service.rows("SELECT count(*) FROM runs")[0][0] == 1


def store_jobs_as_before_the_upgrade(config, due: datetime) -> list[str]:
    """state.db's jobs as a version of PolicyWatch whose modules were top-level packages stored them: each job's
    function named without the "policywatch." prefix, next due at ``due``. Returns the stored function names."""
    scheduler = build_scheduler(config)
    scheduler.start(paused=True)
    sync_jobs(scheduler, wanted_jobs(config), datetime.now(config.zone))
    scheduler.shutdown(wait=False)
    with sqlite3.connect(config.db) as db:
        for job_id, blob in db.execute("SELECT id, job_state FROM scheduler_jobs").fetchall():
            state = pickle.loads(blob)
            state["func"] = state["func"].removeprefix("policywatch.")
            state["next_run_time"] = due
            db.execute("UPDATE scheduler_jobs SET job_state = ?, next_run_time = ? WHERE id = ?",
                       [pickle.dumps(state), due.timestamp(), job_id])
    return stored_functions(config)


def stored_functions(config) -> list[str]:
    with sqlite3.connect(config.db) as db:
        return [pickle.loads(blob)["func"] for (blob,) in db.execute("SELECT job_state FROM scheduler_jobs")]


def test_jobs_stored_before_the_upgrade_keep_their_next_run_time(tmp_path, portal, write_config):
    """The jobs of a state.db written before the modules moved under policywatch name functions by module paths
    that no longer import (without the "policywatch." prefix). Serve renames them in place, so their next run times
    survive and the runs missed across the upgrade are run once, as after any downtime. Serve runs outside the
    source tree, where the old names cannot be imported, as in an installed PolicyWatch."""
    write_site(tmp_path / "site", PAGES)
    config = write_config(source_toml("cell", f"{portal(tmp_path / 'site')}/index.html", extra='schedule = "@hourly"'))
    hour = datetime.now(config.zone).replace(minute=0, second=0, microsecond=0)
    old = store_jobs_as_before_the_upgrade(config, due=hour - timedelta(hours=2))
    assert old == ["scheduler.jobs:crawl_source"]  # rename:keep (the old spelling, on purpose)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    service = Service(config).start(cwd=elsewhere)
    try:
        service.wait(lambda: service.job_runs("ok"), "the coalesced crawl")
    finally:
        assert service.stop() == 0
    log = service.log.read_text(encoding="utf-8")
    assert "crawl:cell: stored before the upgrade; its function is now named under policywatch" in log
    assert re.search(r"crawl:cell: missed 3 run\(s\) while stopped; running it once now", log), log
    assert "Unable to restore job" not in log
    assert stored_functions(config) == ["policywatch.scheduler.jobs:crawl_source"]
    assert [r[0] for r in service.job_runs()] == ["ok"]


@pytest.mark.slow  # waits out real seconds: three periods of a schedule in seconds
def test_each_digest_is_sent_on_its_schedule_once_per_period(tmp_path, portal, write_config, monkeypatch):
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    write_site(tmp_path / "site", PAGES)
    with MailServer(Mailbox()) as server:
        config = write_config(source_toml("cell", f"{portal(tmp_path / 'site')}/index.html",
                                          extra='schedule = "0 0 1 1 *"'), processes=1)
        config = with_digests(config, CELL_TOPIC, digest_toml("monthly", extra='schedule = "* * * * * *"'),
                              smtp_toml(server.port))
        for reader in ("a@example.org", "b@example.org"):
            subprocess.run([*POLICYWATCH, "subscribers", "add", reader, "--digest", "monthly", "--config",
                            str(config.path)], check=True, capture_output=True)
        service = Service(config).start()
        service.wait(lambda: len(service.job_runs("ok", job="digest:monthly")) >= 3, "three digest runs")
        assert service.stop() == 0

    # Due every second, sent once: the send log knows who already has this period's issue.
    assert server.mailbox.received_by() == {"a@example.org": 1, "b@example.org": 1}
    previous = period_of("month", datetime.now(SHANGHAI).date()).previous()
    runs = service.job_runs("ok", job="digest:monthly")
    assert runs[0][3].startswith(f"monthly {previous.key}: 2 sent")
    assert all(f"monthly {previous.key}: 0 sent, 2 already sent" in r[3] for r in runs[1:])
    assert f"{previous.start.month}月份" in server.mailbox.messages[0]["Subject"]
