"""Rate limits on subscribing, counted in the store so they hold across the app's processes and restarts.

Each request is counted in two buckets: its client's (the IP address, or an IPv6 client's /64, since one machine
usually holds a whole /64) and its address's. Buckets are keyed hashes (HMAC with the signing secret), so the store
never keeps who asked, nor addresses nobody confirmed. Counts are per hour (:data:`WINDOW`).
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

from policywatch.core.store import Store
from policywatch.deliver.tokens import sign

WINDOW = timedelta(hours=1)


def iso(moment: datetime) -> str:
    """A moment as the store writes times: UTC ISO-8601 to the second, so they compare as text."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def client_bucket(secret: bytes, host: str | None) -> str:
    """The bucket of a client: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        network = host or "unknown"
    else:
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:192.0.2.1 is that IPv4 client
        if mapped is not None or address.version == 4:
            network = str(mapped or address)
        else:
            network = str(ipaddress.ip_network(f"{address}/64", strict=False))
    return "client:" + sign(secret, "rate-client", network)


def address_bucket(secret: bytes, email: str) -> str:
    return "address:" + sign(secret, "rate-address", email.lower())


def take(store: Store, bucket: str, limit: int, now: datetime) -> bool:
    """Count one request in ``bucket``; False when it has had ``limit`` in the last hour (then nothing is counted)."""
    return store.count_request(bucket, limit, iso(now - WINDOW), iso(now))
