"""Which links of a detail page are attached files, and what a fetched one is really called.

Portals link files directly (``/files/方案.pdf``) and through download endpoints that name the file in the query
(Hanweb: ``/module/download/downfile.jsp?classid=0&filename=….pdf``), in the link text ("….pdf") or in a
``download`` attribute. Pages, stylesheets, scripts and images are never attachments, whatever their link says.

Once fetched, the server's ``Content-Disposition`` name and the bytes decide what the file is; an HTML page, a
stylesheet or a script that answered a file link is not an attachment at all (``not_a_file``).
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote, unquote_to_bytes, urljoin, urlsplit

if TYPE_CHECKING:
    from lxml import html

ATTACHMENT_EXTENSIONS = (".pdf", ".doc", ".docx", ".wps", ".xls", ".xlsx", ".et", ".ofd",
                         ".zip", ".rar", ".7z", ".ppt", ".pptx", ".txt", ".csv")
# Documents, never files: a link whose path ends so is a page, whatever its text says.
_PAGE_EXTENSIONS = (".html", ".htm", ".shtml", ".xhtml")
_ASSET_EXTENSIONS = (".css", ".js", ".mjs", ".json", ".xml", ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".svg",
                     ".webp", ".ico", ".woff", ".woff2", ".ttf", ".eot", ".mp4", ".mp3", ".swf")
# Query keys download endpoints name the file by (compared lowercased).
_NAME_KEYS = ("filename", "file", "name", "fname", "filepath", "attachname")
# A name that ends with a file's extension: "….pdf", and in link text "….pdf（86KB）", "….docx [下载]".
_EXTENSION = r"\.(?:" + "|".join(e[1:] for e in ATTACHMENT_EXTENSIONS) + ")"
_NAME_ENDS = re.compile(_EXTENSION + r"$", re.I)
_TEXT_ENDS = re.compile(_EXTENSION + r"\s*(?:[(（\[【][^)）\]】]{0,20}[)）\]】]\s*)?$", re.I)
_DOWNLOAD_PATH = re.compile(r"download|downfile|downloadfile|attach", re.I)
_MAX_NAME = 255  # characters kept of a file name a server sends
_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_DISPOSITION_PARAM = re.compile(
    r"""(?:^|;)\s*(filename\*?)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)""", re.I)
# What a page, stylesheet or script is served as; a file link answered with one of these found no file.
_NOT_FILE_TYPES = ("text/html", "application/xhtml+xml", "text/css", "text/javascript", "application/javascript",
                   "application/x-javascript", "application/ecmascript")
_FILE_SIGNATURES = (b"%PDF-", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"Rar!", b"7z\xbc\xaf\x27\x1c")


@functools.lru_cache(maxsize=1024)
def absolute_url(base: str, href: str) -> str:
    """``urljoin(base, href)``, remembered: each link of a page is resolved for its attachments and again for its
    list of links (policywatch.crawler.extract.detail)."""
    return urljoin(base, href)


def attachment_links(root: html.HtmlElement, url: str) -> list[str]:
    """Absolute http(s) URLs of the files a page links (PDF, Word, WPS, Excel, archives …), in page order, once each;
    fragments dropped."""
    found: dict[str, None] = {}
    page = url.split("#")[0]
    for el in root.iter("a"):
        link = attachment_url(el.get("href"), url, el.text_content(), el.get("download"))
        if link and link != page:
            found[link] = None
    return list(found)


def attachment_url(href: str | None, base: str, text: str = "", download: str | None = None) -> str | None:
    """The absolute URL of ``href`` if it links a file, from its path, its query's file name, the link text or the
    ``download`` attribute; None for pages, assets, and anything that is not an http(s) link."""
    href = (href or "").strip()
    if not href or href.startswith("#") or href.lower().startswith(("javascript:", "mailto:", "data:", "tel:")):
        return None
    try:
        absolute = absolute_url(base, href).split("#")[0]
        parts = urlsplit(absolute)
    except ValueError:  # "http://[::1" and other hosts no URL can have
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    path = unquote(parts.path).lower().rstrip()
    if path.endswith(ATTACHMENT_EXTENSIONS):
        return absolute
    if path.endswith(_PAGE_EXTENSIONS + _ASSET_EXTENSIONS):
        return None
    if _names_file(query_filename(parts.query)) or _names_file(download) or _TEXT_ENDS.search(_link_text(text)):
        return absolute
    if "附件" in text and _DOWNLOAD_PATH.search(parts.path):  # "附件1" on a download endpoint
        return absolute
    return None


def query_filename(query: str) -> str | None:
    """The file name a download endpoint's query gives (``filename=…``, ``file=…``, ``name=…``), if any."""
    for key, value in parse_qsl(query[:4096], keep_blank_values=False):  # a name sits in the first few keys
        if key.strip().lower() in _NAME_KEYS and value.strip():
            return value.strip()
    return None


def _names_file(name: str | None) -> bool:
    """Whether a name (a query value, a download attribute) ends with a file extension."""
    return bool(name) and bool(_NAME_ENDS.search(name.strip()[-80:]))


def _link_text(text: str) -> str:
    """The end of a link's text, where a file name's extension stands ("附件：方案.pdf（86KB）")."""
    return " ".join(text.split())[-120:]


def disposition_filename(header: str | bytes | None) -> str | None:
    """The file name a ``Content-Disposition`` header gives (RFC 6266): ``filename*=UTF-8''…`` first, then
    ``filename=…``, raw or percent-encoded, in UTF-8 or GBK. Only the last path segment is kept, without control
    characters, at most 255 characters: a name is a label, never a path."""
    if not header:
        return None
    raw = header if isinstance(header, bytes) else _header_bytes(header)
    text = raw[:4096].decode("latin-1")
    params = {m.group(1).lower(): m.group(2).strip() for m in _DISPOSITION_PARAM.finditer(text)}
    name = _extended(params.get("filename*")) or _plain(params.get("filename"))
    return safe_name(name) if name else None


def _header_bytes(header: str) -> bytes:
    """A header's bytes: HTTP clients hand them over decoded as Latin-1; text beyond it was decoded already."""
    try:
        return header.encode("latin-1")
    except UnicodeEncodeError:
        return header.encode("utf-8")


def _extended(value: str | None) -> str | None:
    """An RFC 5987 value: ``charset'language'percent-encoded``."""
    if not value or value.count("'") < 2:
        return None
    charset, _, encoded = value.strip('"').split("'", 2)
    return _decode(unquote_to_bytes(encoded), charset)


def _plain(value: str | None) -> str | None:
    """A ``filename=`` value: quoted or not; servers send raw UTF-8 or GBK bytes, or percent-encode them."""
    if not value:
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    data = value.encode("latin-1", "replace")
    if b"%" in data:
        data = unquote_to_bytes(data)
    return _decode(data, None)


def _decode(data: bytes, charset: str | None) -> str:
    """Bytes of a name in the charset given, else UTF-8, else GB18030 (a superset of GBK), else Latin-1."""
    for encoding in (charset, "utf-8", "gb18030"):
        if not encoding:
            continue
        try:
            return data.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("latin-1")


def safe_name(name: str) -> str:
    """A file name fit to show and to judge a kind by: its last path segment, no control or direction
    characters, no leading dots, at most 255 characters (the extension kept)."""
    name = _UNSAFE_NAME.sub("", name).replace("\\", "/").rsplit("/", 1)[-1].strip().strip('"').lstrip(".")
    if len(name) > _MAX_NAME:
        stem, dot, extension = name.rpartition(".")
        name = stem[: _MAX_NAME - len(extension) - 1] + dot + extension if dot and len(extension) <= 8 \
            else name[:_MAX_NAME]
    return name


def fetched_name(url: str, disposition: str | bytes | None) -> str:
    """What a fetched file is called: the server's ``Content-Disposition`` name, else the query's file name, else
    the URL path's last segment."""
    parts = urlsplit(url)
    name = disposition_filename(disposition) or query_filename(parts.query) or unquote(parts.path)
    return safe_name(name)


def not_a_file(data: bytes, name: str, content_type: str | None) -> str | None:
    """Why a response to a file link is no attachment ("not a file: text/html page"), or None when it may be one.

    Bytes that start as a file (PDF, ZIP, OLE2, RAR, 7z) are a file whatever they are served as. Otherwise a page,
    stylesheet or script type, or a name ending in one, is no file. An error page served as the file it replaces
    (typed and named PDF) stays a file that failed to read: an outage, not a change of what the link is.
    """
    head = data[:1024].lstrip()
    if head.startswith(_FILE_SIGNATURES) or b"%PDF-" in data[:1024]:
        return None
    mime = (content_type or "").split(";")[0].strip().lower()
    lower = name.lower()
    if mime in _NOT_FILE_TYPES:
        what = "page" if "html" in mime else "stylesheet" if "css" in mime else "script"
        return f"not a file: {mime} {what}"
    if lower.endswith((*_PAGE_EXTENSIONS, ".css", ".js")):
        return f"not a file: named {lower.rsplit('.', 1)[-1]}"
    if not mime and not lower.endswith(ATTACHMENT_EXTENSIONS) and head[:15].lower().startswith(
            (b"<!doctype html", b"<html")):
        return "not a file: an HTML page"
    return None
