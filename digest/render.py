"""Render a Digest through the Jinja2 templates: HTML email, plain text, Markdown and Atom.

The built-in templates are the package ``policywatch.templates`` (the ``templates`` folder of the source tree); a
``templates`` folder named in config.toml is searched first, so a file there with the same name replaces the
built-in one. Scraped text is untrusted: HTML and Atom are autoescaped, and Markdown escapes what a Markdown editor
would otherwise read as markup or HTML. Nothing in the output depends on the clock, so the same digest renders to
the same bytes.
"""

from __future__ import annotations

import base64
import re
from datetime import date, datetime, time
from functools import lru_cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import css_inline
import jinja2
from markdown_it import MarkdownIt
from markupsafe import Markup

from policywatch.core.normalize import clean_text
from policywatch.digest import labels
from policywatch.digest.build import Digest
from policywatch.digest.chart import WIDTH as CHART_WIDTH
from policywatch.digest.chart import bar_chart, buckets, caption

BUILTIN = Path(str(resources.files("policywatch.templates")))  # package data, wherever PolicyWatch is installed
TEMPLATES = {"html": "digest.html.j2", "text": "digest.txt.j2", "md": "digest.md.j2", "atom": "digest.atom.j2"}
SUFFIXES = {"html": ".html", "text": ".txt", "md": ".md", "atom": ".atom"}
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]~])")  # markup anywhere in a line
_MARKDOWN_LINE_START = re.compile(r"^([#>+-]|\d+[.)])")  # markup only at the start of a line
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@lru_cache(maxsize=8)
def environment(templates: Path | None = None) -> jinja2.Environment:
    """Jinja2 with the user's templates (if any) in front of the built-in ones.

    One per templates folder, so a process that renders several digests compiles each template once; Jinja2
    still notices a template file edited since (``auto_reload``).
    """
    search = [str(templates), str(BUILTIN)] if templates else [str(BUILTIN)]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".atom.j2", ".xml.j2")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )
    env.filters |= {"day": labels.format_date, "md": markdown_escape, "mdurl": markdown_url, "rfc3339": rfc3339,
                    "href": web_link}
    env.filters |= {"prose": prose_html, "prose_md": prose_markdown}  # an editor's introduction and note
    return env


def render(
    digest: Digest, fmt: str, templates: Path | None = None, unsubscribe_url: str | None = None,
    chart_cid: str | None = None, feed_url: str | None = None,
) -> str:
    """The digest in one format: "html", "text", "md" or "atom".

    The HTML chart is a data: URI, or with ``chart_cid`` a ``cid:`` reference to the
    :func:`chart_png` image attached beside it (as email clients want it). ``feed_url`` is where the Atom
    feed itself is published (absolute, or relative to the feed's own location), for its ``rel="self"`` link.
    """
    template = environment(templates).get_template(TEMPLATES[fmt])
    context = {
        "digest": digest, "text": digest.text, "lang": digest.spec.language,
        "summary_heading": labels.summary_heading(digest.spec.language, digest.period),
        "unsubscribe_url": unsubscribe_url, "chart": None, "chart_alt": "", "chart_caption": "",
        "chart_width": CHART_WIDTH, "feed_url": feed_url,
    }
    png = chart_png(digest) if fmt == "html" else None
    if png is not None:
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        context["chart"] = f"cid:{chart_cid}" if chart_cid else uri
        series = _series(digest)
        context["chart_alt"] = f"{digest.text['chart']}: " + ", ".join(f"{label} {n}" for label, n in series)
        context["chart_caption"] = caption(series, digest.period, digest.spec.language)
    # Text stored before crawls cleaned it may hold control characters: none may reach a mail or a feed, where
    # one makes the whole Atom document invalid XML.
    output = clean_text(template.render(context))
    return _INLINER.inline(output) if fmt == "html" else output


def chart_png(digest: Digest) -> bytes | None:
    """The per-week (per-day for a week) bar chart of the digest's items; None for a quiet period."""
    return bar_chart(_series(digest)) if digest.items else None


def _series(digest: Digest) -> list[tuple[str, int]]:
    """Every item of the period, including those a busy digest lists by title only."""
    return buckets(digest.period, [item.day for item in (*digest.items, *digest.more)])


def markdown_escape(text: str) -> str:
    """Text that Markdown shows as written: markup characters backslash-escaped, HTML as entities."""
    text = " ".join(text.split()).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MARKDOWN_INLINE.sub(r"\\\1", text)
    return _MARKDOWN_LINE_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], text)


def markdown_url(url: str) -> str:
    """A URL safe inside Markdown's (…): spaces and parentheses percent-encoded."""
    return url.replace(" ", "%20").replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")


def web_link(url: str) -> str:
    """A scraped URL as a link target: http(s) only, so a page's ``javascript:`` or ``data:`` link never becomes
    one of ours; anything else links nowhere."""
    return url if urlsplit(url.strip()).scheme.lower() in ("http", "https") else "#"


def prose_html(text: str) -> Markup:
    """An editor's Markdown (a draft's introduction or note) as HTML. Raw HTML in it is shown as text and links
    other than http(s) and mailto are not made: a draft file is edited by hand, and may be careless."""
    return Markup(_prose_parser().render(text))


def prose_markdown(text: str) -> str:
    """An editor's Markdown as written, for the Markdown digest; raw HTML in it becomes entities, as elsewhere."""
    return text.strip().replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@lru_cache(maxsize=1)
def _prose_parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False})
    parser.validateLink = lambda url: urlsplit(url.strip()).scheme.lower() in ("http", "https", "mailto")
    return parser


@jinja2.pass_context
def rfc3339(context: jinja2.runtime.Context, day: date) -> str:
    """The start of ``day`` in the digest's time zone (the config's ``timezone``), whose days its dates are."""
    zone = ZoneInfo(context["digest"].timezone)
    return datetime.combine(day, time(), tzinfo=zone).isoformat(timespec="seconds")
