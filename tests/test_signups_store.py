"""The subscription page's tables (migration m011) on SQLite and PostgreSQL alike: pending subscriptions, their
confirmation, expiry and purge, the rate limits' counts, and a subscription's preferences."""

from __future__ import annotations

from policywatch.core.model import NewSubscriber

NOW = "2024-01-10T08:00:00+00:00"
LATER = "2024-01-12T08:00:00+00:00"  # 48 hours on


def record(email: str, *digests: str, language: str | None = None) -> NewSubscriber:
    return NewSubscriber(email, "李雷", language, tuple((d, ("gene",), ("上海市",)) for d in digests))


def test_a_pending_subscription_is_confirmed_once_and_replaced_by_a_newer_request(db_target, open_store) -> None:
    store = open_store(db_target)
    first = store.add_pending(record("Li@Example.org", "monthly"), "nonce-1", NOW, LATER)
    second = store.add_pending(record("li@example.org", "weekly"), "nonce-2", NOW, LATER)  # the same address
    assert store.pending_subscriber(second, NOW)["nonce"] == "nonce-2"
    assert store.db.execute("SELECT count(*) FROM pending_subscribers").fetchone()[0] == 1
    # SQLite may give the new request the old one's id: the nonce, signed into each link, tells them apart.
    assert store.confirm_pending(first, "nonce-1", NOW) is None
    assert store.confirm_pending(second, "nonce-1", NOW) is None  # the nonce is the request's own
    assert store.subscribers() == []

    subscriber_id, digests, before = store.confirm_pending(second, "nonce-2", NOW)
    assert (digests, before) == (("weekly",), False)
    [row] = store.subscribers()
    assert (row["id"], row["email"], row["name"], row["status"]) == (subscriber_id, "li@example.org", "李雷", "active")
    assert row["subscriptions"] == {"weekly": (("gene",), ("上海市",))}
    assert store.confirm_pending(second, "nonce-2", NOW) == (subscriber_id, ("weekly",), True)
    assert len(store.subscribers()) == 1


def test_confirming_reactivates_an_unsubscribed_address_and_keeps_its_other_subscriptions(db_target, open_store):
    store = open_store(db_target)
    store.add_subscribers([NewSubscriber("li@example.org", None, None, (("monthly", (), ()), ("weekly", (), ())))])
    [row] = store.subscribers()
    store.unsubscribe(row["id"], "monthly")
    store.unsubscribe(row["id"], "weekly")
    assert store.subscribers()[0]["status"] == "unsubscribed"
    pending = store.add_pending(record("li@example.org", "monthly", language="en"), "n", NOW, LATER)
    assert store.confirm_pending(pending, "n", NOW)[0] == row["id"]
    [row] = store.subscribers()
    assert (row["status"], row["language"], list(row["subscriptions"])) == ("active", "en", ["monthly"])


def test_expired_requests_are_not_found_and_are_purged(db_target, open_store) -> None:
    store = open_store(db_target)
    pending = store.add_pending(record("li@example.org", "monthly"), "n", NOW, LATER)
    assert store.pending_subscriber(pending, "2024-01-12T07:59:59+00:00") is not None
    assert store.pending_subscriber(pending, LATER) is None
    assert store.confirm_pending(pending, "n", LATER) is None
    store.purge_signups("2024-01-12T07:59:59+00:00", NOW)
    assert store.db.execute("SELECT count(*) FROM pending_subscribers").fetchone()[0] == 1
    store.purge_signups(LATER, NOW)
    assert store.db.execute("SELECT count(*) FROM pending_subscribers").fetchone()[0] == 0
    assert store.subscribers() == []


def test_request_counts_stop_at_the_limit_within_the_window(db_target, open_store) -> None:
    store = open_store(db_target)
    since = "2024-01-10T07:00:00+00:00"
    assert [store.count_request("client:a", 2, since, NOW) for _ in range(3)] == [True, True, False]
    assert store.count_request("client:b", 2, since, NOW)  # each bucket its own
    assert store.db.execute("SELECT count(*) FROM subscribe_requests").fetchone()[0] == 3  # the refusal is not counted
    assert store.count_request("client:a", 2, "2024-01-10T08:00:01+00:00", "2024-01-10T09:00:01+00:00")
    store.purge_signups(NOW, "2024-01-10T08:00:01+00:00")
    assert store.db.execute("SELECT count(*) FROM subscribe_requests").fetchone()[0] == 1


def test_preferences_replace_one_subscription_and_the_language(db_target, open_store) -> None:
    store = open_store(db_target)
    store.add_subscribers([NewSubscriber("li@example.org", None, "en", (("monthly", ("gene",), ()),
                                                                        ("weekly", (), ())))])
    [row] = store.subscribers()
    assert store.subscription(row["id"], "monthly") | {"id": 0} == {
        "id": 0, "email": "li@example.org", "name": None, "language": "en", "status": "active", "digest": "monthly",
        "topics": ("gene",), "regions": None}
    assert store.set_preferences(row["id"], "monthly", (), ("上海市", "广东省"), None)
    assert not store.set_preferences(row["id"], "daily", ("gene",), (), "en")
    [row] = store.subscribers()
    assert row["subscriptions"] == {"monthly": (None, ("上海市", "广东省")), "weekly": (None, None)}
    assert row["language"] is None
    assert store.subscription(row["id"], "daily") is None
