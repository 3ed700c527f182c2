"""Signed tokens, with a secret from the environment: unsubscribe links, subscription confirmations, form tokens.

Every signature is an HMAC-SHA256 (truncated to 128 bits) over a purpose word and the token's fields, so a token
made for one purpose is worthless for another, and signatures are compared in constant time.

- Unsubscribe: ``<subscriber id>.<digest>.<signature>``, over the id, the digest and the subscriber's address, so
  it cannot be forged, moved to another digest, or reused by whoever later gets the same id. It never expires: it
  sits in every mail sent, and a reader may unsubscribe from an old one.
- Confirmation: ``<pending id>.<expires>.<signature>``, over the pending subscription's id, its expiry (Unix
  seconds), its random nonce and its address; a new request for the same address gets a new nonce, so only the
  latest link works.
- Form (CSRF): ``<expires>.<signature>``, over the browser's random cookie and the expiry, so a page elsewhere
  cannot post the form for someone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re

_TOKEN = re.compile(r"^(\d{1,18})\.([a-z0-9][a-z0-9-]*)\.([A-Za-z0-9_-]{22})$")
_CONFIRM = re.compile(r"^(\d{1,18})\.(\d{1,12})\.([A-Za-z0-9_-]{22})$")
_FORM = re.compile(r"^(\d{1,12})\.([A-Za-z0-9_-]{22})$")


class TokenError(ValueError):
    """A token that is malformed, forged, expired or names nobody; ``str()`` says which."""


def secret_from(env_name: str) -> bytes:
    """The signing secret, from the environment variable the config names."""
    value = os.environ.get(env_name, "")
    if len(value) < 16:
        problem = "is not set" if not value else "is shorter than 16 characters"
        raise TokenError(f"environment variable {env_name} {problem}: unsubscribe links are signed with it")
    return value.encode("utf-8")


def sign(secret: bytes, purpose: str, *fields: object) -> str:
    """The signature of ``fields`` for ``purpose``: 22 URL-safe characters."""
    message = "\n".join([purpose, *map(str, fields)]).encode()
    mac = hmac.new(secret, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def _check(secret: bytes, signature: str, purpose: str, *fields: object) -> bool:
    return hmac.compare_digest(sign(secret, purpose, *fields), signature)


# -- unsubscribe ---------------------------------------------------------------


def make_token(secret: bytes, subscriber_id: int, digest: str, email: str) -> str:
    return f"{subscriber_id}.{digest}.{sign(secret, 'unsubscribe', subscriber_id, digest, email.lower())}"


def parse_token(token: str) -> tuple[int, str]:
    """(subscriber id, digest) of a well-formed token; its signature is checked by :func:`verify`."""
    match = _TOKEN.match(token.strip())
    if match is None:
        raise TokenError(f"{_shown(token)} is not an unsubscribe token (expected <id>.<digest>.<signature>)")
    return int(match[1]), match[2]


def verify(secret: bytes, token: str, email: str) -> None:
    subscriber_id, digest = parse_token(token)
    if not _check(secret, token.strip().rsplit(".", 1)[1], "unsubscribe", subscriber_id, digest, email.lower()):
        raise TokenError("unsubscribe token has a wrong signature (forged, or signed with another secret)")


# -- confirming a subscription -------------------------------------------------


def make_confirm_token(secret: bytes, pending_id: int, expires: int, nonce: str, email: str) -> str:
    return f"{pending_id}.{expires}.{sign(secret, 'confirm', pending_id, expires, nonce, email.lower())}"


def parse_confirm_token(token: str) -> tuple[int, int]:
    """(pending id, expiry in Unix seconds) of a well-formed token; checked by :func:`verify_confirm_token`."""
    match = _CONFIRM.match(token.strip())
    if match is None:
        raise TokenError(f"{_shown(token)} is not a confirmation token (expected <id>.<expires>.<signature>)")
    return int(match[1]), int(match[2])


def verify_confirm_token(secret: bytes, token: str, nonce: str, email: str, now: float) -> None:
    """Raise TokenError unless ``token`` was made for this pending subscription and has not expired at ``now``."""
    pending_id, expires = parse_confirm_token(token)
    if not _check(secret, token.strip().rsplit(".", 1)[1], "confirm", pending_id, expires, nonce, email.lower()):
        raise TokenError("confirmation link has a wrong signature (forged, or replaced by a newer request)")
    if now >= expires:
        raise TokenError("confirmation link has expired: subscribe again")


# -- forms (CSRF) --------------------------------------------------------------


def make_form_token(secret: bytes, cookie: str, expires: int) -> str:
    return f"{expires}.{sign(secret, 'form', cookie, expires)}"


def verify_form_token(secret: bytes, token: str, cookie: str, now: float) -> None:
    """Raise TokenError unless ``token`` was made for this browser's cookie and has not expired at ``now``."""
    match = _FORM.match(token.strip())
    if match is None or not cookie or not _check(secret, match[2], "form", cookie, int(match[1])):
        raise TokenError("the form's security token is missing or does not match this browser's cookie: "
                         "reload the page and send the form again")
    if now >= int(match[1]):
        raise TokenError("the form has expired: reload the page and send it again")


def _shown(token: str) -> str:
    """A token as an error message quotes it: at most 40 characters."""
    return repr(token[:40] + "…" if len(token) > 40 else token)
