"""Crawl jobs through Redis, with Dramatiq: how they are put on a queue, and how their outcome comes back.

Dramatiq (not Celery or RQ) because its Redis broker acknowledges a message only after the job returns, and
gives the jobs of a worker that stops answering (its heartbeat older than ``[cluster] heartbeat_seconds``) to
the others: a worker killed mid-crawl loses nothing, its source is crawled again elsewhere, and the store's
writes make that second crawl add nothing twice. RQ marks such a job failed; Celery on Redis redelivers only
after a visibility timeout of an hour. Dramatiq is one small dependency and a worker is embedded in
``policywatch worker`` rather than started through Dramatiq's own command.

A job is one source's crawl: ``crawl_source(name, recheck_all)``. It carries no path: each worker reads its
own config.toml (the same deployment's) and writes into the store that config names. Its result, kept in Redis
for ten minutes, is a small dict (run id, outcome); ``policywatch crawl`` waits for it.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from dramatiq import Message
from dramatiq.brokers.redis import MAINTENANCE_SCALE, RedisBroker
from dramatiq.middleware import TimeLimit, default_middleware
from dramatiq.results import ResultFailure, Results, ResultTimeout
from dramatiq.results.backends.redis import RedisBackend

if TYPE_CHECKING:
    from collections.abc import Callable

    from policywatch.core.config import ClusterSettings, Config

NAMESPACE = "policywatch"
ACTOR = "crawl_source"
RESULT_TTL_MS = 10 * 60 * 1000
UNTAKEN_HINT = 10.0  # seconds a job may sit on its queue before `crawl` asks whether any worker takes it
UNTAKEN_HINT_VARIABLE = "POLICYWATCH_UNTAKEN_HINT"  # other seconds, for tests that wait for the question


class JobFailed(Exception):
    """A crawl job ended in an error on its worker (its message names it)."""


def broker(cluster: ClusterSettings) -> RedisBroker:
    """The Redis broker of a deployment, with results kept in the same Redis.

    Dramatiq's own time limit is left out: it interrupts the job's thread, while the crawl goes on in the
    reactor; a job's time limit stops its crawl gracefully instead (policywatch.crawler.warm). Every broker command may
    look for dead workers (maintenance on every command): a deployment has a handful of workers, and a dead
    one's job should move on within a heartbeat, not after a thousand commands.
    """
    redis_broker = RedisBroker(
        url=cluster.redis, namespace=NAMESPACE, heartbeat_timeout=int(cluster.heartbeat_seconds * 1000),
        maintenance_chance=MAINTENANCE_SCALE,
        middleware=[m() for m in default_middleware if m is not TimeLimit])
    backend = RedisBackend(client=redis_broker.client, namespace=f"{NAMESPACE}-results")
    redis_broker.add_middleware(Results(backend=backend, store_results=True, result_ttl=RESULT_TTL_MS))
    return redis_broker


def enqueue(redis_broker: RedisBroker, config: Config, names: list[str], recheck_all: bool = False
            ) -> list[Message]:
    """Put one job per source on its source's queue; the messages, to wait for."""
    return [redis_broker.enqueue(Message(queue_name=config.source(name).queue, actor_name=ACTOR,
                                         args=(name, recheck_all), kwargs={}, options={}))
            for name in names]


def wait(redis_broker: RedisBroker, messages: list[Message], timeout: float | None = None,
         waiting: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Each job's result, in order, once all have ended. ``waiting`` is called once, with the queue's name, if
    a job is still on its queue after ``untaken_hint()`` seconds (no worker for it is running, say); ``timeout``
    bounds the whole wait.

    Raises JobFailed for a job that failed on its worker, TimeoutError when ``timeout`` passes first.
    """
    backend = _backend(redis_broker)
    deadline = time.monotonic() + timeout if timeout is not None else None
    results, hinted = [], waiting is None
    hint = untaken_hint()
    for message in messages:
        since = time.monotonic()
        while True:
            try:
                results.append(backend.get_result(message, block=True, timeout=int(min(hint, 2.0) * 1000)))
                break
            except ResultTimeout:
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError(f"no result for the job of {message.args[0]} in {timeout:.0f} s") from None
                if not hinted and time.monotonic() - since >= hint and _untaken(redis_broker, message):
                    hinted = True
                    waiting(message.queue_name)
            except ResultFailure as e:
                raise JobFailed(f"the job of {message.args[0]} failed on its worker: {e}") from None
    return results


def untaken_hint() -> float:
    """UNTAKEN_HINT, or the seconds that $POLICYWATCH_UNTAKEN_HINT says (a test need not wait ten seconds for the
    question); a value that is no number from 0.1 to UNTAKEN_HINT is ignored."""
    try:
        seconds = float(os.environ.get(UNTAKEN_HINT_VARIABLE, UNTAKEN_HINT))
    except ValueError:
        return UNTAKEN_HINT
    return seconds if 0.1 <= seconds <= UNTAKEN_HINT else UNTAKEN_HINT


def _untaken(redis_broker: RedisBroker, message: Message) -> bool:
    """Whether a queued job still waits on its queue: no worker has taken it (Dramatiq's Redis layout)."""
    key = f"{NAMESPACE}:{message.queue_name}"
    return redis_broker.client.lpos(key, message.options["redis_message_id"]) is not None


def _backend(redis_broker: RedisBroker) -> RedisBackend:
    return next(m.backend for m in redis_broker.middleware if isinstance(m, Results))
