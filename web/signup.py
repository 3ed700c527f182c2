"""What the subscription page does with the store, without HTTP: ask for a subscription, confirm it, read and
change a subscription by its token, end it.

Every function takes the moment it acts at (``now``), so expiry is decided by the app's clock. Tokens are checked
here, before anything is read or written on their behalf; a bad one is a TokenError whose text is the one line a
page shows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from policywatch.deliver.subscribers import new_subscriber, token_subscriber
from policywatch.deliver.tokens import (
    TokenError,
    make_confirm_token,
    make_token,
    parse_confirm_token,
    verify_confirm_token,
)
from policywatch.web.limits import WINDOW, address_bucket, client_bucket, iso, take

if TYPE_CHECKING:
    from policywatch.core.config import Config, WebSettings
    from policywatch.core.model import NewSubscriber
    from policywatch.core.store import Store

GONE = "this confirmation link has expired, or a newer request for the address replaced it: subscribe again"


class TooManyRequests(Exception):
    """This client asked too often in the last hour; ``str()`` says so in one line."""


@dataclass(frozen=True)
class Confirmation:
    """The confirmation mail to send: to whom, for which digests, the link, and when the link stops working."""

    email: str
    name: str | None
    digests: tuple[str, ...]
    link: str
    expires: datetime


@dataclass(frozen=True)
class Confirmed:
    """A confirmed subscription: the address, a token per digest (for preferences and unsubscribing), and whether
    the link had been used before."""

    email: str
    tokens: dict[str, str]
    before: bool


def purge(store: Store, now: datetime) -> None:
    """Drop the pending subscriptions expired at ``now``, and request counts too old to count."""
    store.purge_signups(iso(now), iso(now - WINDOW))


def request_subscription(
    store: Store, web: WebSettings, secret: bytes, record: NewSubscriber, client: str | None, now: datetime,
) -> Confirmation | None:
    """Keep ``record`` pending and return the mail that confirms it; None when the address has had its share of
    mails this hour (then nothing is kept and nothing sent, and the answer does not say so). TooManyRequests when
    the client has asked too often (nothing is kept)."""
    purge(store, now)
    if not take(store, client_bucket(secret, client), web.subscribe_per_client, now):
        raise TooManyRequests(f"more than {web.subscribe_per_client} subscribe requests from your network in an "
                              "hour: try again later")
    if not take(store, address_bucket(secret, record.email), web.subscribe_per_address, now):
        return None
    nonce = secrets.token_urlsafe(16)
    expires = (now + timedelta(hours=web.confirm_hours)).replace(microsecond=0)
    pending_id = store.add_pending(record, nonce, iso(now), iso(expires))
    token = make_confirm_token(secret, pending_id, int(expires.timestamp()), nonce, record.email)
    return Confirmation(record.email, record.name, tuple(d for d, _, _ in record.subscriptions),
                        f"{web.url}confirm?token={token}", expires)


def confirm(store: Store, secret: bytes, token: str, now: datetime) -> Confirmed:
    """Activate the pending subscription ``token`` names (once; a second use says it was confirmed already)."""
    pending_id, _ = parse_confirm_token(token)
    row = store.pending_subscriber(pending_id, iso(now))
    if row is None:
        raise TokenError(GONE)
    verify_confirm_token(secret, token, row["nonce"], row["email"], now.timestamp())
    done = store.confirm_pending(pending_id, row["nonce"], iso(now))
    if done is None:  # replaced or expired between the two reads
        raise TokenError(GONE)
    subscriber_id, digests, before = done
    return Confirmed(row["email"], {d: make_token(secret, subscriber_id, d, row["email"]) for d in digests}, before)


def subscription(store: Store, secret: bytes, token: str) -> tuple[dict[str, Any], str, dict[str, Any] | None]:
    """(subscriber, digest, subscription) of an unsubscribe token; the subscription is None once it has ended."""
    subscriber, digest = token_subscriber(store, secret, token)
    return subscriber, digest, store.subscription(subscriber["id"], digest)


def unsubscribe(store: Store, secret: bytes, token: str) -> tuple[str, str, bool]:
    """End the subscription an unsubscribe token names: (address, digest, whether it was still running)."""
    subscriber, digest = token_subscriber(store, secret, token)
    return str(subscriber["email"]), digest, store.unsubscribe(subscriber["id"], digest)


def save_preferences(
    store: Store, config: Config, secret: bytes, token: str, topics: tuple[str, ...], regions: tuple[str, ...],
    language: str | None,
) -> bool:
    """Replace a subscription's topics and regions and its subscriber's language, checked as `subscribers add`
    checks them (policywatch.deliver.subscribers.SubscriberError); False when the subscription has ended."""
    subscriber, digest = token_subscriber(store, secret, token)
    checked = new_subscriber(config, str(subscriber["email"]), (digest,), None, topics, regions, language)
    return store.set_preferences(subscriber["id"], digest, topics, regions, checked.language)
