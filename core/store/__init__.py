"""state.db: the schema and every SQL statement PolicyWatch runs.

Tables: ``sources`` (configured portals), ``runs`` (one per crawl), ``documents``
(one per canonical URL), ``texts`` (normalised-text content store, zlib,
keyed by fingerprint), ``versions`` (one per distinct text+metadata of a
document) and ``fetches`` (every request, with its outcome); ``changes``,
``attachments`` and ``doc_bands`` for detection; ``subscribers``,
``subscriptions``, ``deliveries`` and ``posts`` (the send log of mail and of chat posts) and ``digest_drafts``
for delivery; ``pending_subscribers`` and ``subscribe_requests`` for the subscription page; ``source_runs``,
``alerts``, ``alert_posts`` and ``job_runs`` for operations. (``scheduler_jobs`` belongs to APScheduler's job store,
which manages it itself; the canned queries ``policywatch browse`` offers live in datasette.yaml, since Datasette
reads them from there.)

Everything a crawl learns about one document is written in one transaction,
and the file runs in WAL mode, so a crawl killed with SIGKILL leaves a
consistent database that the next crawl simply continues.

The package splits that SQL by concern, each module readable alone:

- ``schema``: the migrations, the only place tables and columns are declared;
- ``connection``: the one interface over either database: ``sqlite`` (the file itself: PRAGMAs, integrity check
  and its sidecar files, schema upgrades under a lock, ``BEGIN IMMEDIATE`` transactions, flock run locks) or
  ``postgres`` (``db = "postgresql://…"``: the same SQL through a small sqlite-utils-like adapter, migrations
  under an advisory lock, advisory run locks); each also holds the few SQL pieces that differ (``dialect``);
- ``rows``: timestamps and the row helpers every concern writes and reads through;
- ``documents``: what a crawl reads and writes about documents, versions, texts, attachments and fetches;
- ``reads``: the CLI's, the digests' and the archive site's reads of those tables;
- ``subscribers``: subscribers, subscriptions, the send log (mail and chat posts) and the approved digest drafts;
- ``signups``: the subscription page's pending subscriptions and its rate limits' request counts;
- ``operations``: sources, runs, source health, alerts and scheduled jobs.

``Store`` is one class composed of them; everything callers use is importable from ``policywatch.core.store`` (the
migrations from ``policywatch.core.store.schema``). Importing the package loads neither database's driver: opening a
SQLite file loads sqlite-utils, a ``postgresql://`` URL psycopg, so a command that only talks to a running serve
starts without either.
"""

from __future__ import annotations

from policywatch.core.model import DocState
from policywatch.core.store.connection import BUSY_WAIT, CHECK_EVERY, CORRUPT, StoreError, missing_db_message
from policywatch.core.store.documents import DocRef, Documents
from policywatch.core.store.operations import Operations
from policywatch.core.store.reads import Reads
from policywatch.core.store.rows import now_iso
from policywatch.core.store.signups import Signups
from policywatch.core.store.subscribers import Subscribers

__all__ = [
    "BUSY_WAIT",
    "CHECK_EVERY",
    "CORRUPT",
    "DocRef",
    "DocState",
    "Store",
    "StoreError",
    "missing_db_message",
    "now_iso",
]


class Store(Documents, Reads, Subscribers, Signups, Operations):
    """A migrated, checked state.db (or PostgreSQL database). Open one per process; it is not shared across threads.

    ``Store(path_or_url, read_only=False, verify=True)``: what ``read_only`` and ``verify`` do is told where they
    are handled, in ``Connection`` (``policywatch.core.store.connection``).
    """
