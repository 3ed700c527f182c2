"""Chat and webhook addresses (Apprise URLs: ``wecombot://KEY``, ``json://host/path``): checked, named and shown.

A webhook URL is a password: whoever has a WeCom or DingTalk bot's key can post to its group. The config, the send
log and every message need to tell such URLs apart without ever showing one, and this module is that one rule:
:func:`problem` says what is wrong with a URL (Apprise itself judges, without sending anything), :func:`shown` is
the URL as it may be printed or logged, :func:`redact` takes its secrets out of any other text (a library's error
message), and :func:`key` names it in state.db. Apprise is imported only when a URL is checked, so a config
without ``notify`` never loads it.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import unquote

MAX_LENGTH = 2000  # characters: no service's URL is longer, and a longer one is a mistake
EXAMPLES = "wecombot://, dingtalk://, feishu://, slack://, tgram:// or json:// for any webhook"
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$", re.S)
_HOST = re.compile(r"^(?:localhost|(?:[A-Za-z0-9-]+\.)+[A-Za-z0-9-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
_SHORT = 8  # a path segment up to this long is shown as it is; longer ones may be tokens
_SPLIT = re.compile(r"[/:@?&=#,;+]")


def problem(url: str) -> str | None:
    """What is wrong with ``url`` as an Apprise URL (None if nothing), in words that never repeat its secrets."""
    if not url.strip():
        return "empty"
    if len(url) > MAX_LENGTH:
        return f"longer than {MAX_LENGTH} characters"
    if any(c.isspace() or not c.isprintable() for c in url.strip()):
        return "it contains spaces or control characters"
    match = _URL.match(url.strip())
    if match is None:
        return f"not a URL: an Apprise URL starts with its service's scheme, like {EXAMPLES}"
    if instantiate(url) is not None:
        return None
    scheme = match.group(1).lower()
    plugins = _manager()
    if scheme in ("http", "https"):
        return ("a web address that Apprise does not know as a service's webhook: write it with the service's "
                f"scheme ({EXAMPLES}; jsons:// for https)")
    if scheme not in plugins:
        return f"unknown notification scheme '{scheme}://' (Apprise knows e.g. {EXAMPLES})"
    plugin = plugins[scheme]
    if not plugin.enabled:
        return f"{plugin.service_name} ({scheme}://) is not available on this system"
    return f"not a valid {plugin.service_name} URL (see README, Chat groups, for its form)"


def instantiate(url: str) -> Any:
    """Apprise's plugin object for ``url``, or None when Apprise cannot use it. Nothing is sent."""
    return apprise().Apprise.instantiate(url.strip(), asset=_asset(), suppress_exceptions=True)


def apprise() -> Any:
    """The apprise module, its log kept to itself from its first line (policywatch.core.apprise_log)."""
    from policywatch.core import apprise_log

    apprise_log.quiet()
    import apprise as module

    return module


def shown(url: str) -> str:
    """``url`` as messages and logs may show it: scheme, a host name or address, short path segments and the port
    as written; what may be a secret (a user and password, a key or token in the host or a long path segment, the
    query) abbreviated to its first and last character or left out."""
    url = "".join(c for c in url.strip() if c.isprintable() and not c.isspace())
    match = _URL.match(url)
    if match is None:
        return _abbreviate(url) if url else "''"
    scheme, netloc, path, query, fragment = match.groups()
    userinfo, _, host = netloc.rpartition("@")
    parts = [f"{scheme}://", "***@" if userinfo else "", host if _HOST.match(host) else _abbreviate(host)]
    parts += ["/".join(s if len(s) <= _SHORT else _abbreviate(s) for s in path.split("/"))]
    parts += ["?…" if query else "", "#…" if fragment else ""]
    return "".join(parts)


def secrets(url: str) -> list[str]:
    """The pieces of ``url`` that :func:`shown` hides, longest first (each also percent-decoded)."""
    visible = shown(url)
    pieces: set[str] = set()
    match = _URL.match(url.strip())
    rest = url.strip()[len(match.group(1)) + 3:] if match else url.strip()
    for piece in [rest, *_SPLIT.split(rest), *(match.groups()[1:] if match else ())]:
        for variant in (piece, unquote(piece or "")):
            if variant and len(variant) >= 3 and variant not in visible:
                pieces.add(variant)
    return sorted(pieces, key=len, reverse=True)


def redact(text: str, url: str) -> str:
    """``text`` (an error message, a library's log line) with every secret piece of ``url`` replaced by ***."""
    for piece in secrets(url):
        text = text.replace(piece, "***")
    return text


def key(url: str) -> str:
    """How state.db names ``url``: a hash of it as written, so the send log can say "already posted here" without
    holding the URL; another spelling of the same address is another target."""
    return hashlib.sha256(url.strip().encode("utf-8")).hexdigest()


def _abbreviate(text: str) -> str:
    """A possible secret as Apprise's own privacy mode shows one: its first and last character."""
    return text if len(text) <= 2 else f"{text[0]}…{text[-1]}"


def _manager() -> Any:
    return apprise().NotificationManager()


def _asset() -> Any:
    """PolicyWatch's name where a service shows the sender (User-Agent, a card's footer)."""
    return apprise().AppriseAsset(app_id="PolicyWatch", app_desc="PolicyWatch policy change monitor",
                                app_url="https://github.com/policywatch")
