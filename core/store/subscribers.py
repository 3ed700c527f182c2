"""Mail's tables: ``subscribers``, their ``subscriptions`` to digests, the send log (``deliveries`` for mail,
``posts`` for chat groups and webhooks), and ``digest_drafts``, the issues an editor approved before they were sent.

The send log is written one row per transaction as each message goes out, so a send that dies part-way leaves a
log that says exactly who got the issue; a bounce marks its subscriber in that same transaction.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from policywatch.core.store.rows import Rows, now_iso

if TYPE_CHECKING:
    from collections.abc import Iterable

    from policywatch.core.model import NewSubscriber


def _text_list(cell: str | None) -> tuple[str, ...] | None:
    """A stored JSON list of names (topics, regions), or None for the digest's own; ValueError otherwise."""
    if not cell:
        return None
    value = json.loads(cell)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"not a JSON list of names: {cell!r}")
    return tuple(value)


class Subscribers(Rows):
    """Who receives which digest, and what happened to each message sent."""

    # -- subscribers ----------------------------------------------------------

    def add_subscribers(self, records: Iterable[NewSubscriber]) -> list[str]:
        """Add or update subscribers, all or none; one word each on what happened (added/updated/reactivated).

        An existing address keeps its other subscriptions; a name or language given replaces the stored
        one; an unsubscribed or bouncing address that is added again becomes active.
        """
        outcomes = []
        with self.transaction():
            for record in records:
                row = self.db.execute("SELECT id, status FROM subscribers WHERE lower(email) = lower(?)",
                                      [record.email]).fetchone()
                now = now_iso()
                if row is None:
                    subscriber_id = int(self.db["subscribers"].insert(
                        {"email": record.email, "name": record.name, "language": record.language,
                         "status": "active", "created_at": now, "updated_at": now}).last_pk)
                    outcomes.append("added")
                else:
                    subscriber_id, status = row
                    update = {"status": "active", "status_reason": None, "updated_at": now}
                    update |= {k: getattr(record, k) for k in ("name", "language") if getattr(record, k)}
                    self.db["subscribers"].update(subscriber_id, update)
                    outcomes.append("reactivated" if status != "active" else "updated")
                for digest, topics, regions in record.subscriptions:
                    self.db["subscriptions"].upsert(
                        {"subscriber_id": subscriber_id, "digest": digest,
                         "topics": json.dumps(topics, ensure_ascii=False) if topics else None,
                         "regions": json.dumps(regions, ensure_ascii=False) if regions else None},
                        pk=("subscriber_id", "digest"))
        return outcomes

    def remove_subscriber(self, email: str, digest: str | None = None) -> bool:
        """Forget an address (or only its subscription to ``digest``); False if there was nothing to remove.

        The send log keeps its rows: it records what was sent, to whom, whatever happens later.
        """
        with self.transaction():
            row = self.db.execute("SELECT id FROM subscribers WHERE lower(email) = lower(?)", [email]).fetchone()
            if row is None:
                return False
            if digest is None:
                self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ?", [row[0]])
                self.db.execute("DELETE FROM subscribers WHERE id = ?", [row[0]])
                return True
            cursor = self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ? AND digest = ?",
                                     [row[0], digest])
            return cursor.rowcount > 0

    def subscribers(self, digest: str | None = None, active_only: bool = False) -> list[dict[str, Any]]:
        """Subscribers (of one digest), oldest first, each with ``subscriptions``: digest → (topics, regions)."""
        sql = f"""SELECT s.*, {self.dialect.json_rows("c.digest", "c.topics", "c.regions")} AS subs
                   FROM subscribers s LEFT JOIN subscriptions c ON c.subscriber_id = s.id
                  WHERE (:active = 0 OR s.status = 'active')
                  GROUP BY s.id
                 HAVING :digest IS NULL OR count(CASE WHEN c.digest = :digest THEN 1 END) > 0
                  ORDER BY s.id"""
        rows = []
        for row in self.db.query(sql, {"digest": digest, "active": int(active_only)}):
            subs = json.loads(row.pop("subs"))
            row["subscriptions"] = {}
            for name, topics, regions in subs:
                if name is None:
                    continue
                try:
                    row["subscriptions"][name] = (_text_list(topics), _text_list(regions))
                except ValueError:  # written by hand: the row stays listed, and the send says what is wrong
                    row["subscriptions"][name] = (None, None)
                    row["problem"] = f"its topics or regions for {name!r} are not a JSON list of names"
            rows.append(row)
        return rows

    def subscriber(self, subscriber_id: int) -> dict[str, Any] | None:
        return next(iter(self.db.query("SELECT * FROM subscribers WHERE id = ?", [subscriber_id])), None)

    def subscription(self, subscriber_id: int, digest: str) -> dict[str, Any] | None:
        """One subscription with its subscriber's address, name, language and status, and its own ``topics`` and
        ``regions`` (None: the digest's); None when the subscriber has no such subscription."""
        row = self._first(
            """SELECT s.id, s.email, s.name, s.language, s.status, c.digest, c.topics, c.regions
                 FROM subscribers s JOIN subscriptions c ON c.subscriber_id = s.id
                WHERE s.id = ? AND c.digest = ?""", [subscriber_id, digest])
        if row is not None:
            try:
                row["topics"], row["regions"] = _text_list(row["topics"]), _text_list(row["regions"])
            except ValueError:  # written by hand: shown as the digest's, and replaced when preferences are saved
                row["topics"] = row["regions"] = None
        return row

    def set_preferences(
        self, subscriber_id: int, digest: str, topics: tuple[str, ...], regions: tuple[str, ...], language: str | None,
    ) -> bool:
        """Replace one subscription's topics and regions (empty: the digest's) and the subscriber's language (None:
        the digest's); False when there is no such subscription, and nothing is changed."""
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE subscriptions SET topics = ?, regions = ? WHERE subscriber_id = ? AND digest = ?",
                [json.dumps(topics, ensure_ascii=False) if topics else None,
                 json.dumps(regions, ensure_ascii=False) if regions else None, subscriber_id, digest])
            if cursor.rowcount == 0:
                return False
            self.db.execute("UPDATE subscribers SET language = ?, updated_at = ? WHERE id = ?",
                            [language, now_iso(), subscriber_id])
        return True

    def unsubscribe(self, subscriber_id: int, digest: str) -> bool:
        """End one subscription; an address left with none becomes 'unsubscribed'. False if already ended."""
        with self.transaction():
            cursor = self.db.execute("DELETE FROM subscriptions WHERE subscriber_id = ? AND digest = ?",
                                     [subscriber_id, digest])
            left = self.db.execute("SELECT count(*) FROM subscriptions WHERE subscriber_id = ?",
                                   [subscriber_id]).fetchone()[0]
            if not left:
                self.db.execute(
                    """UPDATE subscribers SET status = 'unsubscribed', status_reason = ?, updated_at = ?
                        WHERE id = ? AND status != 'unsubscribed'""",
                    [f"unsubscribe link ({digest})", now_iso(), subscriber_id])
            return cursor.rowcount > 0

    # -- the send log ---------------------------------------------------------

    def deliveries(self, digest: str, period: str) -> dict[int, dict[str, Any]]:
        """The send log of one digest issue: subscriber id → its row."""
        sql = "SELECT * FROM deliveries WHERE digest = ? AND period = ?"
        return {row["subscriber_id"]: row for row in self.db.query(sql, [digest, period])}

    def log_delivery(
        self, digest: str, period: str, subscriber_id: int, email: str, message_id: str, status: str,
        error: str | None = None, attempt: bool = False, bounce: bool = False,
    ) -> None:
        """Write one send-log row's new status in its own transaction.

        ``attempt`` counts a new try; ``bounce`` (a permanent refusal) also marks the subscriber
        'bouncing', in the same transaction, so the log and the subscriber never disagree.
        """
        with self.transaction():
            self.db.execute(
                """INSERT INTO deliveries (digest, period, subscriber_id, email, message_id, status, attempts,
                                           error, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (digest, period, subscriber_id) DO UPDATE SET
                       status = excluded.status, error = excluded.error, updated_at = excluded.updated_at,
                       attempts = deliveries.attempts + excluded.attempts""",
                [digest, period, subscriber_id, email, message_id, status, int(attempt), error, now_iso()])
            if bounce:
                self.db.execute(
                    "UPDATE subscribers SET status = 'bouncing', status_reason = ?, updated_at = ? WHERE id = ?",
                    [error, now_iso(), subscriber_id])

    def posts(self, digest: str, period: str) -> dict[str, dict[str, Any]]:
        """The chat posts of one digest issue: target (the URL's key, policywatch.core.notifyurl.key) → its row."""
        sql = "SELECT * FROM posts WHERE digest = ? AND period = ?"
        return {row["target"]: row for row in self.db.query(sql, [digest, period])}

    def log_post(
        self, digest: str, period: str, target: str, url: str, status: str, error: str | None = None,
        attempt: bool = False,
    ) -> None:
        """Write one post's new status in its own transaction, as :meth:`log_delivery` does for a message;
        ``url`` is the URL as it may be shown (its secrets left out), ``attempt`` counts a new try."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO posts (digest, period, target, url, status, attempts, error, updated_at)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT (digest, period, target) DO UPDATE SET
                       url = excluded.url, status = excluded.status, error = excluded.error,
                       updated_at = excluded.updated_at, attempts = posts.attempts + excluded.attempts""",
                [digest, period, target, url, status, int(attempt), error, now_iso()])

    # -- approved drafts ------------------------------------------------------

    def stored_draft(self, digest: str, period: str) -> dict[str, Any] | None:
        """The draft an editor approved for one issue (``text``, ``sent_at``), or None: the issue is automatic."""
        sql = "SELECT * FROM digest_drafts WHERE digest = ? AND period = ?"
        return next(iter(self.db.query(sql, [digest, period])), None)

    def stored_drafts(self) -> dict[tuple[str, str], str]:
        """Every approved draft's text, by (digest, period): the issues the archive shows as they were sent."""
        return {(row["digest"], row["period"]): row["text"]
                for row in self.db.query("SELECT digest, period, text FROM digest_drafts")}

    def save_draft(self, digest: str, period: str, text: str) -> None:
        """Keep the approved draft of an issue as it goes out; the same text again keeps its first send time."""
        with self.transaction():
            self.db.execute(
                """INSERT INTO digest_drafts (digest, period, text, sent_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (digest, period) DO UPDATE SET text = excluded.text, sent_at = excluded.sent_at
                   WHERE digest_drafts.text != excluded.text""",
                [digest, period, text, now_iso()])
