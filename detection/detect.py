"""Decide what one observation of a document means: new, changed, removed, restored, or nothing.

Pure: it reads no database and no clock, so every rule is a table-driven test.
A removal needs confirmation (two consecutive checks that find the page gone),
because portals 404 for a minute during republishing far more often than they
withdraw a policy; and a page that merely drops off a list is never "gone".
"""

from __future__ import annotations

from dataclasses import fields

from policywatch.core.model import METADATA_TABLE, DocState, FileState, Verdict, Version

CONFIRM_REMOVAL = 2  # consecutive "gone" checks before a document counts as removed
# Metadata-table fields recorded since state.db migration m007. A version without one (stored before, or from
# a page that did not show it) changes nothing by gaining it: the first crawl after upgrading reports nothing.
# Losing one, or a different value, is a change like a new 文号.
LEARNED_FIELDS = frozenset(METADATA_TABLE)


def changed_fields(old: Version, new: Version) -> tuple[str, ...]:
    """Names of the parts that differ, "text" for the body."""
    names = tuple(f.name for f in fields(Version) if getattr(old, f.name) != getattr(new, f.name)
                  and not (f.name in LEARNED_FIELDS and getattr(old, f.name) is None))
    return tuple("text" if name == "text_hash" else name for name in names)


def detect(previous: DocState | None, current: Version | None) -> Verdict:
    """The verdict for one check: ``current`` is the extracted version, None when the page is gone."""
    if current is None:
        if previous is None:
            return Verdict(None, "active", 0)
        missing = previous.missing + 1
        if previous.status == "active" and missing >= CONFIRM_REMOVAL:
            return Verdict("removed", "removed", missing)
        return Verdict(None, previous.status, missing)
    if previous is None or previous.latest is None:
        return Verdict("new", "active", 0, new_version=True)
    differs = changed_fields(previous.latest, current)
    learned = previous.latest != current  # also true when a version only gains metadata: stored, not reported
    if previous.status == "removed":
        return Verdict("restored", "active", 0, new_version=learned, fields=differs)
    if differs:
        return Verdict("changed", "active", 0, new_version=True, fields=differs)
    return Verdict(None, "active", 0, new_version=learned)


def detect_attachment(previous: FileState | None, current: FileState, document: DocState) -> Verdict | None:
    """A linked file whose words changed is a change of its document.

    Not a change: a first download; new bytes with the same words (a re-saved file with new metadata); and a
    download that cannot be read, since an error page or a cut transfer says nothing about the policy.
    """
    if previous is None or current.error is not None or previous.sha256 == current.sha256:
        return None
    if current.text_hash is not None and current.text_hash == previous.text_hash:
        return None
    return Verdict("changed", document.status, document.missing, fields=("attachment",))


def keeps_previous_file(previous: FileState | None, current: FileState) -> bool:
    """An unreadable download does not replace a readable file, so the next good download is compared with it."""
    return previous is not None and previous.error is None and current.error is not None
