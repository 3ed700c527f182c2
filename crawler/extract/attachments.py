"""Identify, hash and read the files policy pages link: PDF, DOCX, XLSX, and the legacy DOC, WPS and XLS.

A changed attachment is a change of its policy, so every file is hashed and, where a library can read it, its text
extracted to be diffed like a page. The bytes are untrusted: a broken file yields a reason in ``error``, never a raise.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import olefile

from crawler.extract.word97 import UnsupportedWord, word97_text

ATTACHMENT_KINDS: tuple[str, ...] = ("pdf", "docx", "xlsx", "doc", "wps", "xls", "other")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office and WPS documents share this container
_LEGACY = ("doc", "wps", "xls")
_SIGNATURES = {"docx": b"PK\x03\x04", "xlsx": b"PK\x03\x04", "doc": _OLE2, "wps": _OLE2, "xls": _OLE2}
_EXTENSIONS = {"pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "doc": "doc", "wps": "wps", "xls": "xls", "et": "xls"}
_CONTENT_TYPES = {
    "application/pdf": "pdf", "application/msword": "doc", "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx", "application/kswps": "wps",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}
_MAX_UNPACKED = 300_000_000  # a DOCX/XLSX inflating past this is a zip bomb, not a policy
_SPACES = re.compile(r"[ \u3000\xa0]{2,}")
# pypdf logs a warning for every recoverable defect; on a crawl of thousands of PDFs that is noise.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class AttachmentText:
    kind: str  # one of ATTACHMENT_KINDS, from the bytes' signature first, the name second
    sha256: str  # of the raw bytes: identical files are unchanged even where no text can be read
    size: int
    text: str | None  # one paragraph (or table row) per line; None for unknown kinds and unreadable files
    error: str | None  # one-line reason a readable kind could not be read; None when fine


class _Unreadable(Exception):
    """A file of a readable kind that cannot be read; the message is the whole reason."""


def _kind(data: bytes, filename: str, content_type: str | None) -> str:
    """The file's kind from its bytes first (servers and link texts mislabel files), its name second."""
    if data.startswith(_SIGNATURES["docx"]):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except Exception:  # a broken zip says nothing about what it was meant to be
            names = []
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx")):
            if any(n.startswith(prefix) for n in names):
                return kind
    elif _has_signature(data, "pdf"):
        return "pdf"
    by_name = _EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    by_type = _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if data.startswith(_OLE2):  # one container for many legacy formats: its streams tell which
        by_streams = _ole_kind(data)
        if by_streams == "doc" and by_name == "wps":  # WPS Office writes Word's format under its own name
            return "wps"
        return by_streams or next((k for k in (by_name, by_type) if k in _LEGACY), "other")
    return by_name or by_type or "other"


def _ole_kind(data: bytes) -> str | None:
    """"doc" or "xls" from the streams of an OLE2 container; None for other or broken containers."""
    try:
        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            if ole.exists("WordDocument"):
                return "doc"
            if ole.exists("Workbook") or ole.exists("Book"):
                return "xls"
    except Exception:  # a broken container says nothing about what it was meant to be
        pass
    return None


def _has_signature(data: bytes, kind: str) -> bool:
    """Whether the bytes start as files of this kind must; kinds without a reader pass."""
    if kind == "pdf":
        return b"%PDF-" in data[:1024]  # the spec allows junk before the header, and pypdf copes with it
    signature = _SIGNATURES.get(kind)
    return signature is None or data.startswith(signature)


def _describe(data: bytes) -> str:
    """What a file named or served as PDF really holds: usually an HTML error, login or anti-bot page."""
    if b"<html" in data[:1024].lower():
        return "HTML"
    magics = {b"PK\x03\x04": "a ZIP archive", _OLE2: "an OLE2 (legacy Office) file", b"<?xml": "XML"}
    return next((what for magic, what in magics.items() if data.startswith(magic)), f"binary: {data[:8].hex(' ')}")


def _pdf(data: bytes, budget: int) -> list[str]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:  # many official PDFs are "encrypted" only to restrict printing, with no password to open them
            opened = reader.decrypt("")
        except (DependencyError, NotImplementedError) as e:  # AES without `cryptography`, unknown handlers
            raise _Unreadable(f"encrypted PDF: {e}") from None
        if not opened:
            raise _Unreadable("encrypted PDF")
    pages: list[str] = []
    for page in reader.pages:
        pages.append(page.extract_text() or "")
        budget -= len(pages[-1])
        if budget <= 0:  # no need to read the rest of a 2,000-page annex that will be cut anyway
            break
    return pages


def _unpacked_size_ok(data: bytes) -> None:
    """Refuse zip bombs before a library inflates them (zipfile stops reading at the declared sizes)."""
    if sum(info.file_size for info in zipfile.ZipFile(io.BytesIO(data)).infolist()) > _MAX_UNPACKED:
        raise _Unreadable(f"unpacks to more than {_MAX_UNPACKED:,} bytes (zip bomb?)")


def _docx(data: bytes, budget: int) -> list[str]:
    import docx
    from docx.table import Table

    _unpacked_size_ok(data)
    lines: list[str] = []
    for block in docx.Document(io.BytesIO(data)).iter_inner_content():  # body order: text and tables interleaved
        if not isinstance(block, Table):
            lines.append(block.text)
            continue
        for row in block.rows:
            cells = row.cells  # a merged cell appears once per grid column it spans: keep it once
            unique = [c for i, c in enumerate(cells) if i == 0 or c._tc is not cells[i - 1]._tc]
            lines.append("\t".join(" ".join(c.text.split("\n")) for c in unique))
    return lines


def _xlsx(data: bytes, budget: int) -> list[str]:
    from openpyxl import load_workbook

    _unpacked_size_ok(data)
    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    return _sheet_lines(((sheet.title, sheet.iter_rows(values_only=True)) for sheet in book.worksheets), budget)


def _xls(data: bytes, budget: int) -> list[str]:
    import xlrd

    book = xlrd.open_workbook(file_contents=data, on_demand=True)

    def values(sheet: xlrd.sheet.Sheet) -> Iterable[list[object]]:
        for r in range(sheet.nrows):
            yield [_xls_value(cell, book.datemode) for cell in sheet.row(r)]

    return _sheet_lines(((sheet.name, values(sheet)) for sheet in book.sheets()), budget)


def _xls_value(cell: object, datemode: int) -> object:
    """A cell as the spreadsheet shows it: whole numbers without ".0", dates as dates, blanks as None."""
    import xlrd

    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_DATE:
        try:
            return xlrd.xldate_as_datetime(cell.value, datemode)
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return cell.value
    if cell.ctype == xlrd.XL_CELL_NUMBER and float(cell.value).is_integer():
        return int(cell.value)
    return cell.value


def _sheet_lines(sheets: Iterable[tuple[str, Iterable[Sequence[object]]]], budget: int) -> list[str]:
    """Each sheet's name in brackets, then one tab-separated line per non-empty row."""
    lines: list[str] = []
    for title, rows in sheets:
        lines.append(f"[{title}]")
        for row in rows:
            cells = ["" if v is None else " ".join(str(v).split("\n")) for v in row]
            if any(c.strip() for c in cells):
                lines.append("\t".join(cells))
                budget -= len(lines[-1])
                if budget <= 0:  # a million-row export: stop once past what will be kept
                    return lines
    return lines


def _doc(data: bytes, budget: int) -> list[str]:
    try:
        return [word97_text(data)]
    except UnsupportedWord as e:  # not corrupt: say exactly why
        raise _Unreadable(str(e)) from None


_READERS: dict[str, Callable[[bytes, int], list[str]]] = {
    "pdf": _pdf, "docx": _docx, "xlsx": _xlsx, "doc": _doc, "wps": _doc, "xls": _xls,
}


def _tidy(lines: list[str], max_chars: int) -> str:
    """One non-blank line per paragraph or row; leading tabs kept, as they are empty leading cells."""
    kept = (_SPACES.sub(" ", line.rstrip().lstrip(" \u3000\xa0")) for chunk in lines for line in chunk.splitlines())
    return "\n".join(line for line in kept if line.strip())[:max_chars]


def attachment_text(
    data: bytes, filename: str = "", content_type: str | None = None, max_chars: int = 2_000_000
) -> AttachmentText:
    """Kind, SHA-256, size and (where a reader exists) text of an attachment; never raises on bad bytes."""
    digest, size, kind = hashlib.sha256(data).hexdigest(), len(data), _kind(data, filename, content_type)
    if not data:
        return AttachmentText(kind, digest, 0, None, "empty file")
    if not _has_signature(data, kind):  # named or served as one kind, but something else
        article = "an" if kind.startswith("x") else "a"
        return AttachmentText(kind, digest, size, None, f"not {article} {kind.upper()} (bytes are {_describe(data)})")
    reader = _READERS.get(kind)
    if reader is None:
        return AttachmentText(kind, digest, size, None, None)
    try:
        with warnings.catch_warnings():  # broken files make the libraries warn; the reason goes in `error`
            warnings.simplefilter("ignore")
            text = _tidy(reader(data, max_chars), max_chars)
    except _Unreadable as e:
        return AttachmentText(kind, digest, size, None, str(e))
    except Exception as e:  # every library has its own exceptions for broken files
        message = (str(e).strip().splitlines() or [type(e).__name__])[0][:120]
        return AttachmentText(kind, digest, size, None, f"corrupt {kind.upper()}: {message}")
    return AttachmentText(kind, digest, size, text, None)
