"""What every concern of the Store shares: timestamps and the few row helpers each of them writes through.

``_insert``, ``_update`` and ``_first`` are the crawl's hot path in plain SQL, ``_where_in`` reads by many keys, and
``_find_document`` / ``_version`` are the two lookups both the crawl's writes and the reports' reads start from.
Keeping them here, once, lets the concern modules (documents, reads, subscribers, operations) stay plain lists of
statements.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from policywatch.core.store.connection import Connection

if TYPE_CHECKING:
    from collections.abc import Iterable


def now_iso() -> str:
    """Timestamps are UTC ISO-8601 strings, so they sort and compare as text."""
    return datetime.now(UTC).isoformat(timespec="seconds")


class Rows(Connection):
    """The connection plus the row helpers; every concern mixin of ``Store`` derives from it."""

    def _insert(self, table: str, row: dict[str, Any], replace: bool = False) -> int:
        """INSERT one row (``replace``: in place of the row with its primary key), returning its id: the crawl's
        hot path, in plain SQL (sqlite-utils would re-read the table's schema on every call)."""
        return self.dialect.insert(table, row, replace)

    def _update(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        """UPDATE one row by id, in plain SQL like ``_insert``."""
        sql = f"UPDATE {table} SET {', '.join(f'{column} = ?' for column in values)} WHERE id = ?"
        self.db.conn.execute(sql, [*values.values(), row_id])

    def _where_in(self, sql: str, keys: Iterable[Any], chunk: int = 500) -> list[tuple[Any, ...]]:
        """Rows of ``sql`` whose one ``IN ({})`` takes the keys, a chunk at a time (SQLite caps parameters)."""
        keys, rows = sorted(set(keys)), []
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            rows += self.db.execute(sql.format(", ".join("?" * len(part))), part).fetchall()
        return rows

    def _first(self, sql: str, params: list[Any]) -> dict[str, Any] | None:
        """The first row of a read as a dict (None if none): the crawl's per-page lookups, in plain SQL
        (sqlite-utils' ``query`` wraps every statement in a savepoint of its own, two statements more)."""
        cursor = self.db.conn.execute(sql, params)
        row = cursor.fetchone()
        return None if row is None else dict(zip([column[0] for column in cursor.description], row, strict=True))

    def _find_document(self, url: str, fetch_url: str) -> dict[str, Any] | None:
        """The document whose canonical URL is ``url``, else one whose fetch URL is ``fetch_url`` (None if neither)."""
        return self._first(
            "SELECT * FROM documents WHERE url = ? OR fetch_url = ? ORDER BY CASE WHEN url = ? THEN 0 ELSE 1 END "
            "LIMIT 1", [url, fetch_url, url],
        )

    def _version(self, version_id: int | None) -> dict[str, Any] | None:
        """One version row by id (None for a document with no version yet)."""
        if version_id is None:
            return None
        return self._first("SELECT * FROM versions WHERE id = ?", [version_id])
