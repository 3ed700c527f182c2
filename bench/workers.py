"""``python -m bench.workers [--hosts 200] [--pages 3] [--delay 0.5] [--workers 1,2,4] [--threads 4]``: crawl
workers, scaled.

A politeness-bound workload: ``--hosts`` sites, each on a loopback address of its own (127.0.0.2, 127.0.0.3, ...,
all served by one nginx) and each its own source, with a list page and ``--pages`` detail pages, crawled with
``[crawl] download_delay = --delay``, so a host's crawl is mostly waiting: its 1 + ``--pages`` requests go out
``--delay`` apart, whatever else the worker does. For each N in ``--workers``: a fresh redis-server and state.db,
N ``policywatch worker --threads T`` processes, so N × T jobs (hosts) are crawled at once, then ``policywatch crawl``
(queue one job per source and wait) is timed from start to end. One worker's throughput is bound by its T jobs,
each waiting out its host's delay, not by CPU: the CPU seconds of each run's processes (workers, redis-server,
``crawl``) are reported beside the wall time. It checks that every page was stored, once, and writes
DIR/workers.json and DIR/workers.png (throughput against workers, with the ideal linear line).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import workload
from bench.server import _free_port, static_server

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
POLICYWATCH = [sys.executable, "-m", "policywatch.cli"]


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A redis-server of its own on a free loopback port, keeping nothing on disk; yields its URL."""
    port = _free_port()
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(folder)], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                if conn.recv(16).startswith(b"+PONG"):
                    break
            if time.monotonic() > deadline:
                raise SystemExit("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


@contextmanager
def worker(config: Path, log: Path, threads: int = 1) -> Iterator[subprocess.Popen]:
    """A ``policywatch worker --threads N`` process, once it logs that it takes jobs; killed at the end."""
    with log.open("w") as err:
        process = subprocess.Popen([*POLICYWATCH, "--config", str(config), "worker", "--threads", str(threads)],
                                   cwd=ROOT,
                                   env=ENV, stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 60
        while "worker taking jobs" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"worker did not start taking jobs; see {log}")
            time.sleep(0.05)
        yield process
    finally:
        process.kill()
        process.wait()


def run(n: int, folder: Path, urls: list[str], delay: float, threads: int = 1) -> dict[str, Any]:
    """Crawl every source through ``n`` workers fed by a fresh redis-server into a fresh state.db."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("state.db*"):
        stale.unlink()
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(folder))
        config = workload.write_config(folder.parent, urls[0], delay=delay, allow_hosts="127.0.0.0/8",
                                       base_urls=urls, top=f'[cluster]\nredis = "{redis}"\n')
        config = config.rename(folder / "config.toml")
        logs = [folder / f"worker-{i + 1}.log" for i in range(n)]
        for log in logs:
            stack.enter_context(worker(config, log, threads))
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        with (folder / "crawl.out").open("w") as out, (folder / "crawl.err").open("w") as err:
            done = subprocess.run([*POLICYWATCH, "--config", str(config), "crawl"], cwd=ROOT, env=ENV,
                                  stdout=out, stderr=err)
        wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, killed and waited for above
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"crawl with {n} workers exited with {done.returncode}; see {folder / 'crawl.err'}")
    with sqlite3.connect(f"file:{folder / 'state.db'}?mode=ro", uri=True) as conn:
        stored, urls = conn.execute("SELECT count(*), count(DISTINCT url) FROM documents").fetchone()
        versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        fetched = conn.execute("SELECT count(*) FROM fetches").fetchone()[0]
        runs = dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall())
    jobs = [log.read_text().count("crawl:") for log in logs]
    return {"workers": n, "wall": wall, "cpu": cpu, "documents": stored, "distinct_urls": urls, "versions": versions,
            "fetches": fetched, "runs": runs, "jobs_per_worker": jobs}


def plot(results: list[dict[str, Any]], path: Path, threads: int = 1) -> None:
    """Throughput (stored pages/s) against workers, with the line of perfect scaling from one worker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = [r["workers"] for r in results]
    base = next((r["pages_per_s"] / r["workers"] for r in results if r["workers"] == 1), results[0]["pages_per_s"])
    fig, ax = plt.subplots(figsize=(5, 3.5), dpi=100)
    ax.plot(ns, [base * n for n in ns], "--", color="grey", label="ideal (linear from 1 worker)")
    ax.plot(ns, [r["pages_per_s"] for r in results], "o-", label="measured")
    each = f"{threads} thread{'s' if threads > 1 else ''} each"
    ax.set(xlabel=f"workers ({each})", ylabel="pages stored / s", xticks=ns, ylim=(0, None),
           title="policywatch crawl through workers")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.workers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--pages", type=int, default=3, help="detail pages per host")
    parser.add_argument("--delay", type=float, default=0.5, help="[crawl] download_delay, seconds")
    parser.add_argument("--workers", default="1,2,4", help="worker counts, comma-separated")
    parser.add_argument("--threads", type=int, default=4, help="jobs each worker crawls at once (worker --threads)")
    args = parser.parse_args(argv)
    if not 1 <= args.hosts <= 250:
        raise SystemExit("--hosts must be between 1 and 250 (one 127.0.0.x address each)")
    counts = [int(n) for n in args.workers.split(",")]
    folder = (args.out / "workers").resolve()
    workload.generate(folder, args.hosts, args.pages)
    addresses = [f"127.0.0.{i + 2}" for i in range(args.hosts)]
    results = []
    with static_server(folder / "site", "nginx", addresses=addresses) as (url, server):
        port = url.rsplit(":", 1)[1]
        urls = [f"http://{address}:{port}" for address in addresses]
        for n in counts:
            result = run(n, folder / f"n{n}", urls, args.delay, args.threads)
            result["pages_per_s"] = result["documents"] / result["wall"]
            results.append(result)
            print(f"{n} workers: {result['wall']:.1f} s, {result['documents']} documents, "
                  f"{result['pages_per_s']:.2f} pages/s, jobs per worker {result['jobs_per_worker']}", flush=True)
    expected = args.hosts * args.pages
    one = next((r for r in results if r["workers"] == 1), results[0])
    for result in results:
        result["ratio_to_1"] = result["pages_per_s"] / one["pages_per_s"]
        # Every page stored once, with one version, and every job's run closed as finished.
        result["all_stored"] = (result["documents"] == result["distinct_urls"] == result["versions"] == expected
                                and result["runs"] == {"finished": args.hosts})
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "hosts": args.hosts,
        "pages_per_host": args.pages, "download_delay": args.delay, "threads": args.threads,
        "expected_documents": expected,
        "server": server, "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, "
                                     f"Python {platform.python_version()}",
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "workers.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    plot(results, args.out / "workers.png", args.threads)
    print(f"{'workers':>7} {'wall s':>7} {'documents':>9} {'pages/s':>7} {'× 1 worker':>10} {'CPU s':>6} "
          f"{'CPU / wall':>10}")
    for r in results:
        print(f"{r['workers']:>7} {r['wall']:>7.1f} {r['documents']:>9} {r['pages_per_s']:>7.2f} "
              f"{r['ratio_to_1']:>10.2f} {r['cpu']:>6.1f} {r['cpu'] / r['wall']:>10.2f}")
    if not all(r["all_stored"] for r in results):
        raise SystemExit(f"not every page was stored once (expected {expected} documents, each with one version, "
                         f"and {args.hosts} finished runs per run)")


if __name__ == "__main__":
    main()
