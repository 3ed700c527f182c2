"""Operations' tables: configured ``sources``, crawl ``runs`` and their per-source ``source_runs``, ``alerts``
about broken sources (and ``alert_posts``, where each was posted), and the scheduler's ``job_runs``.

These are what ``policywatch sources``, the health checks and the scheduler report on; the run locks that tell a
live run from a dead one are the connection layer's (``policywatch.core.store.connection``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policywatch.core.store.rows import Rows, now_iso

if TYPE_CHECKING:
    from collections.abc import Iterable

    from policywatch.core.config import Source


class Operations(Rows):
    """Sources, runs, their health, alerts and scheduled jobs."""

    # -- sources and runs -------------------------------------------------

    def sync_sources(self, sources: Iterable[Source]) -> None:
        """Record the configured sources so the database explains itself."""
        rows = [
            {"name": s.name, "title": s.title, "region": s.region, "authority": s.authority,
             "updated_at": now_iso()}
            for s in sources
        ]
        with self.transaction():
            self.db["sources"].upsert_all(rows, pk="name")

    def start_run(self, sources: Iterable[str]) -> int:
        """Record a crawl run owned by this process (see ``run_lock``); runs whose owners died become 'interrupted'.

        The run's lock is taken before its row is committed, so no other process ever sees it 'running' and
        unowned.
        """
        with self.transaction():
            self._mark_interrupted_runs()
            run_id = self._insert("runs", {"started_at": now_iso(), "sources": json.dumps(list(sources)),
                                           "status": "running"})
            self._hold_run_lock(run_id)
        return run_id

    def finish_run(self, run_id: int, status: str = "finished") -> None:
        """Record how a run ended, and let go of its lock."""
        with self.transaction():
            self.db["runs"].update(run_id, {"finished_at": now_iso(), "status": status})
        self._release_run_lock(run_id)

    def mark_interrupted_runs(self) -> list[int]:
        """Mark the runs left 'running' by processes that are gone (killed, crashed) 'interrupted'; their ids."""
        with self.transaction():
            return self._mark_interrupted_runs()

    def _mark_interrupted_runs(self) -> list[int]:
        """Within a write transaction: a run is alive while its owner holds its lock, whichever process or host
        it is; a run whose lock can be taken has no owner left (its lock file, if any, is removed)."""
        running = [row[0] for row in self.db.execute("SELECT id FROM runs WHERE status = 'running'").fetchall()]
        dead = [run_id for run_id in running if self._run_owner_gone(run_id)]
        if dead:
            self.db.conn.execute(f"UPDATE runs SET status = 'interrupted' WHERE id IN ({', '.join('?' * len(dead))})",
                                 dead)
        return dead

    def run_summary(self, run_id: int) -> list[dict[str, Any]]:
        """Per source: pages fetched, new documents, new versions and errors in one run."""
        sql = """
            SELECT f.source AS source,
                   count(*) AS pages,
                   (SELECT count(*) FROM documents d WHERE d.source = f.source AND d.first_run = :run)
                       AS new_documents,
                   (SELECT count(*) FROM versions v JOIN documents d ON d.id = v.document_id
                     WHERE d.source = f.source AND v.run_id = :run) AS new_versions,
                   count(f.error) AS errors
              FROM fetches f WHERE f.run_id = :run GROUP BY f.source ORDER BY f.source
        """
        return list(self.db.query(sql, {"run": run_id}))

    def run_errors(self, run_id: int) -> list[dict[str, Any]]:
        sql = "SELECT source, url, status, error FROM fetches WHERE run_id = ? AND error IS NOT NULL"
        return list(self.db.query(sql, [run_id]))

    def run_warnings(self, run_id: int) -> list[dict[str, Any]]:
        """Each distinct extraction warning of one run per source (``fetches.warning``, its page's warnings joined):
        how many pages gave it, and the first of them."""
        sql = """
            SELECT source, warning, count(*) AS pages, min(url) AS url FROM fetches
             WHERE run_id = ? AND warning IS NOT NULL GROUP BY source, warning ORDER BY source, warning
        """
        return list(self.db.query(sql, [run_id]))

    def sources_overview(self) -> list[dict[str, Any]]:
        """Each known source with its document count, last crawl, and health (items, error streak, open alert, and
        an extraction warning of its latest run)."""
        sql = """
            SELECT s.name, s.title, s.region, s.authority,
                   (SELECT count(*) FROM documents d WHERE d.source = s.name) AS documents,
                   (SELECT max(fetched_at) FROM fetches f WHERE f.source = s.name) AS last_crawl,
                   (SELECT max(fetched_at) FROM fetches f
                     WHERE f.source = s.name AND f.error IS NULL) AS last_success,
                   (SELECT items FROM source_runs r WHERE r.source = s.name ORDER BY run_id DESC LIMIT 1)
                       AS last_items,
                   (SELECT count(*) FROM source_runs r WHERE r.source = s.name AND r.run_id > coalesce(
                       (SELECT max(run_id) FROM source_runs k
                         WHERE k.source = s.name AND k.outcome = 'ok' AND k.list_errors = 0), 0)) AS error_streak,
                   (SELECT problem FROM alerts a WHERE a.source = s.name AND a.cleared_at IS NULL
                     ORDER BY id DESC LIMIT 1) AS alert,
                   (SELECT warning FROM fetches f WHERE f.source = s.name AND f.warning IS NOT NULL
                       AND f.run_id = (SELECT max(run_id) FROM fetches g WHERE g.source = s.name)
                     ORDER BY f.id DESC LIMIT 1) AS warning
              FROM sources s ORDER BY s.name
        """
        return list(self.db.query(sql))

    # -- source health ----------------------------------------------------------

    def record_source_runs(
        self, run_id: int, sources: Iterable[str], outcome: str, started_at: str, finished_at: str
    ) -> None:
        """Sum up one crawl run per source (items on its list pages, errors, walls) into ``source_runs``."""
        sql = """
            SELECT count(*) FILTER (WHERE kind = 'list') AS list_pages,
                   count(*) FILTER (WHERE kind = 'list' AND error IS NOT NULL) AS list_errors,
                   min(error) FILTER (WHERE kind = 'list') AS list_error,
                   coalesce(sum(items) FILTER (WHERE kind = 'list'), 0) AS items,
                   count(*) AS pages, count(error) AS errors,
                   min(error) FILTER (WHERE error LIKE 'anti-bot wall%') AS wall
              FROM fetches WHERE run_id = ? AND source = ?
        """
        seconds = (datetime.fromisoformat(finished_at) - datetime.fromisoformat(started_at)).total_seconds()
        with self.transaction():
            for source in sources:
                row = dict(next(iter(self.db.query(sql, [run_id, source]))))
                self.db["source_runs"].upsert(
                    {"run_id": run_id, "source": source, "started_at": started_at, "finished_at": finished_at,
                     "seconds": seconds, "outcome": outcome, **row}, pk=("run_id", "source"))

    def source_runs(self, source: str, limit: int = 10) -> list[dict[str, Any]]:
        """A source's latest crawl runs, newest first."""
        sql = "SELECT * FROM source_runs WHERE source = ? ORDER BY run_id DESC LIMIT ?"
        return list(self.db.query(sql, [source, limit]))

    def open_alert(self, source: str) -> dict[str, Any] | None:
        sql = "SELECT * FROM alerts WHERE source = ? AND cleared_at IS NULL ORDER BY id DESC LIMIT 1"
        return next(iter(self.db.query(sql, [source])), None)

    def raise_alert(self, source: str, problem: str) -> None:
        with self.transaction():
            self.db["alerts"].insert({"source": source, "problem": problem, "opened_at": now_iso()})

    def clear_alert(self, alert_id: int) -> None:
        with self.transaction():
            self.db["alerts"].update(alert_id, {"cleared_at": now_iso()})

    def unnotified_alerts(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM alerts WHERE notified_at IS NULL AND cleared_at IS NULL ORDER BY id"))

    def alert_notified(self, alert_ids: Iterable[int]) -> None:
        with self.transaction():
            for alert_id in alert_ids:
                self.db["alerts"].update(alert_id, {"notified_at": now_iso()})

    def unposted_alerts(self, target: str) -> list[dict[str, Any]]:
        """Open alerts not yet posted to the chat URL whose key is ``target`` (policywatch.core.notifyurl.key)."""
        sql = """SELECT * FROM alerts a WHERE a.cleared_at IS NULL AND NOT EXISTS (
                     SELECT 1 FROM alert_posts p WHERE p.alert_id = a.id AND p.target = ? AND p.status = 'sent')
                  ORDER BY a.id"""
        return list(self.db.query(sql, [target]))

    def log_alert_post(self, alert_id: int, target: str, url: str, status: str, error: str | None = None) -> None:
        """Record how posting an alert to one chat URL ended (``url`` shown without its secrets)."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO alert_posts (alert_id, target, url, status, error, updated_at) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (alert_id, target) DO UPDATE SET
                       url = excluded.url, status = excluded.status, error = excluded.error,
                       updated_at = excluded.updated_at""",
                [alert_id, target, url, status, error, now_iso()])

    # -- scheduled jobs -----------------------------------------------------------

    def start_job_run(self, job: str) -> int:
        with self.transaction():
            return int(self.db["job_runs"].insert({"job": job, "started_at": now_iso(), "outcome": "running"}).last_pk)

    def finish_job_run(self, job_run_id: int, outcome: str, detail: str | None = None) -> None:
        with self.transaction():
            self.db["job_runs"].update(job_run_id, {"finished_at": now_iso(), "outcome": outcome, "detail": detail})

    def log_job_event(self, job: str, outcome: str, detail: str | None = None) -> None:
        """A job that did not run (skipped, missed): one row with no duration."""
        with self.transaction():
            now = now_iso()
            self.db["job_runs"].insert({"job": job, "started_at": now, "finished_at": now, "outcome": outcome,
                                        "detail": detail})

    def job_runs(self, job: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM job_runs WHERE :job IS NULL OR job = :job ORDER BY id"
        return list(self.db.query(sql, {"job": job}))
