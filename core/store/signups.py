"""The subscription page's tables: ``pending_subscribers``, subscriptions waiting for their address to confirm
them, and ``subscribe_requests``, the requests its rate limits count.

Times are passed in by the caller (UTC ISO strings, as :func:`policywatch.core.store.rows.now_iso` writes them), so
expiry follows the page's clock. Each method is one transaction: two processes serving the page count and confirm
the same rows without stepping on each other.
"""

from __future__ import annotations

import json
from typing import Any

from policywatch.core.model import NewSubscriber
from policywatch.core.store.rows import Rows


class Signups(Rows):
    """Double opt-in: a request is kept, pending, until its address confirms it; and the requests that were made."""

    def add_pending(self, record: NewSubscriber, nonce: str, now: str, expires_at: str) -> int:
        """Keep a subscription until its address confirms it; returns its id. It replaces any earlier request for the
        same address, so only the latest link works, and expired requests are dropped on the way."""
        subscriptions = json.dumps([[d, list(t), list(r)] for d, t, r in record.subscriptions], ensure_ascii=False)
        with self.transaction():
            self.db.execute("DELETE FROM pending_subscribers WHERE lower(email) = lower(?) OR expires_at <= ?",
                            [record.email, now])
            return self._insert("pending_subscribers", {
                "email": record.email, "name": record.name, "language": record.language,
                "subscriptions": subscriptions, "nonce": nonce, "created_at": now, "expires_at": expires_at})

    def pending_subscriber(self, pending_id: int, now: str) -> dict[str, Any] | None:
        """A pending subscription that has not expired at ``now`` (None if there is none)."""
        return self._first("SELECT * FROM pending_subscribers WHERE id = ? AND expires_at > ?", [pending_id, now])

    def confirm_pending(self, pending_id: int, nonce: str, now: str) -> tuple[int, tuple[str, ...], bool] | None:
        """Make a pending subscription real: (subscriber id, its digests, whether it was confirmed before), or None
        when it has expired or was replaced. The first confirmation adds or updates the subscriber (an unsubscribed
        or bouncing address becomes active again: its owner has just shown that it reads its mail); later ones
        change nothing."""
        with self.transaction():
            row = self._first("SELECT * FROM pending_subscribers WHERE id = ? AND nonce = ? AND expires_at > ?",
                              [pending_id, nonce, now])
            if row is None:
                return None
            before = row["confirmed_at"] is not None
            subscriptions = tuple((d, tuple(t), tuple(r)) for d, t, r in json.loads(row["subscriptions"]))
            if not before:
                self.add_subscribers([NewSubscriber(row["email"], row["name"], row["language"], subscriptions)])
                self.db.execute("UPDATE pending_subscribers SET confirmed_at = ? WHERE id = ?", [now, pending_id])
            found = self.db.execute("SELECT id FROM subscribers WHERE lower(email) = lower(?)",
                                    [row["email"]]).fetchone()
        return int(found[0]), tuple(d for d, _, _ in subscriptions), before

    def purge_signups(self, now: str, requests_before: str) -> None:
        """Drop pending subscriptions expired at ``now`` and subscribe requests older than ``requests_before``."""
        with self.transaction():
            self.db.execute("DELETE FROM pending_subscribers WHERE expires_at <= ?", [now])
            self.db.execute("DELETE FROM subscribe_requests WHERE at < ?", [requests_before])

    def count_request(self, bucket: str, limit: int, since: str, now: str) -> bool:
        """Count one request in ``bucket`` unless it already holds ``limit`` since ``since``; False when over the
        limit (and nothing counted). Counting and checking are one transaction, so concurrent requests cannot all
        slip under the limit together."""
        with self.transaction():
            made = self.db.execute("SELECT count(*) FROM subscribe_requests WHERE bucket = ? AND at >= ?",
                                   [bucket, since]).fetchone()[0]
            if made >= limit:
                return False
            self._insert("subscribe_requests", {"bucket": bucket, "at": now})
        return True
