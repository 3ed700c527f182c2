"""A chat service's answer to a post, read with a size cap and a deadline.

Apprise posts through ``requests``, which reads the whole answer into memory before the plugin sees its status, and
whose timeout is per read, not per answer: a webhook that answers 200 and then sends a byte a second holds a
`digest send` (and serve's delivery) for ever, and one that sends gigabytes takes as many of memory. While
:func:`capped` is in force in a thread, every answer that thread's ``requests`` gets is read here instead: at most
``most`` bytes, before ``seconds`` have passed since the post began (chat.post gives a URL whose ``rto`` allows a
slow service more time to answer twice its ``rto``); past either, the answer is dropped and the
request fails with :class:`UnreadAnswer` (a ``requests`` error, which Apprise reports as a connection error: the
post is *in doubt*, see :mod:`policywatch.deliver.chat`).

The reading is a response hook on every ``requests`` session (``requests.sessions.default_hooks``, wrapped once
per process); outside :func:`capped` it does nothing, so other users of ``requests`` in the process are untouched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import urllib3

ANSWER_BYTES = 65_536  # more than any chat service's answer to a post (a few hundred bytes of JSON)
ANSWER_SECONDS = 30.0  # from the start of the post to the answer's last byte
_READ = 16_384
_budget = threading.local()  # (most bytes, deadline) while a post is under way in this thread
_installed = threading.Lock()


class UnreadAnswer(requests.exceptions.RequestException):
    """The answer was too large or too slow to read: the service may have taken the post."""


@contextmanager
def capped(most: int | None = None, seconds: float | None = None) -> Iterator[None]:
    """Within the block, this thread's ``requests`` answers are read by :func:`_read_capped`: at most ``most``
    bytes (ANSWER_BYTES), within ``seconds`` (ANSWER_SECONDS) of the block's start."""
    _install()
    most = ANSWER_BYTES if most is None else most
    seconds = ANSWER_SECONDS if seconds is None else seconds
    _budget.value = (most, time.monotonic() + seconds, seconds)
    try:
        yield
    finally:
        _budget.value = None


def _install() -> None:
    with _installed:
        if getattr(requests.sessions.default_hooks, "capped", False):
            return
        original = requests.sessions.default_hooks

        def default_hooks() -> dict[str, list[Any]]:
            hooks = original()
            hooks["response"].append(_read_capped)
            return hooks

        default_hooks.capped = True  # type: ignore[attr-defined]
        requests.sessions.default_hooks = default_hooks


def _read_capped(response: requests.Response, **kwargs: Any) -> requests.Response:
    """Read ``response``'s body as the thread's budget allows (a response hook: it runs before requests reads the
    body itself, which it then no longer does)."""
    budget = getattr(_budget, "value", None)
    if budget is None or kwargs.get("stream"):
        return response
    most, deadline, seconds = budget
    body = bytearray()
    try:
        while chunk := response.raw.read1(_READ, decode_content=True):  # what has come, not a full buffer
            body += chunk
            if len(body) > most:
                raise UnreadAnswer(f"answer not read: longer than {most:,} bytes")
            if time.monotonic() > deadline:
                raise UnreadAnswer(f"answer not read: still arriving {seconds:g} s after the post began")
    except urllib3.exceptions.ReadTimeoutError as e:
        response.close()
        raise requests.exceptions.ReadTimeout(f"Read timed out: {e}") from None
    except urllib3.exceptions.HTTPError as e:
        response.close()
        raise requests.exceptions.ConnectionError(f"{type(e).__name__}: {e}") from None
    except UnreadAnswer:
        response.close()
        raise
    response._content = bytes(body)  # as Response.content leaves it after reading the body itself
    response._content_consumed = True
    return response
