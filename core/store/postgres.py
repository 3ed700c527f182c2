"""The PostgreSQL database under a Store (``db = "postgresql://…"``): the connection, its schema and its locks.

The concern modules and the migrations are written once, for sqlite-utils' ``Database``; ``PgDatabase`` is the
small part of that interface they use (``execute``, ``query``, ``db["table"].insert/update/upsert/count/rows``
and the migrations' ``create``, ``add_column`` and ``create_index``), over one psycopg connection. Parameters
are bound on the client (``?`` and ``:name`` become psycopg's), so SQL written for SQLite runs as it is.

What is PostgreSQL's own lives here: migrations tracked in ``policywatch_migrations`` and applied in one
transaction under an advisory lock; write transactions (READ COMMITTED: writers that may insert the same row use
``ON CONFLICT``); read-only stores as read-only sessions; and run locks as session advisory locks, held on a
connection of their own while the run lives, so any machine can tell a live run from a dead one.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import psycopg

from policywatch.core.dburl import location, mask
from policywatch.core.store.errors import BUSY_WAIT, Held, StoreError, lock_key
from policywatch.core.store.schema import migrations

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

MIGRATIONS_TABLE = "policywatch_migrations"
MIGRATION_LOCK = 0x706F6C6963  # pg_advisory_lock key: one schema upgrade at a time
WRITE_LOCK = 0x7077726974  # pg_advisory_xact_lock key: one write transaction at a time (see ``transaction``)
RUN_LOCK = 0x7077  # first key of a run's advisory lock; the run id is the second
NAMED_LOCK = 0x706E6C6B  # pg_advisory_lock key of a named lock (``exclusive``): one bigint from the name
_TYPES = {int: "BIGINT", str: "TEXT", bytes: "BYTEA", float: "DOUBLE PRECISION"}
# A string literal, a quoted name, a ``::`` cast, a ``?`` or ``:name`` parameter, or a ``%``.
_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|(?<![:\w]):([A-Za-z_]\w*)|%")
# A string the attachments column holds, as a JSON list or nothing (NULL for anything else), like json_valid.
_JSON_LIST = """CREATE OR REPLACE FUNCTION policywatch_json_list(value text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN CASE WHEN jsonb_typeof(value::jsonb) = 'array' THEN value::jsonb END;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$"""

_RUN_LOCKS: dict[tuple[str, int], psycopg.Connection[Any]] = {}  # (URL, run) → the connection holding its lock


@lru_cache(maxsize=512)
def _translate(sql: str, named: bool) -> str:
    """SQLite-style parameters (``?``, or ``:name`` when ``named``) as psycopg's, every other ``%`` doubled."""

    def token(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "%" or text.startswith("'"):
            return text.replace("%", "%%")
        if text == "?" and not named:
            return "%s"
        if match.group(1) and named:
            return f"%({match.group(1)})s"
        return text

    return _TOKEN.sub(token, sql)


def _connect(url: str, read_only: bool) -> psycopg.Connection[Any]:
    """A connection in autocommit (each write transaction is explicit), binding parameters on the client."""
    try:
        conn = psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor, connect_timeout=10)
    except psycopg.Error as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise StoreError(f"cannot reach PostgreSQL at {location(url)}: {mask(first)}") from None
    conn.execute(f"SET lock_timeout = '{int(BUSY_WAIT)}s'")
    if read_only:
        conn.execute("SET default_transaction_read_only = on")
    return conn


class Inserted:
    """What ``PgTable.insert`` returns: the new row's primary key, as sqlite-utils' ``Table.last_pk``."""

    def __init__(self, last_pk: Any) -> None:
        self.last_pk = last_pk


class PgDatabase:
    """The part of sqlite-utils' ``Database`` the store and the migrations use, over a psycopg connection."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._keys: dict[str, tuple[str, ...]] = {}  # table → primary key; "*table" → every column

    @property
    def conn(self) -> PgDatabase:
        """``db.conn.execute`` as sqlite3's: the same statements, through the same translation."""
        return self

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> psycopg.Cursor[Any]:
        if params is None:
            return self._conn.execute(sql)
        named = isinstance(params, dict)
        return self._conn.execute(_translate(sql, named), params if named else list(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(_translate(sql, False), [list(row) for row in rows])

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        cursor = self.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def __getitem__(self, table: str) -> PgTable:
        return PgTable(self, table)

    def close(self) -> None:
        self._conn.close()

    def primary_key(self, table: str) -> tuple[str, ...]:
        """A table's primary key columns, read from the catalog once per connection."""
        if table not in self._keys:
            rows = self._conn.execute(
                """SELECT a.attname FROM pg_index i
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                    WHERE i.indrelid = %s::regclass AND i.indisprimary
                    ORDER BY array_position(i.indkey::int2[], a.attnum)""", [table]).fetchall()
            self._keys[table] = tuple(row[0] for row in rows)
        return self._keys[table]

    def insert_row(self, table: str, row: dict[str, Any], conflict: str = "error") -> Any:
        """INSERT one row, returning its ``id`` (None for a table keyed otherwise). ``conflict``: "replace" puts
        it in place of the row with its primary key, "update" sets only its columns there (sqlite-utils' upsert)."""
        key = self.primary_key(table)
        sql = f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})"
        if conflict != "error":
            others = [c for c in row if c not in key]
            if conflict == "replace":  # every other column as the new row has it, as INSERT OR REPLACE would
                others = [c for c in self._columns(table) if c not in key]
            values = ", ".join(f"{c} = EXCLUDED.{c}" if c in row else f"{c} = NULL" for c in others)
            sql += f" ON CONFLICT ({', '.join(key)}) " + (f"DO UPDATE SET {values}" if values else "DO NOTHING")
        returning = key == ("id",)
        cursor = self._conn.execute(sql + (" RETURNING id" if returning else ""), list(row.values()))
        if returning:
            found = cursor.fetchone()
            return found[0] if found else None
        return None

    def _columns(self, table: str) -> tuple[str, ...]:
        if f"*{table}" not in self._keys:
            cursor = self._conn.execute(f"SELECT * FROM {table} LIMIT 0")
            self._keys[f"*{table}"] = tuple(column.name for column in cursor.description or ())
        return self._keys[f"*{table}"]


class PgTable:
    """``db["table"]``: the row operations and the schema changes sqlite-utils' ``Table`` offers, as used here."""

    def __init__(self, db: PgDatabase, name: str) -> None:
        self.db, self.name = db, name

    def insert(self, row: dict[str, Any]) -> Inserted:
        return Inserted(self.db.insert_row(self.name, row))

    def update(self, pk_value: Any, values: dict[str, Any]) -> None:
        (key,) = self.db.primary_key(self.name)
        sql = f"UPDATE {self.name} SET {', '.join(f'{c} = %s' for c in values)} WHERE {key} = %s"
        self.db._conn.execute(sql, [*values.values(), pk_value])

    def upsert(self, row: dict[str, Any], pk: str | tuple[str, ...]) -> None:
        self.db.insert_row(self.name, row, "update")

    def upsert_all(self, rows: Iterable[dict[str, Any]], pk: str | tuple[str, ...]) -> None:
        for row in rows:
            self.upsert(row, pk)

    @property
    def count(self) -> int:
        return int(self.db._conn.execute(f"SELECT count(*) FROM {self.name}").fetchone()[0])

    @property
    def rows(self) -> Iterator[dict[str, Any]]:
        return self.db.query(f"SELECT * FROM {self.name} ORDER BY {', '.join(self.db.primary_key(self.name))}")

    # -- what the migrations declare ------------------------------------------------

    def create(self, columns: dict[str, type], pk: str | tuple[str, ...], not_null: Iterable[str] = (),
               foreign_keys: Iterable[tuple[str, str, str]] = ()) -> None:
        """CREATE TABLE as sqlite-utils would, in PostgreSQL's types; an integer ``id`` key is an identity."""
        key = (pk,) if isinstance(pk, str) else tuple(pk)
        references = {column: f" REFERENCES {table}({other})" for column, table, other in foreign_keys}
        lines = []
        for name, kind in columns.items():
            if key == (name,) and kind is int:
                lines.append(f"{name} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
                continue
            line = f"{name} {_TYPES[kind]}" + (" PRIMARY KEY" if key == (name,) else "")
            lines.append(line + (" NOT NULL" if name in set(not_null) else "") + references.get(name, ""))
        if len(key) > 1:
            lines.append(f"PRIMARY KEY ({', '.join(key)})")
        self.db._conn.execute(f"CREATE TABLE {self.name} ({', '.join(lines)})")

    def add_column(self, name: str, kind: type, not_null_default: Any = None) -> None:
        sql = f"ALTER TABLE {self.name} ADD COLUMN {name} {_TYPES[kind]}"
        if not_null_default is not None:
            self.db._conn.execute(sql + " NOT NULL DEFAULT %s", [not_null_default])
        else:
            self.db._conn.execute(sql)
        self.db._keys.pop(f"*{self.name}", None)

    def create_index(self, columns: list[str], unique: bool = False) -> None:
        """CREATE INDEX, named as sqlite-utils names it."""
        name = f"idx_{self.name}_{'_'.join(columns)}"
        self.db._conn.execute(f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {self.name} ({', '.join(columns)})")


class PostgresDatabase:
    """An open, migrated PostgreSQL database: the connection (``self.db``), its transactions and its run locks."""

    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url, self.read_only = url, read_only
        self.db = PgDatabase(_connect(url, read_only))
        try:
            if self._pending():
                self._upgrade()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def _pending(self) -> list[str]:
        """The names of the migrations not applied yet (all of them on an empty database)."""
        conn = self.db._conn
        if conn.execute("SELECT to_regclass(%s)", [MIGRATIONS_TABLE]).fetchone()[0] is None:
            return [m.name for m in migrations._migrations]
        done = {row[0] for row in conn.execute(
            f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = %s", [migrations.name]).fetchall()}
        return [m.name for m in migrations._migrations if m.name not in done]

    def _upgrade(self) -> None:
        """Create or migrate the schema, one process at a time (an advisory lock), all migrations or none.

        A read-only store has a writable one do it."""
        if self.read_only:
            type(self)(self.url).close()
            return
        conn = self.db._conn
        # The session lock is taken before the transaction begins: a transaction begun earlier would still see the
        # tables as its catalog cache had them, missing those another process created while it waited.
        conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
        try:
            with conn.transaction():
                pending = set(self._pending())
                if not pending:
                    return
                conn.execute(f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (migration_set TEXT NOT NULL,
                    name TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (migration_set, name))""")
                conn.execute(_JSON_LIST)
                for migration in migrations._migrations:
                    if migration.name in pending:
                        migration.fn(self.db)
                        conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} VALUES (%s, %s, now()::text)",
                                     [migrations.name, migration.name])
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (a savepoint inside another), taking the database's write lock up front.

        As with SQLite's BEGIN IMMEDIATE, writers take turns: what a transaction reads before it writes (a
        document's duplicates, its stored state) cannot change under it, so two crawl processes never both find
        no group for two copies of one text. Readers never wait. Inserts another writer may race (a text, a
        document's URL) are ``ON CONFLICT`` besides.
        """
        conn = self.db._conn
        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with conn.transaction():
                yield
            return
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [WRITE_LOCK])
            yield

    # -- what SQL differs from SQLite's ---------------------------------------------

    def insert(self, table: str, row: dict[str, Any], replace: bool = False) -> int:
        """INSERT one row (``replace``: in place of the row with its primary key), returning its id."""
        found = self.db.insert_row(table, row, "replace" if replace else "error")
        return int(found) if found is not None else 0

    @staticmethod
    def text_list(expr: str) -> str:
        """The items of a JSON list column as rows (key: position from 0, type 'text' for a string, value);
        nothing for a value that is no JSON list."""
        return f"""(SELECT e.ord - 1 AS key, CASE jsonb_typeof(e.item) WHEN 'string' THEN 'text' END AS type,
                           e.item #>> '{{}}' AS value
                      FROM jsonb_array_elements(policywatch_json_list({expr})) WITH ORDINALITY AS e(item, ord))"""

    @staticmethod
    def joined(expr: str) -> str:
        return f"string_agg({expr}, ',')"

    @staticmethod
    def json_rows(*exprs: str) -> str:
        return f"json_agg(json_build_array({', '.join(exprs)}))::text"

    # -- run locks: a run is alive while a session holds its advisory lock -------------

    def run_lock(self, run_id: int) -> int | None:
        """None: the lock is this process's connection; the processes that crawl the run need none of their own."""
        return None

    def hold_run_lock(self, run_id: int) -> None:
        """Take a run's advisory lock on a connection of its own, held until ``release_run_lock`` or this process
        ends (its connection then closes, and the server lets the lock go)."""
        conn = _connect(self.url, False)
        conn.execute("SELECT pg_advisory_lock(%s, %s)", [RUN_LOCK, run_id])
        _RUN_LOCKS[(self.url, run_id)] = conn

    def release_run_lock(self, run_id: int) -> None:
        conn = _RUN_LOCKS.pop((self.url, run_id), None)
        if conn is not None:
            conn.close()

    @contextmanager
    def exclusive(self, name: str, held: str) -> Iterator[None]:
        """Hold the lock called ``name`` for the block, or raise Held(``held``) at once if another session, on any
        machine, holds it: a session advisory lock on a connection of its own, which the server lets go when the
        connection closes, however this process ends."""
        conn = _connect(self.url, False)
        try:
            key = int.from_bytes(lock_key(name), "big", signed=True)
            if not conn.execute("SELECT pg_try_advisory_lock(%s)", [key ^ NAMED_LOCK]).fetchone()[0]:
                raise Held(held)
            yield
        finally:
            conn.close()

    def run_owner_gone(self, run_id: int) -> bool:
        """Whether no session, on any machine, holds a run's advisory lock; a run this process holds is never gone."""
        if (self.url, run_id) in _RUN_LOCKS:
            return False
        held = self.db._conn.execute(
            """SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid::bigint = %s AND objid::bigint = %s
                 AND objsubid = 2 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())""",
            [RUN_LOCK, run_id]).fetchone()
        return held is None
