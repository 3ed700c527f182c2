"""How `policywatch crawl` hands its sources to a running `serve`'s warm workers (policywatch.scheduler.pool).

`serve` listens on a Unix socket named after its database (in Linux's abstract namespace: no file to go
stale, no path-length limit), and only a client holding its key may talk to it: the key is written to
``serve-<id>.key`` in the state folder, readable by serve's user alone, and checked by the HMAC challenge of
``multiprocessing.connection`` before a byte is read. Requests and answers are JSON, never pickles. A request
names sources and ``recheck_all``; serve shares the sources out among its workers and answers with each job's
result as it finishes, then ``{"done": true}``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import threading
from contextlib import suppress
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener, answer_challenge, deliver_challenge
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policywatch.core import config as config_module
from policywatch.crawler.crawl import shards

if TYPE_CHECKING:
    from collections.abc import Iterator

    from policywatch.core.config import Config
    from policywatch.scheduler.pool import LocalPool

log = logging.getLogger("policywatch.serve")
MAX_REQUEST = 1 << 20  # bytes: a request names sources, nothing more


def _name(config: Config) -> str:
    """What names a serve: its database (two serves of one folder with two databases are two serves)."""
    where = config.db.resolve() if isinstance(config.db, Path) else config.db
    return hashlib.sha256(str(where).encode()).hexdigest()[:24]


def _address(config: Config) -> str:
    return f"\0policywatch-serve-{_name(config)}"


def _key_file(config: Config) -> Path:
    return config.state_dir / f"serve-{_name(config)[:12]}.key"


class ControlServer:
    """serve's side: accepts crawl requests and runs them on the pool, each in a thread of its own."""

    def __init__(self, config: Config, pool: LocalPool) -> None:
        self.config, self.pool = config, pool
        self.key = key = secrets.token_bytes(32)
        # The key is checked in each client's own thread (_serve), not by accept(): a client that connects and
        # never answers the challenge would otherwise hold up every other client.
        self.listener = Listener(_address(config), family="AF_UNIX")
        target = _key_file(config)
        partial = target.with_name(f"{target.name}.{os.getpid()}")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        partial.replace(target)
        threading.Thread(target=self._accept, name="control", daemon=True).start()

    def close(self) -> None:
        with suppress(OSError):
            _key_file(self.config).unlink()
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                conn = self.listener.accept()
            except OSError:  # closed: serve is stopping
                return
            threading.Thread(target=self._serve, args=(conn,), name="control-client", daemon=True).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            try:
                deliver_challenge(conn, self.key)
                answer_challenge(conn, self.key)
            except (AuthenticationError, EOFError, OSError) as e:  # a client without the key, or one that hung up
                log.warning("control socket: refused a client: %s", e or type(e).__name__)
                return
            try:
                config, names, recheck_all = self._request(conn.recv_bytes(MAX_REQUEST))
            except (ValueError, config_module.ConfigError) as e:
                _send(conn, {"error": str(e)})
                return
            except (EOFError, OSError):
                return
            log.info("crawl of %s asked by `policywatch crawl`", ", ".join(names))
            try:
                self._crawl(conn, config, names, recheck_all)
            except Exception as e:  # a fault of serve's own: said to the client, not a silent hang-up
                log.exception("control socket: the crawl of %s failed", ", ".join(names))
                _send(conn, {"error": f"serve could not crawl: {type(e).__name__}: {e}"})

    def _crawl(self, conn: Connection, config: Config, names: list[str], recheck_all: bool) -> None:
        """One job per warm worker, each a share of the sources in a run of its own: a run's fixed cost (the
        store's bookkeeping, a Scrapy engine per source) is paid once per share, not once per source. Each job's
        result goes to the client as it ends."""
        futures = {self.pool.submit(share, recheck_all): share for share in shards(config, names, self.pool.size)}
        for future, share in futures.items():
            try:
                answer = {"result": future.result()}
            except Exception as e:  # the job failed: said for its sources, the others go on
                answer = {"failed": {"sources": share, "error": f"{type(e).__name__}: {e}"}}
            if not _send(conn, answer):
                return
        _send(conn, {"done": True})

    def _request(self, raw: bytes) -> tuple[Config, list[str], bool]:
        """The request's sources, checked against config.toml as it is now (as the jobs will read it)."""
        request = json.loads(raw)
        if not isinstance(request, dict) or not isinstance(request.get("sources"), list) \
                or not all(isinstance(n, str) for n in request["sources"]):
            raise ValueError("a crawl request is {\"sources\": [names], \"recheck_all\": bool}")
        config = config_module.load(self.config.path, self.config.db)
        return config, [s.name for s in config.select(request["sources"])], bool(request.get("recheck_all"))


def _send(conn: Connection, message: dict[str, Any]) -> bool:
    try:
        conn.send_bytes(json.dumps(message).encode())
    except OSError:  # the client went away (Ctrl-C): its jobs still run to the end
        return False
    return True


class ServeError(Exception):
    """serve refused the request, or went away before answering."""


def crawl_on_serve(config: Config, names: list[str], recheck_all: bool) -> Iterator[dict[str, Any]] | None:
    """Each source's job result from a running `serve`'s workers, as they finish; None when no serve of this
    state folder runs (or its key is not ours to read)."""
    try:
        key = _key_file(config).read_bytes()
        conn = Client(_address(config), family="AF_UNIX", authkey=key)
    except (OSError, EOFError, AuthenticationError):
        return None  # no serve (no key, no socket), another user's serve, or a key left by one that is gone
    conn.send_bytes(json.dumps({"sources": names, "recheck_all": recheck_all}).encode())
    return _answers(conn)


def _answers(conn: Connection) -> Iterator[dict[str, Any]]:
    with conn:
        while True:
            try:
                answer = json.loads(conn.recv_bytes(MAX_REQUEST))
            except (EOFError, OSError):
                raise ServeError("serve stopped before the crawl ended (its runs say how far it got)") from None
            if "done" in answer:
                return
            if "error" in answer:
                raise ServeError(answer["error"])
            yield answer
