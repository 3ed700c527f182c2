"""The Markdown of a chat post: a digest issue's title, its 摘要 list with links, and a link to the issue in the
archive; a source-health alert; the test message.

Titles are scraped text, and a chat group is read by people who trust what PolicyWatch posts there. So nothing in
a title can become markup, a link or a mention:

- Markdown's specials are backslash-escaped, and a title is one line, so it never starts a heading or a list.
- ``@`` becomes the full-width ``＠``, so ``@all``, ``@everyone`` or ``@13800000000`` mention nobody in WeCom,
  DingTalk, Feishu, Slack or Discord; ``<`` and ``>`` are escaped, so ``<at user_id="all">`` and ``<!channel>``
  are text too.
- A web address in a title (``https://…``, ``www.…``) gets a full-width colon or dot, so no chat client makes a
  link of it. The only links are PolicyWatch's: each item's page (http or https only) and the archive.

A post is bounded: at most :data:`MAX_ITEMS` items, each title cut to :data:`TITLE_CHARS`, and items are left out
(and counted, "另有N条未列出") until the whole post fits the target's byte limit
(:func:`policywatch.deliver.chat.limit`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from policywatch.core.localtime import local_time
from policywatch.core.normalize import clean_text
from policywatch.digest import labels

if TYPE_CHECKING:
    from policywatch.digest.build import Digest, Item

MAX_ITEMS = 10  # items of the 摘要 list a post names; the others are counted
TITLE_CHARS = 80  # a longer title is cut, with "…"
_SPECIAL = re.compile(r"([\\`*_\[\]<>~&])")  # emphasis, code, links, HTML and entities, wherever they are
_LINE_START = re.compile(r"^([#+\-=>]|\d+[.)])")  # headings, lists and quotes, only where a line starts
_URL_SAFE = "!#$%&*+,/:;=?[]~-._"  # kept in a link's address; everything else is percent-encoded


def escape(text: str, limit: int | None = None) -> str:
    """Scraped text as one line of Markdown that shows as written: no markup, link or mention (see above).
    ``limit`` cuts it to that many characters first."""
    text = " ".join(clean_text(text).split())
    if limit is not None and len(text) > limit:
        text = text[:limit - 1].rstrip() + "…"
    text = _SPECIAL.sub(r"\\\1", text)
    text = _LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)
    text = text.replace("@", "＠")
    text = re.sub(r"(?i)([a-z][a-z0-9+.-]*):(?=//)", r"\1：", text)
    return re.sub(r"(?i)\b(www)\.", r"\1．", text)


def link_target(url: str) -> str | None:
    """A scraped URL as a link's address: http(s) only; anything that could end the address, or mean something
    to a chat client, percent-encoded. None for any other scheme: the item is then named without a link."""
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return None
    return quote(url, safe=_URL_SAFE) if scheme in ("http", "https") else None


def digest_post(digest: Digest, archive_url: str | None, budget: int) -> tuple[str, str]:
    """(title, Markdown text) of one issue, at most ``budget`` bytes of UTF-8 together."""
    text = digest.text
    title = escape(digest.title)
    entries = [*digest.top_list, *digest.news_list]
    if not entries and not digest.more:
        return _fit(title, text["empty"], budget)
    heading = f"**{escape(labels.summary_heading(digest.spec.language, digest.period))}**"
    lines = [_item_line(n, item) for n, item in enumerate(entries[:MAX_ITEMS], 1)]
    archive = f"[{escape(text['post_archive'])}]({link_target(archive_url)})" if archive_url else ""
    total = len(entries) + len(digest.more)
    for shown in range(len(lines), -1, -1):
        more = total - shown
        body = "\n\n".join(part for part in (
            heading, "\n".join(lines[:shown]), escape(text["post_more"] % more) if more else "", archive) if part)
        if _size(title, body) <= budget:
            return title, body
    return _fit(title, body, budget)


def alert_post(alert: dict[str, Any], timezone: str) -> tuple[str, str]:
    """(title, Markdown text) of a source-health alert, its time in the config's ``timezone``."""
    source = escape(str(alert["source"]))
    noticed = local_time(alert["opened_at"], ZoneInfo(timezone))
    body = (f"Source **{source}** {escape(str(alert['problem']), 500)}.\n\n"
            f"Noticed at {escape(noticed)} ({escape(timezone)}).\n\n"
            f"See what it extracts now: `policywatch crawl {source}`; `policywatch sources list`. "
            "This alert is sent once; it closes by itself after a healthy run.")
    return f"[PolicyWatch] source {source} needs attention", body


def test_post(now: datetime) -> tuple[str, str]:
    """(title, Markdown text) of `policywatch notify test`."""
    return ("PolicyWatch test message",
            f"**It works.** PolicyWatch can post here: digests and source alerts will look like this. "
            f"Sent {now.isoformat(timespec='seconds')}.")


def _item_line(number: int, item: Item) -> str:
    name = escape(item.title, TITLE_CHARS)
    target = link_target(item.url)
    return f"{number}. [{name}]({target})" if target else f"{number}. {name}"


def _size(title: str, body: str) -> int:
    return len(title.encode("utf-8")) + len(body.encode("utf-8"))


def _fit(title: str, body: str, budget: int) -> tuple[str, str]:
    """Cut what does not fit, whatever the title and text: the title to half the budget, the text to the rest."""
    title = _cut(title, budget // 2)
    return title, _cut(body, budget - len(title.encode("utf-8")))


def _cut(text: str, budget: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    cut = data[:max(budget - 3, 0)].decode("utf-8", "ignore").rstrip("\\")  # no dangling escape
    return cut + "…"
