"""``python -m bench.kill [--rounds 10] [--hosts 6] [--pages 6] [--attachments 2] [--delay 0.25]``: workers killed
with SIGKILL mid-job, and what the store holds afterwards.

A worker acknowledges a job only when it has ended (policywatch.scheduler.worker), so the job of a worker killed
mid-crawl goes back on its queue once its heartbeat is missed, and another worker crawls the source again; the store's
writes must then add nothing twice and lose nothing. This bench checks that on real processes:

1. **A clean run**: ``--hosts`` sources, each on a loopback address of its own (127.0.0.2, …, one nginx), with a list
   page and ``--pages`` detail pages, each page linking ``--attachments`` files (a PDF and a Word file in turn),
   crawled with ``download_delay = --delay`` by ``--workers`` ``policywatch worker`` processes through a fresh
   redis-server into a fresh state.db. What it stores is the reference.
2. **``--rounds`` rounds**, each into a fresh state.db and redis-server: the same crawl, and once every job has been
   taken (none waits on the queue, so what is timed is the redelivery, not the jobs queued before it: Dramatiq puts
   a dead worker's job back at the end of its queue), one worker (the first, the second, … in turn) is killed with
   SIGKILL while its job has stored some of its source's pages and files (from 1 to all but one of them, spread over
   the rounds: some die while pages are stored, others between a page and its files). A replacement worker is
   started at once; ``policywatch crawl`` waits until every job has ended. The job a worker holds is found by the
   source lock it holds (``/proc/locks``).
3. Each round's state.db is compared with the clean run's: the same documents (by URL), each with the same versions
   (text fingerprint, title, date, document number, files listed: one each for a first crawl), the same attachments
   (by URL, with their document, bytes' SHA-256 and text), the same change records (one "new" per document), nothing
   twice, and no run left ``running``.

``[cluster] heartbeat_seconds = 2`` (as in tests/test_workers.py), so a dead worker's job moves within seconds.
"Redelivered" is the time from the kill to the start of the killed source's next run, on whichever worker took it;
"recovered" is the time until that run finished. The results are written to DIR/kill.json; the command exits 1
if a round lost or doubled anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis as redis_client

from bench import workload
from bench.server import static_server
from bench.workers import ENV, POLICYWATCH, ROOT, redis_server, worker

HEARTBEAT = 2.0  # seconds: [cluster] heartbeat_seconds
CRAWL_LIMIT = 600.0  # seconds a round's crawl may take before the bench gives up on it
POLL = 0.02  # seconds between looks at what a worker holds and has stored
KINDS = ("documents", "versions", "attachments", "changes")  # what is compared with the clean run
QUEUE = "policywatch:default"  # the default queue's list of waiting jobs (Dramatiq's Redis layout)


def held_source(pid: int, locks: Path) -> str | None:
    """The source whose crawl lock (``locks/NAME.lock``, an flock) the process ``pid`` holds, if any."""
    held = set()
    with open("/proc/locks", encoding="ascii") as table:
        for line in table:
            fields = line.split()
            if len(fields) >= 6 and fields[1] == "FLOCK" and fields[4] == str(pid):
                held.add(int(fields[5].rsplit(":", 1)[1]))
    for path in locks.glob("*.lock"):
        if not path.name.startswith("state.db"):  # the runs' locks
            try:
                if path.stat().st_ino in held:
                    return path.stem
            except FileNotFoundError:
                continue
    return None


def query(db: Path, sql: str, *args: object) -> list[tuple]:
    """Rows of a read-only query; none while state.db or its tables do not exist yet."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return []
        raise


def stored_pages(db: Path, source: str | None = None) -> int:
    """Documents stored so far, of ``source`` or of all."""
    where = " WHERE source = ?" if source else ""
    rows = query(db, f"SELECT count(*) FROM documents{where}", *([source] if source else []))
    return rows[0][0] if rows else 0


def stored_files(db: Path, source: str) -> int:
    """Attachments of ``source``'s documents stored so far."""
    rows = query(db, "SELECT count(*) FROM attachments a JOIN documents d ON d.id = a.document_id WHERE d.source = ?",
                 source)
    return rows[0][0] if rows else 0


def stored_items(db: Path, source: str) -> int:
    """Pages and files of ``source`` stored so far."""
    return stored_pages(db, source) + stored_files(db, source)


def source_runs(db: Path, source: str) -> list[tuple[int, str]]:
    """(run id, status) of every run of ``source`` alone, oldest first (a worker's job is one source's run)."""
    return query(db, "SELECT id, status FROM runs WHERE sources = ? ORDER BY id", json.dumps([source]))


def contents(db: Path) -> dict[str, Any]:
    """What a crawl stored, in comparable form: documents and their versions by URL, attachments by URL, change
    records, and how many runs ended how."""
    versions = query(db, """SELECT d.url, v.text_hash, v.title, v.published, v.doc_number, v.attachments
                              FROM versions v JOIN documents d ON d.id = v.document_id""")
    files = query(db, """SELECT a.url, d.url, a.sha256, a.text_hash, a.error
                           FROM attachments a LEFT JOIN documents d ON d.id = a.document_id""")
    changes = query(db, """SELECT d.url, c.kind, c.fields, c.attachment_url
                             FROM changes c LEFT JOIN documents d ON d.id = c.document_id""")
    return {
        "documents": Counter(url for (url,) in query(db, "SELECT url FROM documents")),
        "versions": Counter(versions),
        "attachments": Counter(files),
        "changes": Counter(changes),
        "runs": Counter(status for (status,) in query(db, "SELECT status FROM runs")),
    }


def compare(clean: dict[str, Any], got: dict[str, Any]) -> dict[str, Any]:
    """How a round's store differs from the clean run's: what is missing, what is there and should not be, what is
    there twice (a document or an attachment URL stored more than once, a version or a change more than once)."""
    out: dict[str, Any] = {}
    for key in KINDS:
        mine, theirs = got[key], clean[key]
        out[key] = sum(mine.values())
        out[f"{key}_missing"] = sorted(map(str, theirs.keys() - mine.keys()))
        out[f"{key}_extra"] = sorted(map(str, mine.keys() - theirs.keys()))
        out[f"{key}_twice"] = sorted(str(k) for k, n in mine.items() if n > 1)
    # A document may not have two versions when the clean run gave it one: versions counted per document URL.
    per_page = Counter(v[0] for v in got["versions"].elements())
    out["pages_with_extra_versions"] = sorted(u for u, n in per_page.items() if n > 1)
    out["runs"] = dict(got["runs"])
    out["left_running"] = got["runs"].get("running", 0)
    out["ok"] = not (out["left_running"] or out["pages_with_extra_versions"] or any(
        out[f"{k}_{w}"] for k in KINDS for w in ("missing", "extra", "twice")))
    return out


class Recovery(threading.Thread):
    """Watches state.db after a kill: when the killed source's next run starts (redelivered) and ends (recovered),
    in seconds from the kill."""

    def __init__(self, db: Path, source: str, killed_run: int, killed_at: float) -> None:
        super().__init__(daemon=True)
        self.db, self.source, self.killed_run, self.killed_at = db, source, killed_run, killed_at
        self.redelivered: float | None = None
        self.recovered: float | None = None
        self.status: str | None = None
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            later = [(i, s) for i, s in source_runs(self.db, self.source) if i > self.killed_run]
            now = time.monotonic() - self.killed_at
            if later and self.redelivered is None:
                self.redelivered = now
            if later and later[0][1] != "running":
                self.recovered, self.status = now, later[0][1]
                return
            time.sleep(POLL)


def crawl_round(folder: Path, urls: list[str], delay: float, workers: int, pages: int,
                kill: tuple[int, int] | None = None, concurrency: int = workload.CONCURRENCY) -> dict[str, Any]:
    """One crawl of every source through ``workers`` workers into a fresh state.db. ``kill`` = (which worker, items
    of its job stored): once every job has been taken (none waits on the queue), that worker is killed with SIGKILL
    as soon as its job has stored that many of its source's pages and files, and a replacement is started."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "state.db"
    result: dict[str, Any] = {}
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(folder))
        config = workload.write_config(folder.parent, urls[0], concurrency, delay=delay, allow_hosts="127.0.0.0/8",
                                       base_urls=urls,
                                       top=f'[cluster]\nredis = "{redis}"\nheartbeat_seconds = {HEARTBEAT:g}\n')
        config = config.rename(folder / "config.toml")
        processes = [stack.enter_context(worker(config, folder / f"worker-{i + 1}.log")) for i in range(workers)]
        started = time.monotonic()
        out = stack.enter_context((folder / "crawl.out").open("w"))
        err = stack.enter_context((folder / "crawl.err").open("w"))
        crawl = subprocess.Popen([*POLICYWATCH, "--config", str(config), "crawl"], cwd=ROOT, env=ENV, stdout=out,
                                 stderr=err)
        recovery = None
        if kill is not None:
            which, after = kill
            doomed = processes[which]
            source = None
            queue = redis_client.Redis.from_url(redis)
            while True:
                if crawl.poll() is not None or time.monotonic() - started > CRAWL_LIMIT:
                    raise SystemExit(f"the crawl ended before worker {which + 1} could be killed mid-job; see {folder}")
                source = held_source(doomed.pid, folder / "locks")
                if source and queue.llen(QUEUE) == 0 and stored_items(db, source) >= after:
                    break
                time.sleep(POLL)
            queue.close()
            os.kill(doomed.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            doomed.wait()
            running = [i for i, s in source_runs(db, source) if s == "running"]
            result.update(killed_worker=which + 1, source=source, killed_at_pages=stored_pages(db, source),
                          killed_at_files=stored_files(db, source), pages_per_source=pages,
                          killed_after=killed_at - started, all_pages_at_kill=stored_pages(db))
            recovery = Recovery(db, source, running[-1] if running else 0, killed_at)
            recovery.start()
            log = folder / f"worker-{workers + 1}.log"
            stack.enter_context(worker(config, log))  # the replacement, once it takes jobs
            result["replacement_ready"] = time.monotonic() - killed_at
        try:
            crawl.wait(timeout=CRAWL_LIMIT)
        except subprocess.TimeoutExpired:
            crawl.kill()
            raise SystemExit(f"the crawl did not end in {CRAWL_LIMIT:.0f} s; see {folder}") from None
        result["wall"] = time.monotonic() - started
        if recovery is not None:
            recovery.done.set()
            recovery.join()
            result.update(redelivered=recovery.redelivered, recovered=recovery.recovered,
                          recovered_status=recovery.status, source_runs=source_runs(db, result["source"]))
            logs = sorted(folder.glob("worker-*.log"))
            result["heir"] = next((int(re.sub(r"\D", "", p.stem)) for p in logs
                                   if f"crawl:{result['source']}:" in p.read_text()), None)
    result["crawl_exit"] = crawl.returncode
    if crawl.returncode != 0:
        result["crawl_error"] = (folder / "crawl.err").read_text().strip().splitlines()[-1:]
    result["contents"] = contents(db)
    # What the recovery fetched again: pages whose files were not all stored (a 304 each), and files.
    result["pages_fetched_again"] = query(db, "SELECT count(*) FROM fetches WHERE kind = 'detail' AND status = 304"
                                          )[0][0]
    result["file_fetches"] = query(db, "SELECT count(*) FROM fetches WHERE kind = 'attachment'")[0][0]
    return result


def kill_point(n: int, rounds: int, items: int) -> int:
    """Round ``n``'s kill point: items (pages and files) of the job stored, spread from 1 to ``items`` - 1 over the
    rounds, so that some rounds kill while pages are being stored and others while their files are."""
    return 1 + (n - 1) * (items - 2) // max(rounds - 1, 1)


def report_row(n: int, r: dict[str, Any]) -> str:
    c = r["comparison"]
    twice = sum(len(c[f"{k}_twice"]) + len(c[f"{k}_extra"]) for k in KINDS) + len(c["pages_with_extra_versions"])
    missing = sum(len(c[f"{k}_missing"]) for k in KINDS)
    redelivered, recovered = (float("nan") if r[k] is None else r[k] for k in ("redelivered", "recovered"))
    return (f"{n:>5} {r['killed_worker']:>6} {r['source']:>7} {r['killed_at_pages']:>3}/{r['pages_per_source']}"
            f" +{r['killed_at_files']:<3} {redelivered:>11.1f} {recovered:>9.1f}"
            f" {c['documents']:>9} {c['versions']:>8} {c['attachments']:>11} {c['changes']:>7} {missing:>7} {twice:>5}"
            f" {c['left_running']:>7}  {'ok' if c['ok'] else 'LOSS/DUPLICATE'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.kill", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--rounds", type=int, default=10, help="rounds, each with one worker killed mid-job")
    parser.add_argument("--hosts", type=int, default=6, help="sources, one loopback host each")
    parser.add_argument("--pages", type=int, default=6, help="detail pages per source")
    parser.add_argument("--attachments", type=int, default=2, help="files linked by each detail page")
    parser.add_argument("--delay", type=float, default=0.25, help="[crawl] download_delay, seconds")
    parser.add_argument("--workers", type=int, default=2, help="workers crawling each round (one is killed)")
    parser.add_argument("--concurrency", type=int, default=workload.CONCURRENCY,
                        help="[crawl] concurrency_per_domain: leases per host in the shared politeness")
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= 250 or args.pages < 2 or args.workers < 2:
        raise SystemExit("--hosts must be 1 to 250, --pages at least 2, --workers at least 2")
    folder = (args.out / "kill").resolve()
    shutil.rmtree(folder, ignore_errors=True)
    workload.generate(folder, args.hosts, args.pages, attachments=args.attachments)
    addresses = [f"127.0.0.{i + 2}" for i in range(args.hosts)]
    rounds = []
    with static_server(folder / "site", "nginx", addresses=addresses) as (url, server):
        port = url.rsplit(":", 1)[1]
        urls = [f"http://{address}:{port}" for address in addresses]
        clean = crawl_round(folder / "clean", urls, args.delay, args.workers, args.pages,
                            concurrency=args.concurrency)
        expected = args.hosts * args.pages
        items = args.pages * (1 + args.attachments)  # a job's pages and files
        reference = clean["contents"]
        print(f"clean run: {clean['wall']:.1f} s, " + ", ".join(f"{sum(reference[k].values())} {k}" for k in KINDS)
              + f", runs {dict(reference['runs'])}", flush=True)
        errors = sum(1 for a in reference["attachments"] if a[4])
        if (sum(reference["documents"].values()), sum(reference["attachments"].values()), errors) != (
                expected, expected * args.attachments, 0) or clean["crawl_exit"] != 0:
            raise SystemExit(f"the clean run did not store every page and file ({expected} pages, "
                             f"{expected * args.attachments} files, {errors} unread); see {folder / 'clean'}")
        print(f"{'round':>5} {'killed':>6} {'source':>7} {'at pages +files':>10} {'redelivered':>11} {'recovered':>9}"
              f" {'documents':>9} {'versions':>8} {'attachments':>11} {'changes':>7} {'missing':>7} {'extra':>5}"
              f" {'running':>7}")
        for n in range(1, args.rounds + 1):
            kill = ((n - 1) % args.workers, kill_point(n, args.rounds, items))
            result = crawl_round(folder / f"round-{n:02d}", urls, args.delay, args.workers, args.pages, kill,
                                 args.concurrency)
            result["comparison"] = compare(reference, result["contents"])
            result["comparison"]["ok"] &= result["crawl_exit"] == 0
            rounds.append(result)
            print(report_row(n, result), flush=True)
    for r in [clean, *rounds]:
        r["contents"] = {k: len(v) if k != "runs" else dict(v) for k, v in r["contents"].items()}
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "hosts": args.hosts, "pages_per_host": args.pages,
        "attachments_per_page": args.attachments, "download_delay": args.delay, "workers": args.workers,
        "concurrency_per_domain": args.concurrency,
        "heartbeat_seconds": HEARTBEAT, "server": server,
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "clean": clean, "rounds": rounds,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "kill.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    bad = [n for n, r in enumerate(rounds, 1) if not r["comparison"]["ok"]]
    if bad:
        print(f"rounds {bad} lost or doubled something: see {args.out / 'kill.json'}")
        return 1
    print(f"all {len(rounds)} rounds: every document, version and attachment of the clean run, once each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
