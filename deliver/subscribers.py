"""Subscriber input, from the command line or a CSV file, checked against config.toml before anything is stored.

A CSV file has a header row naming its columns: ``email`` (required), ``name``, ``digests``, ``topics``,
``regions`` and ``language``; lists inside a cell are separated by ";". A file with one bad row imports
nothing, and the error names the row (its first line in the file, and its number after the header) and the
field. Names are one line of text (see :func:`policywatch.core.addresses.check_name`), whether typed or quoted in a
CSV cell across several lines.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policywatch.core.addresses import AddressError, check_name, normalise_address
from policywatch.core.config import LANGUAGES, Config
from policywatch.core.model import NewSubscriber
from policywatch.deliver.tokens import TokenError, parse_token, verify
from policywatch.digest.regions import is_region

if TYPE_CHECKING:
    from policywatch.core.store import Store

COLUMNS = ("email", "name", "digests", "topics", "regions", "language")


class SubscriberError(ValueError):
    """Subscriber input that cannot be stored; ``str()`` is the one line to show."""


def new_subscriber(
    config: Config, email: str, digests: tuple[str, ...], name: str | None = None,
    topics: tuple[str, ...] = (), regions: tuple[str, ...] = (), language: str | None = None,
) -> NewSubscriber:
    """A checked subscriber: a valid address, a one-line name, configured digests and topics, known regions and
    language."""
    try:
        address = normalise_address(email)
        name = check_name(name)
    except AddressError as e:
        raise SubscriberError(str(e)) from None
    if not digests:
        raise SubscriberError(f"{address}: name at least one digest (--digest)")
    known = [d.name for d in config.digests]
    for digest in digests:
        if digest not in known:
            raise SubscriberError(f"no digest named {digest!r} (known: {', '.join(known) or 'none configured'})")
    topic_names = [t.name for t in config.topics]
    for topic in topics:
        if topic not in topic_names:
            raise SubscriberError(f"no topic named {topic!r} (defined: {', '.join(topic_names) or 'none'})")
    for region in regions:
        if not is_region(region):
            raise SubscriberError(f"{region!r} is not a region (e.g. 国家, 上海市, 广东)")
    if language and language not in LANGUAGES:
        raise SubscriberError(f"language {language!r} is not one of: {', '.join(LANGUAGES)}")
    return NewSubscriber(address, name or None, language or None,
                         tuple((d, tuple(topics), tuple(regions)) for d in dict.fromkeys(digests)))


def token_subscriber(store: Store, secret: bytes, token: str) -> tuple[dict[str, Any], str]:
    """The subscriber and the digest an unsubscribe token names, its signature checked against the stored address;
    TokenError (one line) for a malformed or forged token, or one naming a subscriber no longer stored."""
    subscriber_id, digest = parse_token(token)
    subscriber = store.subscriber(subscriber_id)
    if subscriber is None:
        raise TokenError(f"unsubscribe token names subscriber {subscriber_id}, who is no longer stored")
    verify(secret, token, str(subscriber["email"]))
    return subscriber, digest


def read_csv(config: Config, path: Path, default_digests: tuple[str, ...] = ()) -> list[NewSubscriber]:
    """Every row of a subscriber CSV, checked; ``default_digests`` serve rows whose digests cell is empty.

    An error names the row as ``people.csv:LINE: row N``: the line the row starts on (a quoted cell may span
    several lines) and its row number as a spreadsheet shows it (the header is row 1).
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader, [])]
            if "email" not in header:
                raise SubscriberError(f"{path.name}: the first row must name the columns, including 'email'")
            unknown = [h for h in header if h not in COLUMNS]
            if unknown:
                raise SubscriberError(f"{path.name}: unknown column {unknown[0]!r} (expected: {', '.join(COLUMNS)})")
            records, seen, end = [], set(), reader.line_num
            for number, row in enumerate(reader, start=2):
                start, end = end + 1, reader.line_num
                cells = {column: value.strip() for column, value in zip(header, row, strict=False)}
                if not any(cells.values()):
                    continue
                where = f"{path.name}:{start}: row {number}"
                try:
                    record = new_subscriber(
                        config, cells.get("email", ""), _list(cells.get("digests")) or default_digests,
                        cells.get("name"), _list(cells.get("topics")), _list(cells.get("regions")),
                        cells.get("language"))
                except SubscriberError as e:
                    raise SubscriberError(f"{where}: {e}") from None
                if record.email.lower() in seen:
                    raise SubscriberError(f"{where}: {record.email} appears twice in the file")
                seen.add(record.email.lower())
                records.append(record)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise SubscriberError(f"cannot read {path}: {e}") from None
    return records


def _list(cell: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (cell or "").split(";") if part.strip())
