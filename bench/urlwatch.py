"""urlwatch as a second anchor: the same generated portals, every list and detail page watched as one URL job.

urlwatch (PyPI ``urlwatch``) fetches each URL of its job list, compares the page with the copy in its cache and
reports what changed. It knows nothing of lists, details or extraction, so its first check and its re-check are
what watching the same pages costs with no pipeline at all. Everything it reads and writes lives in
``DIR/urlwatch``: the job list (``urls.yaml``), its config (``urlwatch.yaml``), its cache (``cache.db``) and a HOME
of its own, so a user's ``~/.config/urlwatch`` (and the hooks.py there) is never read or touched.

Jobs are run as urlwatch runs them by default: a thread pool of 10 workers (``urlwatch.worker.MAX_WORKERS``, which
has no setting), a new connection per URL (requests, no session), conditional requests (ETag, If-Modified-Since)
on a re-check, no filter (the whole page is stored and compared). The config changes only the report: one plain
line per URL (``report.text.minimal``, no colour), unchanged URLs included, so what each URL came to can be
counted.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import sqlite3
import sys
from importlib.metadata import version
from pathlib import Path

import yaml

from bench.workload import PER_LIST_PAGE

CONFIG = {
    "display": {"new": True, "error": True, "unchanged": True, "empty-diff": True},
    "report": {"text": {"minimal": True}, "stdout": {"enabled": True, "color": False}},
}
VERBS = ("new", "changed", "unchanged", "error")


def workload_urls(out: Path, base_url: str) -> list[str]:
    """Every URL of the generated workload: each site's chain of list pages, then its detail pages."""
    manifest = json.loads((out / "workload.json").read_text(encoding="utf-8"))
    urls = []
    for site, items in sorted(manifest["sites"].items(), key=lambda kv: int(kv[0])):
        root = f"{base_url}/site{int(site):02d}"
        lists = max(1, math.ceil(len(items) / PER_LIST_PAGE))
        urls += [f"{root}/list/index.html" if n == 0 else f"{root}/list/index_{n}.html" for n in range(lists)]
        urls += [f"{root}/{item['path']}" for item in items]
    return urls


def prepare(out: Path, base_url: str) -> Path:
    """Write ``DIR/urlwatch`` afresh (job list, config, an empty HOME; no cache yet); returns that folder."""
    folder = out / "urlwatch"
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "home").mkdir(parents=True)
    urls = workload_urls(out, base_url)
    (folder / "urls.yaml").write_text(yaml.safe_dump_all([{"url": url} for url in urls]), encoding="utf-8")
    (folder / "urlwatch.yaml").write_text(yaml.safe_dump(CONFIG), encoding="utf-8")
    return folder


def executable() -> str:
    """The urlwatch script of this Python's environment, else the one on PATH."""
    beside = Path(sys.executable).with_name("urlwatch")
    found = str(beside) if beside.exists() else shutil.which("urlwatch")
    if not found:
        raise SystemExit("urlwatch is not installed: pip install -e '.[bench]'")
    return found


def command(folder: Path) -> list[str]:
    """A urlwatch run over every job with the files in ``folder``. hooks.py there does not exist: urlwatch loads
    hooks only from a file that does."""
    return [executable(), "--urls", str(folder / "urls.yaml"), "--config", str(folder / "urlwatch.yaml"),
            "--cache", str(folder / "cache.db"), "--hooks", str(folder / "hooks.py")]


def environment(folder: Path) -> dict[str, str]:
    """The environment with HOME and the XDG folders inside ``folder``: urlwatch looks there for a default config
    folder and for urlwatch 1.x files to migrate, and neither may be the user's."""
    home = str(folder / "home")
    return {**os.environ, "HOME": home, "XDG_CONFIG_HOME": f"{home}/.config", "XDG_CACHE_HOME": f"{home}/.cache"}


def reported(stdout: str) -> dict[str, int]:
    """How many URLs the report lists under each verb (``NEW: url``, ``UNCHANGED: url``, ...)."""
    counts: dict[str, int] = {}
    for line in stdout.splitlines():
        verb = line.split(":", 1)[0].lower()
        if verb in VERBS:
            counts[verb] = counts.get(verb, 0) + 1
    return counts


def cache_state(folder: Path) -> dict[str, int]:
    """Size of urlwatch's cache and what it holds: entries, distinct jobs, page bytes, and how many of the job
    list's URLs have an entry (a job's guid is the SHA-1 of its URL)."""
    cache = folder / "cache.db"
    urls = [job["url"] for job in yaml.safe_load_all((folder / "urls.yaml").read_text(encoding="utf-8"))]
    with sqlite3.connect(f"file:{cache}?mode=ro", uri=True) as conn:
        entries, data_bytes = conn.execute("SELECT count(*), coalesce(sum(length(data)), 0) FROM CacheEntry").fetchone()
        guids = {guid for guid, in conn.execute("SELECT DISTINCT guid FROM CacheEntry")}
    return {"cache_bytes": cache.stat().st_size, "entries": entries, "jobs": len(guids), "data_chars": data_bytes,
            "urls": len(urls), "urls_cached": sum(hashlib.sha1(u.encode()).hexdigest() in guids for u in urls)}


def installed() -> dict[str, object]:
    """urlwatch's version, and the size of the thread pool it checks URLs with (its default, not configurable)."""
    from urlwatch.worker import MAX_WORKERS

    return {"version": version("urlwatch"), "workers": MAX_WORKERS}
