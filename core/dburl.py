"""Where the database is: a SQLite file path, or a ``postgresql://`` URL, told apart, checked and shown safely.

The config, the store and the CLI's messages all need to know which of the two a ``db`` value is, and none of
them may ever show a URL's password; this module is that one rule, with no dependency of its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

PG_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*):[^@/]*@")


def is_postgres(target: str | Path) -> bool:
    """Whether ``target`` names a PostgreSQL database (a URL), not a SQLite file."""
    return isinstance(target, str) and target.split("://", 1)[0].lower() in PG_SCHEMES and "://" in target


def scheme(value: str) -> str | None:
    """The URL scheme ``value`` starts with (``mysql`` of ``mysql://…``), or None for a plain path."""
    match = _SCHEME.match(value)
    return match.group(1).lower() if match else None


def mask(target: str | Path) -> str:
    """``target`` as it may be shown: a URL's password replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", str(target))


def check_postgres_url(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL (None if nothing): it needs a host or socket folder and a database."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"not a valid PostgreSQL URL ({e})"
    if parts.fragment:
        return "a PostgreSQL URL has no #fragment"
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        return "a PostgreSQL URL names one database: postgresql://user:password@host:5432/database"
    if not parts.hostname and "host=" not in parts.query:
        return "a PostgreSQL URL names its host: postgresql://user:password@host:5432/database"
    if port == 0:
        return "port 0 is no PostgreSQL port"
    return None


def location(url: str) -> str:
    """host:port/database of a PostgreSQL URL, for messages (no user, no password)."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{host}:{parts.port or 5432}/{unquote(parts.path.lstrip('/'))}"
