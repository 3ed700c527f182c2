"""``policywatch site``: the static archive site, written from state.db, rewriting only what changed.

Every page has a fingerprint of what it is made from (the rows it shows, and the code and templates that draw
it), kept in ``.policywatch-site.json`` in the output folder. A rebuild renders only pages whose fingerprint moved
or whose file is gone, writes a file only when its bytes differ, and deletes pages that no longer exist. After a
crawl that changed one policy, that means its page, its source's page, and the index and its data.

Layout: index.html (recent changes, filters, search), documents/<id>.html, sources.html and sources/<name>.html,
digests.html and digests/<digest>/<period>.html (its Atom feed beside it, <period>.atom), chart.html, and assets/
(stylesheet, script, the index data).

Days and times are shown in the config's ``timezone``, and changes filed under its days, as digests file them. A
digest period still in progress there (this month, this week) is left out of the digest archive until it ends: the
archive holds issues as subscribers receive them, and none receives an unfinished one.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from importlib import import_module
from pathlib import Path
from typing import Any

import jinja2

from policywatch.archive import pages
from policywatch.archive.chart import NARROW, policy_chart, region_colours
from policywatch.archive.facts import FactFinder, Facts
from policywatch.archive.search import index_entries, index_script
from policywatch.core.config import Config, DigestSpec
from policywatch.core.localtime import local_day, local_time, today
from policywatch.core.store import Store
from policywatch.digest.period import Period, period_of
from policywatch.digest.regions import region_label
from policywatch.digest.render import BUILTIN, environment

MANIFEST = ".policywatch-site.json"
LOCK = ".policywatch-site.lock"
ASSETS = ("site.css", "site.js")
RECENT = 50  # entries the index lists in its HTML, for readers without JavaScript; the script lists them all
TEXT_BATCH = 200  # documents whose texts are read at once while rendering their pages
# What a page looks like depends on this code (pages, facts, diffs, digests) and the templates: a change to any of
# them rebuilds everything.
_CODE = [*(path for name in ("archive", "digest", "detection")
           for path in sorted(Path(import_module(f"policywatch.{name}").__file__).parent.glob("*.py"))),
         *(Path(import_module(f"policywatch.core.{name}").__file__) for name in ("hanzi", "localtime"))]
_SAFE_NAME = re.compile(r"[^\w.-]")


class SiteError(Exception):
    """The output folder cannot hold the site; the message says why, in one line."""


@dataclass
class SiteReport:
    out: Path
    written: list[str] = field(default_factory=list)  # pages (re)written, as paths inside ``out``
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.written)} written, {self.unchanged} unchanged, {len(self.deleted)} deleted"


@dataclass
class _Archive:
    """state.db's rows for the site, grouped by document."""

    documents: list[dict[str, Any]]
    versions: dict[int, list[dict[str, Any]]]
    changes: dict[int, list[dict[str, Any]]]
    attachments: dict[int, list[dict[str, Any]]]
    groups: dict[int, list[dict[str, Any]]]
    sources: list[dict[str, Any]]
    all_changes: list[dict[str, Any]]
    keys: dict[int, str] = field(default_factory=dict)  # each document's facts key (policywatch.archive.facts)
    facts: dict[int, Facts] = field(default_factory=dict)
    topic_titles: dict[str, str] = field(default_factory=dict)
    zone: tzinfo = UTC  # the config's time zone: the days changes are filed under, the times pages show

    @functools.cached_property
    def by_id(self) -> dict[int, dict[str, Any]]:
        return {d["id"]: d for d in self.documents}

    @functools.cached_property
    def source_titles(self) -> dict[str, str]:
        return {s["name"]: s["title"] or s["name"] for s in self.sources}


def build_site(
    config: Config, store: Store, out: Path, full: bool = False, now: datetime | None = None,
) -> SiteReport:
    """Write (or bring up to date) the archive site of ``store`` in ``out``; ``full`` ignores what was built before.

    ``now`` (an aware datetime; default: the clock) decides which digest periods have ended, in the config's zone.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} is a file, not a folder: give --out a folder for the site")
    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # `serve` after a crawl and a hand-run `policywatch site` take turns
        return _build(config, store, out, full, today(config.zone, now))


def _build(config: Config, store: Store, out: Path, full: bool, day: date) -> SiteReport:
    env = environment(config.templates)
    code = _code_key(env, config.templates, config.timezone)
    before = {} if full else _read_manifest(out, code)
    archive = _read(store)
    archive.zone = config.zone
    finder = FactFinder(config)
    archive.keys = {doc["id"]: finder.key(doc) for doc in archive.documents}
    archive.facts = _kept_facts(archive.keys, before.get("facts", {}))
    archive.topic_titles = {t.name: t.title for t in config.topics}
    site = _Writer(out, before.get("pages", {}))
    _write_documents(env, store, archive, site, finder)
    _work_out_facts(store, archive, finder)
    _write_sources(env, store, archive, site)
    digests = _digest_archive(config, store, env, archive, site, before.get("digests", {}), day)
    dated, undated = _policies(archive)
    entries = index_entries(archive.by_id, archive.all_changes, archive.zone)
    zone = archive.zone
    site.write("index.html", _render(env, "site/index.html.j2", "", zone, entries=_recent(archive, entries[:RECENT]),
                                     documents=len(archive.documents), changes=len(archive.all_changes)))
    site.write("sources.html", _render(env, "site/sources.html.j2", "", zone, sources=archive.sources))
    site.write("digests.html", _render(env, "site/digests.html.j2", "", zone, specs=config.digests, digests=digests))
    site.write("chart.html", _render(env, "site/chart.html.j2", "", zone, chart=policy_chart(dated), undated=undated,
                                     narrow=policy_chart(dated, NARROW, region_colours(dated)),
                                     region_label=region_label))
    site.write("assets/data.js", index_script(archive.documents, archive.facts, entries, archive.source_titles,
                                              config.topics))
    for name in ASSETS:
        site.write(f"assets/{name}", env.loader.get_source(env, f"site/{name}")[0])
    report = site.finish()
    _write_manifest(out, {"code": code, "pages": site.fingerprints, "digests": digests,
                          "facts": {str(i): [archive.keys[i], f.region, list(f.topics), f.summary]
                                    for i, f in archive.facts.items()}})
    return report


def _write_documents(
    env: jinja2.Environment, store: Store, archive: _Archive, site: _Writer, finder: FactFinder
) -> None:
    """A page per document whose inputs moved, and the facts of those whose key moved (the same ones: the key
    is among a page's inputs), from one read of their texts."""
    stale = [doc for doc in archive.documents
             if site.wants(f"documents/{doc['id']}.html", _document_inputs(doc, archive))]

    def wanted(doc: dict[str, Any]) -> set[str]:
        return pages.wanted_texts(doc, archive.versions[doc["id"]], archive.changes[doc["id"]])

    for doc, texts in _with_texts(store, stale, wanted):
        if doc["id"] not in archive.facts:
            archive.facts[doc["id"]] = finder.facts(doc, texts.get(doc["text_hash"] or "", ""))
        context = _document_context(doc, archive, texts)
        site.write(f"documents/{doc['id']}.html", _render(env, "site/document.html.j2", "../", archive.zone,
                                                          **context))


def _work_out_facts(store: Store, archive: _Archive, finder: FactFinder) -> None:
    """Facts still missing (a manifest edited by hand): every page after the documents' needs them all."""
    missing = [doc for doc in archive.documents if doc["id"] not in archive.facts]
    for doc, texts in _with_texts(store, missing, lambda doc: {doc["text_hash"]} - {None}):
        archive.facts[doc["id"]] = finder.facts(doc, texts.get(doc["text_hash"] or "", ""))


def _with_texts(
    store: Store, docs: list[dict[str, Any]], wanted: Callable[[dict[str, Any]], set[str]]
) -> Iterator[tuple[dict[str, Any], dict[str, str]]]:
    """Each document with the stored texts it wants, read TEXT_BATCH documents at a time."""
    for start in range(0, len(docs), TEXT_BATCH):
        batch = docs[start : start + TEXT_BATCH]
        texts = store.texts({h for doc in batch for h in wanted(doc)})
        yield from ((doc, texts) for doc in batch)


def _write_sources(env: jinja2.Environment, store: Store, archive: _Archive, site: _Writer) -> None:
    """A page per source: its health, its latest runs, its documents newest first."""
    by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in archive.documents:
        by_source[doc["source"]].append(doc)
    for source in archive.sources:
        listed = sorted(by_source[source["name"]], key=lambda d: (d["published"] or "", d["id"]), reverse=True)
        versions = {d["id"]: len(archive.versions[d["id"]]) for d in listed}
        runs = store.source_runs(source["name"], 10)
        path = f"sources/{source_file(source['name'])}.html"
        if site.wants(path, [source, runs, [(d["id"], d["title"], d["published"], d["status"]) for d in listed],
                             versions]):
            site.write(path, _render(env, "site/source.html.j2", "../", archive.zone, source=source, runs=runs,
                                     documents=listed, versions=versions))


def source_file(name: str) -> str:
    """A source's page name: its config name, with anything a file name cannot hold replaced."""
    return _SAFE_NAME.sub("_", name)


class _Writer:
    """Writes pages into the output folder, keeping their fingerprints; counts what it wrote and what it kept."""

    def __init__(self, out: Path, before: dict[str, str]) -> None:
        self.out, self.before = out, before
        self.fingerprints: dict[str, str] = {}
        self.report = SiteReport(out)

    def wants(self, path: str, inputs: Any) -> bool:
        """Whether the page at ``path``, made from ``inputs``, must be rendered: it is new, moved or missing."""
        fingerprint = _fingerprint(inputs)
        self.fingerprints[path] = fingerprint
        if self.before.get(path) == fingerprint and (self.out / path).is_file():
            self.report.unchanged += 1
            return False
        return True

    def write(self, path: str, content: str) -> None:
        """Write ``content`` unless the file already holds exactly it (the file's time then stays as it was)."""
        self.fingerprints.setdefault(path, "")
        if _replace(self.out / path, content.encode("utf-8")):
            self.report.written.append(path)
        else:
            self.report.unchanged += 1

    def finish(self) -> SiteReport:
        """Delete the pages of the last build that this one no longer has."""
        for path in sorted(set(self.before) - set(self.fingerprints)):
            target = self.out / path
            if target.is_file():
                target.unlink()
                self.report.deleted.append(path)
                with contextlib.suppress(OSError):  # a folder left empty goes too; one with other files stays
                    target.parent.rmdir()
        return self.report


def _read(store: Store) -> _Archive:
    documents = store.archive_documents()
    versions, changes, attachments, groups = (defaultdict(list) for _ in range(4))
    for row in store.archive_versions():
        versions[row["document_id"]].append(row)
    all_changes = store.archive_changes()
    for row in all_changes:
        changes[row["document_id"]].append(row)
    for row in store.archive_attachments():
        attachments[row["document_id"]].append(row)
    for doc in documents:
        groups[doc["group"]].append(doc)
    return _Archive(documents, versions, changes, attachments, groups, store.sources_overview(), all_changes)


def _kept_facts(keys: dict[int, str], cached: dict[str, list]) -> dict[int, Facts]:
    """The facts of the last build whose key is still the same."""
    kept = {}
    for doc_id, key in keys.items():
        row = cached.get(str(doc_id))
        if row and row[0] == key:
            kept[doc_id] = Facts(row[1], tuple(row[2]), row[3])
    return kept


def _also(doc: dict[str, Any], archive: _Archive) -> list[dict[str, Any]]:
    """The other copies of the document's policy, as the duplicate detector grouped them."""
    return [d for d in archive.groups[doc["group"]] if d["id"] != doc["id"]]


def _document_inputs(doc: dict[str, Any], archive: _Archive) -> list[Any]:
    """Everything a document's page shows, for its fingerprint."""
    titles = archive.source_titles
    return [doc, archive.versions[doc["id"]], archive.changes[doc["id"]], archive.attachments[doc["id"]],
            [(d["id"], d["title"], d["url"], d["authority"], titles.get(d["source"])) for d in _also(doc, archive)],
            archive.keys[doc["id"]], titles.get(doc["source"])]


def _document_context(doc: dict[str, Any], archive: _Archive, texts: dict[str, str]) -> dict[str, Any]:
    versions, changes, facts = archive.versions[doc["id"]], archive.changes[doc["id"]], archive.facts[doc["id"]]
    return {
        "doc": doc, "facts": facts, "source_title": archive.source_titles.get(doc["source"], doc["source"]),
        "source_page": source_file(doc["source"]), "region": region_label(facts.region, "zh-Hans"),
        "topics": [archive.topic_titles.get(t, t) for t in facts.topics],
        "also": _also(doc, archive),
        "source_titles": archive.source_titles, "versions": versions,
        "timeline": pages.timeline(versions, changes), "steps": pages.steps(versions, texts),
        "attachments": pages.attachment_views(json.loads(doc["attachments"] or "[]"), archive.attachments[doc["id"]],
                                              changes, texts),
        "text": texts.get(doc["text_hash"] or "", ""),
    }


def _recent(archive: _Archive, entries: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Index entries as the index page lists them in HTML (the script lists the same, and the rest)."""
    listed = []
    for day, change in entries:
        doc, facts = archive.by_id[change["document_id"]], archive.facts[change["document_id"]]
        listed.append({"day": day, "kind": pages.KIND_LABELS[change["kind"]], "kind_name": change["kind"], "doc": doc,
                       "region": region_label(facts.region, "zh-Hans"), "summary": facts.summary,
                       "source_title": archive.source_titles.get(doc["source"], doc["source"])})
    return listed


def _policies(archive: _Archive) -> tuple[list[tuple[str, str]], int]:
    """(month, region) per policy, each duplicate group once at its earliest dated copy; and how many policies no
    copy of which gives a publish date (when a page was first seen says nothing about when it was issued)."""
    firsts, groups = {}, set()
    for doc in archive.documents:
        groups.add(doc["group"])
        first = firsts.get(doc["group"])
        if doc["published"] and (first is None or (doc["published"], doc["id"]) < first[:2]):
            firsts[doc["group"]] = (doc["published"], doc["id"], archive.facts[doc["id"]].region)
    return [(day[:7], region) for day, _, region in firsts.values()], len(groups) - len(firsts)


def _digest_archive(
    config: Config, store: Store, env: jinja2.Environment, archive: _Archive, site: _Writer,
    before: dict[str, dict[str, Any]], day: date,
) -> dict[str, dict[str, Any]]:
    """Every configured digest for every period with something in it that has ended by ``day``, as its HTML email
    and its Atom feed, built when its inputs moved; returns path → what the archive page lists (no file for a period
    the digest finds nothing in). A period still in progress is left out, page, feed and listing, until it ends. An
    issue sent from an editor's draft is shown as that draft made it."""
    from policywatch.digest.build import build_digest
    from policywatch.digest.render import render

    issues = {}
    by_kind = {kind: _digest_inputs(kind, archive) for kind in {spec.period for spec in config.digests}}
    drafts = store.stored_drafts()
    for spec in config.digests:
        drafted = {p: [] for p in _drafted_periods(spec, drafts) if p not in by_kind[spec.period]}
        periods = by_kind[spec.period] | drafted
        for period, inputs in periods.items():
            if not period.ended(day):
                continue
            path, feed = issue_path(spec.name, period.key), issue_path(spec.name, period.key, ".atom")
            draft = drafts.get((spec.name, period.key))
            fingerprint = _fingerprint([inputs, spec, [(t.name, t.include, t.exclude) for t in config.topics],
                                        [(s.name, s.region, s.kind) for s in config.sources], config.site_url, draft])
            old = before.get(path)
            shown = old and old["items"] + old["removed"] + old.get("news", 0)
            if old and old["fingerprint"] == fingerprint and (
                    not shown or not any([site.wants(p, fingerprint) for p in (path, feed)])):
                issues[path] = old  # known to be empty, or its page and feed (both kept, so both asked) are up to date
                continue
            digest = build_digest(config, store, spec, period)
            if draft is not None:
                digest = _drafted(config, store, spec, period, draft, digest)
            issues[path] = {"fingerprint": fingerprint, "digest": spec.name, "period": period.key,
                            "title": digest.title, "items": len(digest.items) + len(digest.more),
                            "removed": len(digest.removed), "news": len(digest.news)}
            if digest.items or digest.more or digest.removed or digest.news:
                site.wants(path, fingerprint)
                site.write(path, render(digest, "html", config.templates))
                site.wants(feed, fingerprint)
                site.write(feed, render(digest, "atom", config.templates,
                                        feed_url=feed_url(config, spec.name, period.key) or f"{period.key}.atom"))
    return issues


def _drafted_periods(spec: DigestSpec, drafts: dict[tuple[str, str], str]) -> list[Period]:
    """The periods of ``spec`` with an approved draft (one may list only items from outside the portals)."""
    from policywatch.digest.period import PeriodError, parse_period

    periods = []
    for digest, key in drafts:
        try:
            periods += [parse_period(key, spec.period)] if digest == spec.name else []
        except PeriodError:  # a digest whose period kind changed since: its old issues are not this digest's
            continue
    return periods


def _drafted(config: Config, store: Store, spec: DigestSpec, period: Period, text: str, automatic: Any) -> Any:
    """The issue as its stored draft made it; the automatic one, if the draft no longer fits (config changed)."""
    from policywatch.digest.draft import DraftError, check_draft, draft_digest, parse_draft

    name = f"the draft of {spec.name} {period.key}"
    try:
        draft = parse_draft(text, name)
        documents = check_draft(draft, name, spec, period, store)
        return draft_digest(config, store, spec, period, draft, documents, automatic)
    except DraftError:
        return automatic


def issue_path(digest: str, period: str, suffix: str = ".html") -> str:
    """Where the site keeps one issue of a digest (``digests/monthly/2023-12.html``), and its Atom feed beside it
    (``suffix`` ".atom")."""
    return f"digests/{source_file(digest)}/{period}{suffix}"


def feed_url(config: Config, digest: str, period: str) -> str | None:
    """The public address of an issue's Atom feed on the archive site, when ``site_url`` in config.toml says
    where the site is published; else None."""
    return config.site_url + issue_path(digest, period, ".atom") if config.site_url else None


def _digest_inputs(kind: str, archive: _Archive) -> dict[Period, list]:
    """Per period with anything in it: the rows a digest of that period is built from (days in the config's zone,
    as policywatch.digest.build files them)."""
    inputs: dict[Period, list] = defaultdict(list)
    for doc in archive.documents:
        day = date.fromisoformat(doc["published"]) if doc["published"] else local_day(doc["first_seen"], archive.zone)
        inputs[period_of(kind, day)].append(doc)
    for change in archive.all_changes:
        if change["kind"] in ("changed", "restored", "removed"):
            period = period_of(kind, local_day(change["detected_at"], archive.zone))
            inputs[period] += [change, archive.by_id[change["document_id"]]]
    return dict(sorted(inputs.items(), key=lambda kv: kv[0].start))


def _render(env: jinja2.Environment, name: str, root: str, zone: tzinfo, **context: Any) -> str:
    """A page; its templates show stored UTC times with ``local`` ("2023-12-01 01:30" in ``zone``)."""
    return env.get_template(name).render(root=root, source_file=source_file, timezone=str(zone),
                                         local=functools.partial(local_time, zone=zone), **context)


def _fingerprint(inputs: Any) -> str:
    data = json.dumps(inputs, ensure_ascii=False, sort_keys=True, default=_plain).encode("utf-8")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for what json cannot write itself: dataclasses (facts, digest specs) and dates."""
    if hasattr(value, "__dataclass_fields__"):
        return {k: getattr(value, k) for k in value.__dataclass_fields__}
    return str(value)


def _code_key(env: jinja2.Environment, templates: Path | None, timezone: str) -> str:
    """A fingerprint of the code and templates pages are drawn with, and the time zone their days and times are in."""
    names = sorted(n for n in env.list_templates()
                   if n.startswith("site/") or n in ("digest.html.j2", "digest.atom.j2"))
    sources = [env.loader.get_source(env, n)[0] for n in names] + [p.read_text(encoding="utf-8") for p in _CODE]
    return _fingerprint([str(templates or BUILTIN), sources, timezone])


def _read_manifest(out: Path, code: str) -> dict[str, Any]:
    """What the last build wrote, if it was built by this code; else nothing (every page is rebuilt)."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) and manifest.get("code") == code else {}


def _write_manifest(out: Path, manifest: dict[str, Any]) -> None:
    _replace(out / MANIFEST, json.dumps(manifest, ensure_ascii=False, sort_keys=True).encode("utf-8"))


def _replace(target: Path, data: bytes) -> bool:
    """Put ``data`` in ``target`` unless it already holds exactly that (its time then stays as it was); whether
    it wrote. Written beside and renamed over, so a reader (or a web server) never sees half a file."""
    try:
        if target.read_bytes() == data:
            return False
    except FileNotFoundError:
        target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, target)
    return True

