"""Per-host politeness shared by every crawl process that uses one Redis (``[cluster] redis``).

Scrapy limits concurrency and spaces requests per host inside one process only; two crawl processes, on one
machine or many, would each crawl a host at the full configured pace. ``SharedPoliteness`` asks Redis before each
request, in one atomic Lua script per request and host (``host[:port]``, lower case):

* **a concurrency lease**: at most ``CONCURRENT_REQUESTS_PER_DOMAIN`` requests per host hold a lease, across all
  processes. A lease carries an expiry (its start + ``DOWNLOAD_TIMEOUT`` + a margin), so the leases of a process
  killed with SIGKILL run out by themselves; a response or an exception releases it at once.
* **a turn**: a request goes only once its host's next start has come, Redis's own clock deciding, and then sets
  the next start ``DOWNLOAD_DELAY`` later (or the host's AutoThrottle delay in this process, if larger). When its
  response (or error) comes back, the next start moves to at least the delay after that: a request held up
  between its turn and the portal (a process starved of CPU) cannot bunch against another process's next one,
  so with one request at a time per host the portal sees them at least the delay apart, whatever the load.

Waiting is ``asyncio.sleep``: the reactor keeps running. The middleware runs after robots.txt and redirects
(priority 960): a request that held a lease while waiting for its host's robots.txt would starve that robots.txt
request of the lease. With a shared ticket, Scrapy's random delay jitter is off (policywatch.crawler.settings), else
this process's own slot could hold a request past its ticket, bunching it against another process's next start.

When Redis does not answer (2 s timeouts), one warning line is logged and requests go on under this process's own
Scrapy limits (same concurrency and delay per host, per process); Redis is asked again after ``RETRY_AFTER``
seconds, and an info line says when it answers again. A Redis outage slows nothing and stops nothing.
Keys: ``policywatch:polite:<host>`` (the next start, ms) and ``…:<host>:leases`` (lease → expiry), both with TTLs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from policywatch.crawler.guard import host_key

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)
PREFIX = "policywatch:polite:"
LEASE_MARGIN = 30.0  # seconds a lease outlives DOWNLOAD_TIMEOUT: a killed process's leases free after that
POLL = 0.05  # seconds between asking again for a lease while the host is at its limit
RETRY_AFTER = 10.0  # seconds before asking an unreachable Redis again
META = "pw_polite_lease"

# KEYS: next start, leases. ARGV: limit, pace ms, lease ms, token.
# Returns {1, 0} (go now: lease taken), {0, ms until a lease may free} or {2, ms until the next start}.
ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {0, math.max(tonumber(first[2]) - now, 1)}
end
local due = tonumber(redis.call('GET', KEYS[1])) or 0
if due > now then
  return {2, due - now}
end
local pace = tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%d', now + pace), 'PX', string.format('%d', pace + 60000))
local expiry = now + tonumber(ARGV[3])
redis.call('ZADD', KEYS[2], string.format('%d', expiry), ARGV[4])
if redis.call('PTTL', KEYS[2]) < expiry - now then
  redis.call('PEXPIRE', KEYS[2], string.format('%d', expiry - now))
end
return {1, 0}
"""

# KEYS: next start, leases. ARGV: token, pace ms. The lease back; the next start no sooner than the pace from now.
RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREM', KEYS[2], ARGV[1])
local after = now + tonumber(ARGV[2])
if after > (tonumber(redis.call('GET', KEYS[1])) or 0) then
  redis.call('SET', KEYS[1], string.format('%d', after), 'PX', string.format('%d', tonumber(ARGV[2]) + 60000))
end
return 1
"""


class HostGate:
    """The Redis side: leases and turns per host. ``acquire`` returns (token, 0) when the request may go now, else
    (None, seconds until it may be worth asking again); Redis errors are raised to the caller."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.script = client.register_script(ACQUIRE)
        self.release_script = client.register_script(RELEASE)

    async def acquire(self, host: str, limit: int, pace: float, lease: float) -> tuple[str | None, float]:
        token = uuid.uuid4().hex
        got, ms = await self.script(keys=[PREFIX + host, PREFIX + host + ":leases"],
                                    args=[limit, int(pace * 1000), int(lease * 1000), token])
        if got == 1:
            return token, 0.0
        # A lease is usually given back long before it expires: ask again soon. A next start comes when it says.
        return None, int(ms) / 1000 if got == 2 else min(int(ms) / 1000, POLL)

    async def release(self, host: str, token: str, pace: float) -> None:
        await self.release_script(keys=[PREFIX + host, PREFIX + host + ":leases"], args=[token, int(pace * 1000)])


def shown(url: str) -> str:
    """A Redis URL without its password, for log lines."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}{parts.path}"


class SharedPoliteness:
    """The downloader middleware: a lease and a ticket from Redis before each request, the lease back after."""

    def __init__(self, crawler: Crawler, url: str) -> None:
        settings = crawler.settings
        self.crawler = crawler
        self.url = url
        # Loaded here, with a [cluster] redis only: most crawls never talk to Redis, and every crawl process
        # would otherwise pay for importing it.
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        self.errors = (RedisError, OSError)  # Redis did not answer: crawl with this process's own limits
        self.gate = HostGate(aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))
        self.limit = max(settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN"), 1)
        self.delay = settings.getfloat("DOWNLOAD_DELAY")
        self.lease = settings.getfloat("DOWNLOAD_TIMEOUT") + LEASE_MARGIN
        self.down_until = 0.0  # monotonic time before which Redis is not asked (it did not answer)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> SharedPoliteness:
        url = crawler.settings.get("PW_REDIS_URL") or ""
        if not url:
            raise NotConfigured  # crawls on one machine: Scrapy's own per-process limits
        return cls(crawler, url)

    async def process_request(self, request: Request) -> None:
        if time.monotonic() < self.down_until:
            return
        host, pace = host_key(request.url), self.pace(request)
        try:
            while True:
                token, wait = await self.gate.acquire(host, self.limit, pace, self.lease)
                if token is not None:
                    break
                await asyncio.sleep(wait)
        except self.errors as e:
            self.unreachable(e)
            return
        if self.down_until:
            self.down_until = 0.0
            logger.info("shared politeness: Redis at %s answers again", shown(self.url))
        request.meta[META] = (host, token, pace)

    def pace(self, request: Request) -> float:
        """Seconds between starts on this host: the delay, or this process's slot delay (AutoThrottle) if
        larger, with the slot's jitter at its largest (0 when policywatch.crawler.settings turns it off)."""
        downloader = self.crawler.engine.downloader
        slot = downloader.slots.get(downloader.get_slot_key(request))
        if slot is None:
            return self.delay
        return max(self.delay, slot.delay * (1 + getattr(slot, "jitter", 0.5)))

    def unreachable(self, error: Exception) -> None:
        if not self.down_until:
            logger.warning("shared politeness: Redis at %s unreachable (%s); crawling with this process's own "
                           "per-host limits until it answers", shown(self.url), str(error).splitlines()[0][:200])
        self.down_until = time.monotonic() + RETRY_AFTER

    async def _release(self, request: Request) -> None:
        held = request.meta.pop(META, None)
        if held is None:
            return
        try:
            await self.gate.release(*held)
        except self.errors as e:
            self.unreachable(e)  # the lease runs out by itself

    async def process_response(self, request: Request, response: Response) -> Response:
        await self._release(request)
        return response

    async def process_exception(self, request: Request, exception: Exception) -> None:
        await self._release(request)

    def spider_closed(self) -> object:
        return deferred_from_coro(self.gate.client.aclose())
