"""The request guard: what the crawler will not fetch, checked before any request leaves the process.

Every request a crawl makes passes ``RequestGuard`` (a downloader middleware that runs first): list and detail
pages, each hop of a redirect chain (Scrapy sends a redirect's new request through every middleware again),
attachments and robots.txt. The browser fetcher applies the same address rule to everything Chromium asks for
(policywatch.crawler.browser). The rules:

* **Only http and https.** ``file:``, ``ftp:``, ``data:`` and the like are refused.
* **No internal addresses.** A host that is, or resolves to, a loopback, private, link-local (169.254.0.0/16, the
  cloud metadata address), shared (100.64.0.0/10), multicast, reserved or unspecified address, IPv4 or IPv6, is
  refused. One such address among a name's addresses refuses the name. IPv4-mapped IPv6 (``::ffff:127.0.0.1``)
  is read as the IPv4 address it carries, and numeric spellings (``2130706433``, ``0x7f.1``, ``127.1``) as the
  address they mean. ``[crawl] allow_hosts`` lifts the rule: each entry is an IP address (``127.0.0.1``), a
  network (``10.1.0.0/16``), or a host name (``intranet.example``, matched exactly, whatever it resolves to).
* **The address checked is the address connected to.** A name's addresses are resolved once per crawl process
  and pinned (``PinnedResolver``), so a DNS answer that changes between the check and the connection (DNS
  rebinding) cannot slip an internal address in.
* **Redirects stay on the source's hosts.** A redirect may go to the host its chain began on, or to a host of the
  source (its start URLs' hosts and its ``allowed_hosts``); anything else is refused before it is sent and
  recorded as "redirected off the source's hosts to …". Hosts are compared as ``host[:port]``, a scheme's default
  port left out, so http → https on one host is the same host and another port is another host.

Through a proxy (``http_proxy``/``https_proxy``), the proxy resolves names: literal addresses and localhost names
are still refused, other names are not resolved here (a name the local DNS does not know is not an error).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingThreadedResolver
from twisted.internet import defer
from twisted.internet.error import DNSLookupError

if TYPE_CHECKING:
    from collections.abc import Coroutine, Iterable, Sequence

    from scrapy import Request
    from scrapy.crawler import Crawler

    from policywatch.core.config import Source

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
HINT = "allow it with [crawl] allow_hosts"
# Host name → the IPv4 address vetted for it, which every connection to it uses (see PinnedResolver).
PINNED: dict[str, str] = {}
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)


class RefusedRequest(IgnoreRequest):
    """A request the guard will not send. The message is the one-line reason recorded as the fetch error."""


@dataclass(frozen=True)
class Allowlist:
    """``[crawl] allow_hosts``: addresses, networks and host names the address rule does not apply to."""

    networks: tuple[Network, ...] = ()
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """Entries as config validated them: an address or network if it reads as one, else a host name."""
        networks, names = [], set()
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError:
                names.add(normal_host(entry))
        return cls(tuple(networks), frozenset(names))

    def allows(self, address: Address) -> bool:
        return any(address in network for network in self.networks)


def normal_host(host: str) -> str:
    """A host name as compared: lower case, without brackets or the root's trailing dot, in its ASCII (IDNA) form,
    which is how the connection asks for it."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if not host.isascii():
        with suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host


def literal_address(host: str) -> Address | None:
    """The address a host written as a number means (any spelling inet_aton accepts), else None (a name)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_HOST.fullmatch(host) or not any(c.isdigit() for c in host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return unmapped(address)


def unmapped(address: Address) -> Address:
    """An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is the IPv4 address it carries."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_problem(address: Address) -> str | None:
    """What kind of internal address this is ("a loopback address"), or None for a public one."""
    address = unmapped(address)
    for kind, flag in (("an unspecified", address.is_unspecified), ("a loopback", address.is_loopback),
                       ("a link-local", address.is_link_local), ("a multicast", address.is_multicast),
                       ("a private", address.is_private), ("a reserved", address.is_reserved)):
        if flag:
            return f"{kind} address"
    return None if address.is_global else "a non-public address"


def host_key(url: str) -> str:
    """``host[:port]`` of a URL, the scheme's default port left out: what "the same host" means for redirects."""
    parts = urlsplit(url)
    host = normal_host(parts.hostname or "")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or port == DEFAULT_PORTS.get(parts.scheme.lower()):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def source_hosts(source: Source) -> frozenset[str]:
    """The hosts a source's redirects and canonical links may name: its start URLs' and its ``allowed_hosts``."""
    return frozenset(host_key(url) for url in source.start_urls) | {
        host_key(f"http://{host}") for host in source.allowed_hosts}


class AddressGuard:
    """The address rule, with one decision per host (and proxy use) remembered for the crawl."""

    def __init__(self, allow: Allowlist, dns_timeout: float = 60.0) -> None:
        self.allow = allow
        self.dns_timeout = dns_timeout
        self.decided: dict[tuple[str, bool], str | None] = {}  # (host, proxied) → refusal or None
        self.pending: dict[tuple[str, bool], asyncio.Future[str | None]] = {}

    def check(self, url: str, proxied: bool = False) -> str | Coroutine[Any, Any, str | None] | None:
        """The refusal of ``url`` (None: allowed), or, when its host must first be resolved, a coroutine that
        gives it. Decided hosts cost a dictionary look-up."""
        parts = urlsplit(url)
        if parts.scheme.lower() not in SCHEMES:
            return f"refused: {parts.scheme or 'a'}: URL (only http and https are fetched)"
        host = normal_host(parts.hostname or "")
        if not host:
            return "refused: URL without a host"
        key = (host, proxied)
        if key in self.decided:
            return self.decided[key]
        reason = self._decide_without_dns(host, proxied)
        if reason is not False:
            self.decided[key] = reason
            return reason
        return self._resolve(key)

    async def refusal(self, url: str, proxied: bool = False) -> str | None:
        """``check``, awaited."""
        result = self.check(url, proxied)
        return result if result is None or isinstance(result, str) else await result

    def _decide_without_dns(self, host: str, proxied: bool) -> str | bool | None:
        """The decision if no DNS is needed (a literal address, an allowed name, a proxied name); else False."""
        if host in self.allow.names:
            return None
        address = literal_address(host)
        if address is None and (host in LOCAL_NAMES or host.endswith(".localhost")):
            address = ipaddress.IPv4Address("127.0.0.1")
        if address is not None:
            reason = self._refusal(host, [address])
            if reason is None and address.version == 4 and not proxied:
                PINNED[host] = str(address)  # connect to the address checked, however the name is spelt
            return reason
        return None if proxied else False

    def _refusal(self, host: str, addresses: Sequence[Address]) -> str | None:
        for address in addresses:
            problem = address_problem(address)
            if problem and not self.allow.allows(unmapped(address)):
                shown = host if host == str(address) else f"{host} ({address})"
                return f"refused: {shown} is {problem} ({HINT})"
        return None

    async def _resolve(self, key: tuple[str, bool]) -> str | None:
        """Resolve a host once (concurrent requests wait for the same answer), decide, pin its address."""
        if key not in self.pending:
            self.pending[key] = asyncio.ensure_future(self._lookup(key[0]))
        reason = await asyncio.shield(self.pending[key])
        self.decided[key] = reason
        return reason

    async def _lookup(self, host: str) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(loop.getaddrinfo(host, None, type=socket.SOCK_STREAM), self.dns_timeout)
        except (OSError, UnicodeError, TimeoutError) as e:
            raise DNSLookupError(f"{host}: {e}") from None
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
        reason = self._refusal(host, addresses)
        if reason is None:
            first = next((str(unmapped(a)) for a in addresses if unmapped(a).version == 4), None)
            if first is not None:
                PINNED[host] = first
        return reason


class RequestGuard:
    """The downloader middleware: refuses a request by the address rule or, for a redirect hop, the host rule."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        settings = crawler.settings
        self.addresses = AddressGuard(Allowlist.parse(settings.getlist("PW_ALLOW_HOSTS")),
                                      settings.getfloat("DNS_TIMEOUT", 60.0))
        self.proxies = self.env_proxies()
        self._hosts: frozenset[str] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RequestGuard:
        return cls(crawler)

    @staticmethod
    def env_proxies() -> dict[str, str]:
        """The proxies the environment names for http and https (as Scrapy's HttpProxyMiddleware reads them)."""
        return {scheme: url for scheme, url in getproxies().items() if scheme in SCHEMES}

    def process_request(self, request: Request) -> Coroutine[Any, Any, None] | None:
        reason = self.redirect_refusal(request.url, request.meta.get("redirect_urls"))
        if reason:
            raise RefusedRequest(reason)
        result = self.addresses.check(request.url, self.proxied(request))
        if result is None:
            return None
        if isinstance(result, str):
            raise RefusedRequest(result)
        return self._refuse_later(result)

    async def _refuse_later(self, pending: Coroutine[Any, Any, str | None]) -> None:
        reason = await pending
        if reason:
            raise RefusedRequest(reason)

    def redirect_refusal(self, url: str, chain: list[str] | None) -> str | None:
        """A redirect hop to a host that is neither the chain's first host nor one of the source's."""
        return redirect_problem(url, chain[0], self.hosts()) if chain else None

    def hosts(self) -> frozenset[str]:
        if self._hosts is None:
            source = getattr(self.crawler.spider, "source", None)
            self._hosts = source_hosts(source) if source is not None else frozenset()
        return self._hosts

    def proxied(self, request: Request) -> bool:
        """Does this request go through a proxy (which then resolves the host)?"""
        return bool(request.meta.get("proxy")) or uses_proxy(request.url, self.proxies)


def uses_proxy(url: str, proxies: dict[str, str]) -> bool:
    """Does a request for ``url`` go through one of these proxies (``RequestGuard.env_proxies``)?"""
    if not proxies:
        return False
    parts = urlsplit(url)
    return parts.scheme in proxies and not proxy_bypass(parts.hostname or "")


def redirect_problem(url: str, first: str, hosts: frozenset[str]) -> str | None:
    """Why a redirect to ``url`` in a chain that began at ``first`` is refused: its host is neither ``first``'s nor
    one of ``hosts`` (``source_hosts``); None when it is."""
    target = host_key(url)
    if target == host_key(first) or target in hosts:
        return None
    return f"redirected off the source's hosts to {url[:200]} (list the host in the source's allowed_hosts)"


class PinnedResolver(CachingThreadedResolver):
    """Scrapy's resolver, except that a host the guard vetted resolves to the address it vetted."""

    def getHostByName(self, name: str, timeout: Sequence[int] = ()) -> defer.Deferred[str]:
        pinned = PINNED.get(normal_host(name))
        if pinned is not None:
            return defer.succeed(pinned)
        return super().getHostByName(name, timeout)
