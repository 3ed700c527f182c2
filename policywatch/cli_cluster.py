"""Commands for crawling through workers: `policywatch worker`, and `crawl` when config.toml has a [cluster] or
a `policywatch serve` with its own warm workers is running."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from policywatch.cliutil import common_options, err, load_config, out, safe
from policywatch.core import config as config_module
from policywatch.crawler.crawl import CrawlResult, combine

if TYPE_CHECKING:
    from policywatch.core.config import Config


@click.command()
@common_options
@click.option("--queue", "queues", multiple=True, metavar="NAME",
              help="Take only this queue's jobs (repeatable; default: the 'default' queue).")
@click.option("--threads", type=click.IntRange(1, 64), default=None,
              help="Jobs crawled at once  [default: one per CPU]")
@click.pass_context
def worker(ctx: click.Context, config_path: str | None, db_path: str | None, queues: tuple[str, ...],
           threads: int | None) -> None:
    """Crawl jobs from the [cluster] Redis until SIGTERM/Ctrl-C; start one on every crawling machine.

    Example: policywatch worker --config /etc/policywatch/config.toml --queue default --queue browser
    """
    from policywatch.scheduler.worker import run_worker

    config = load_config(ctx, config_path, db_path)
    for name in queues:
        if not config_module.SOURCE_NAME.match(name):
            raise click.BadParameter(f"{name!r}: a queue name is lowercase letters, digits and '-'",
                                     param_hint="--queue")
    try:
        run_worker(str(config.path), str(config.db), queues or ("default",), threads or os.cpu_count() or 1)
    except config_module.ConfigError as e:
        raise click.ClickException(str(e)) from None
    except _redis_errors() as e:
        raise click.ClickException(f"cannot reach Redis ({config.cluster.redis}): {e}") from None


def crawl_on_workers(config: Config, names: list[str], recheck_all: bool, wait: bool) -> CrawlResult | None:
    """Queue one job per source for the workers; with ``wait``, the runs they made, as one result.

    Without ``wait`` the job ids are printed and None is returned.
    """
    from policywatch.scheduler import jobqueue

    redis_broker = jobqueue.broker(config.cluster)
    try:
        try:
            messages = jobqueue.enqueue(redis_broker, config, names, recheck_all)
        except _redis_errors() as e:
            raise click.ClickException(f"cannot reach Redis ({config.cluster.redis}): {e}") from None
        if not wait:
            for name, message in zip(names, messages, strict=True):
                out.print(f"queued {safe(name)} on {safe(config.source(name).queue)}: job {message.message_id}")
            return None
        try:
            results = jobqueue.wait(redis_broker, messages, timeout=None, waiting=lambda queue: err.print(
                f"no worker has taken the job on queue {queue!r} yet: is a `policywatch worker --queue {queue}` "
                "running? (still waiting; Ctrl-C stops waiting, the jobs stay queued)", markup=False, soft_wrap=True))
        except jobqueue.JobFailed as e:
            raise click.ClickException(str(e)) from None
    finally:
        redis_broker.close()
    return combine(results)


def crawl_on_serve(config: Config, names: list[str], recheck_all: bool) -> CrawlResult | None:
    """The crawl done by a running `serve`'s warm workers (policywatch.scheduler.control), as one result; None when no
    serve of this state folder runs. A source whose job failed is said on stderr."""
    from policywatch.scheduler.control import ServeError, crawl_on_serve

    answers = crawl_on_serve(config, names, recheck_all)
    if answers is None:
        return None
    err.print(f"crawling {len(names)} source(s) with the warm workers of the running `policywatch serve`",
              markup=False, soft_wrap=True)
    results, failed = [], []
    try:
        for answer in answers:
            if "result" in answer:
                results.append(answer["result"])
            else:
                failed.append(answer["failed"])
    except ServeError as e:
        raise click.ClickException(str(e)) from None
    for failure in failed:
        err.print(f"crawl of {safe(', '.join(failure['sources']))} failed: {safe(failure['error'])}", markup=False)
    if not results:
        raise click.ClickException(f"every crawl failed ({len(failed)})")
    return combine(results)


def _redis_errors() -> tuple[type[Exception], ...]:
    from dramatiq.errors import BrokerConnectionError
    from redis.exceptions import ConnectionError as RedisConnectionError

    return (RedisConnectionError, BrokerConnectionError)
