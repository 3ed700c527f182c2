"""Unsubscribe tokens: ``<subscriber id>.<digest>.<signature>``, signed with a secret from the environment.

The signature (HMAC-SHA256, truncated to 128 bits) covers the id, the digest and the subscriber's address,
so a token cannot be forged, moved to another digest, or reused by whoever later gets the same id.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

_TOKEN = re.compile(r"^(\d+)\.([a-z0-9][a-z0-9-]*)\.([A-Za-z0-9_-]{22})$")


class TokenError(ValueError):
    """A token that is malformed, forged, or names nobody; ``str()`` says which."""


def secret_from(env_name: str) -> bytes:
    """The signing secret, from the environment variable the config names."""
    value = os.environ.get(env_name, "")
    if len(value) < 16:
        problem = "is not set" if not value else "is shorter than 16 characters"
        raise TokenError(f"environment variable {env_name} {problem}: unsubscribe links are signed with it")
    return value.encode("utf-8")


def make_token(secret: bytes, subscriber_id: int, digest: str, email: str) -> str:
    return f"{subscriber_id}.{digest}.{_signature(secret, subscriber_id, digest, email)}"


def parse_token(token: str) -> tuple[int, str]:
    """(subscriber id, digest) of a well-formed token; its signature is checked by :func:`verify`."""
    match = _TOKEN.match(token.strip())
    if match is None:
        raise TokenError(f"{token!r} is not an unsubscribe token (expected <id>.<digest>.<signature>)")
    return int(match[1]), match[2]


def verify(secret: bytes, token: str, email: str) -> None:
    subscriber_id, digest = parse_token(token)
    expected = _signature(secret, subscriber_id, digest, email)
    if not hmac.compare_digest(expected, token.strip().rsplit(".", 1)[1]):
        raise TokenError("unsubscribe token has a wrong signature (forged, or signed with another secret)")


def _signature(secret: bytes, subscriber_id: int, digest: str, email: str) -> str:
    message = f"unsubscribe\n{subscriber_id}\n{digest}\n{email.lower()}".encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")
