"""Identify, hash and read the files policy pages link: PDF, DOCX, XLSX, and the legacy DOC, WPS and XLS.

A changed attachment is a change of its policy, so every file is hashed and, where a library can read it, its text
extracted to be diffed like a page. The bytes are untrusted: a broken file yields a reason in ``error``, never a raise.
A file that would cost more than its ``Limits`` to read (a zip bomb, a PDF stream that inflates without end) is
"too large to read: <which limit>". The checks here run wherever the text is read; the crawl reads in a worker
process under OS limits as well (policywatch.crawler.extract.sandbox), for what no check foresees.
"""

from __future__ import annotations

import copy
import hashlib
import io
import logging
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import olefile

from policywatch.core.normalize import clean_text
from policywatch.crawler.extract.word97 import UnsupportedWord, word97_text
from policywatch.crawler.faults import is_programming_error

if TYPE_CHECKING:
    from pypdf import PdfReader

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
TOO_LARGE = "too large to read: "  # how every reason given for a limit starts
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # all Office writes; bzip2/LZMA inflate unbounded chunks
_CHUNK = 1 << 16  # bytes inflated at a time while counting
_MEMBER = b"PK\x01\x02"  # starts each member's entry in a zip's central directory
_SPACES = re.compile(r"[ \u3000\xa0]{2,}")
# pypdf logs a warning for every recoverable defect; on a crawl of thousands of PDFs that is noise.
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Limits:
    """What reading one attachment may cost; past any of these the file is "too large to read".

    The archive limits are counted while inflating, never taken from the zip headers, which a hostile file fills
    with whatever it likes. The CPU and memory limits are enforced by the OS on the worker process that reads
    (policywatch.crawler.extract.sandbox); ``timeout`` is wall-clock time for one file, enforced by the caller.
    """

    max_unpacked: int = 200_000_000  # bytes all of a DOCX/XLSX's members may inflate to together
    max_ratio: int = 100  # inflated bytes per byte of the archive...
    ratio_floor: int = 10_000_000  # ...once more than this has been inflated (small files compress well too)
    max_members: int = 10_000  # files in one archive
    max_chars: int = 2_000_000  # text kept; readers stop once past it
    cpu_seconds: float = 60.0
    memory_mb: int = 448  # address space of the reading process, its Python and libraries (~200 MB) included
    timeout: float | None = None  # wall-clock seconds; None: twice cpu_seconds, plus 10

    @property
    def wall_seconds(self) -> float:
        return self.timeout if self.timeout is not None else 2 * self.cpu_seconds + 10


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class AttachmentText:
    kind: str  # one of ATTACHMENT_KINDS, from the bytes' signature first, the name second
    sha256: str  # of the raw bytes: identical files are unchanged even where no text can be read
    size: int
    text: str | None  # one paragraph (or table row) per line; None for unknown kinds and unreadable files
    error: str | None  # one-line reason a readable kind could not be read; None when fine


class _Unreadable(Exception):
    """A file of a readable kind that cannot be read; the message is the whole reason."""


class _TooLarge(_Unreadable):
    """A file that would cost more than a limit to read; the message names the limit."""

    def __init__(self, limit: str) -> None:
        super().__init__(TOO_LARGE + limit)


def needs_reader(data: bytes) -> bool:
    """Whether any library would open these bytes (a ZIP, OLE2 or PDF file); others are judged by a glance."""
    return data.startswith((_SIGNATURES["docx"], _OLE2)) or _has_signature(data, "pdf")


def guess_kind(data: bytes, filename: str = "", content_type: str | None = None) -> str:
    """The kind without opening the file, for a file whose reader was stopped: a zip's member names are stored
    uncompressed, so the bytes show them; an OLE2 container goes by its name and type."""
    return _kind(data, filename, content_type, look_inside=False)


def _kind(data: bytes, filename: str, content_type: str | None, look_inside: bool) -> str:
    """The file's kind from its bytes first (servers and link texts mislabel files), its name second."""
    if data.startswith(_SIGNATURES["docx"]):
        for prefix, kind in (("word/", "docx"), ("xl/", "xlsx")):
            if prefix in _zip_names(data, look_inside):
                return kind
    elif _has_signature(data, "pdf"):
        return "pdf"
    by_name = _EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    by_type = _CONTENT_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if data.startswith(_OLE2):  # one container for many legacy formats: its streams tell which
        by_streams = _ole_kind(data) if look_inside else None
        if by_streams == "doc" and by_name == "wps":  # WPS Office writes Word's format under its own name
            return "wps"
        return by_streams or next((k for k in (by_name, by_type) if k in _LEGACY), "other")
    return by_name or by_type or "other"


def _zip_names(data: bytes, look_inside: bool) -> set[str]:
    """The top folders of a zip's members ("word/", "xl/"); from a glance at the bytes unless ``look_inside``."""
    if not look_inside:
        return {prefix for prefix in ("word/", "xl/") if prefix.encode() in data}
    try:
        names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    except Exception:  # a broken zip says nothing about what it was meant to be
        return set()
    return {name.split("/", 1)[0] + "/" for name in names if "/" in name}


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
    from pypdf.errors import LimitReachedError

    try:
        return _pdf_pages(PdfReader(io.BytesIO(data)), budget)
    except LimitReachedError as e:  # pypdf's own caps on inflating a stream
        raise _TooLarge(f"a PDF stream past pypdf's limits ({_first_line(e)})") from None
    except RecursionError:  # page trees and objects nested thousands deep
        raise _TooLarge("PDF objects nested too deeply") from None


def _pdf_pages(reader: PdfReader, budget: int) -> list[str]:
    from pypdf.errors import DependencyError

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


def check_archive(data: bytes, limits: Limits) -> None:
    """Refuse a zip bomb before any library inflates it, by inflating every member here, a chunk at a time.

    The headers' sizes are never trusted: zipfile stops at a member's declared size, but a library reading the
    whole member has it inflate everything in one call first (up to 1 GB), so a member that holds more than it
    declares is itself refused. Overlapping members (one compressed run counted many times), compression methods
    Office never writes, and repeated names are refused too.
    """
    if data.count(_MEMBER) > limits.max_members:  # counted before zipfile lists them all, at 1 KB each
        raise _TooLarge(f"more than {limits.max_members:,} files in the archive")
    archive = zipfile.ZipFile(io.BytesIO(data))
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise _TooLarge(f"more than {limits.max_members:,} files in the archive")
    _check_layout(members)
    inflated = 0
    for info in members:
        probe = copy.copy(info)
        probe.file_size = 1 << 62  # read what the stream holds, not what the header says
        member = 0
        with archive.open(probe) as stream:
            while chunk := stream.read(_CHUNK):
                member, inflated = member + len(chunk), inflated + len(chunk)
                if inflated > limits.max_unpacked:
                    raise _TooLarge(f"unpacks to more than {limits.max_unpacked:,} bytes")
                if inflated > limits.ratio_floor and inflated > limits.max_ratio * len(data):
                    raise _TooLarge(f"compression ratio over {limits.max_ratio}:1")
                if member > info.file_size:
                    raise _TooLarge(f"{info.filename[:80]} inflates past the {info.file_size:,} bytes it declares")
        if member != info.file_size:
            raise zipfile.BadZipFile(f"{info.filename[:80]} is shorter than the {info.file_size:,} bytes it declares")


def _check_layout(members: list[zipfile.ZipInfo]) -> None:
    """Refuse what no Office program writes: repeated names, other compression methods, members sharing bytes."""
    names: set[str] = set()
    for info in members:
        if info.filename in names:
            raise zipfile.BadZipFile(f"two members named {info.filename[:80]}")
        names.add(info.filename)
        if info.compress_type not in _ZIP_METHODS:
            raise zipfile.BadZipFile(f"{info.filename[:80]} uses compression method {info.compress_type}")
    by_offset = sorted(members, key=lambda i: i.header_offset)
    for before, after in pairwise(by_offset):
        if after.header_offset < before.header_offset + 30 + before.compress_size:  # 30: the local header
            raise _TooLarge(f"members {before.filename[:40]} and {after.filename[:40]} overlap (a zip bomb)")


def _docx(data: bytes, budget: int) -> list[str]:
    import docx
    from docx.table import Table

    lines: list[str] = []
    for block in docx.Document(io.BytesIO(data)).iter_inner_content():  # body order: text and tables interleaved
        if not isinstance(block, Table):
            lines.append(block.text)
        else:
            for row in block.rows:
                cells = row.cells  # a merged cell appears once per grid column it spans: keep it once
                unique = [c for i, c in enumerate(cells) if i == 0 or c._tc is not cells[i - 1]._tc]
                lines.append("\t".join(" ".join(c.text.split("\n")) for c in unique))
        budget -= len(lines[-1]) if lines else 0
        if budget <= 0:  # stop once past what will be kept
            break
    return lines


def _xlsx(data: bytes, budget: int) -> list[str]:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    return _sheet_lines(((sheet.title, sheet.iter_rows(values_only=True)) for sheet in book.worksheets), budget)


def _xls(data: bytes, budget: int) -> list[str]:
    import xlrd

    # ragged_rows: each row keeps only its own cells. Otherwise xlrd pads every row to the widest, and one cell
    # at row 65,536, column 256 of a 7 KB file becomes 16 million cells (300 MB) per sheet.
    book = xlrd.open_workbook(file_contents=data, on_demand=True, ragged_rows=True)

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


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:120]


def attachment_text(
    data: bytes, filename: str = "", content_type: str | None = None, max_chars: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> AttachmentText:
    """Kind, SHA-256, size and (where a reader exists) text of an attachment; never raises on bad bytes.

    The archive limits are checked here; the CPU and memory limits only hold where this runs in
    policywatch.crawler.extract.sandbox. ``max_chars`` overrides ``limits.max_chars``.
    """
    max_chars = limits.max_chars if max_chars is None else max_chars
    digest, size = hashlib.sha256(data).hexdigest(), len(data)
    try:  # a zip of a million members costs a gigabyte to list: those are judged at a glance
        kind = _kind(data, filename, content_type, look_inside=data.count(_MEMBER) <= limits.max_members)
    except MemoryError:
        return AttachmentText(guess_kind(data, filename, content_type), digest, size, None, TOO_LARGE + "memory")
    if not data:
        return AttachmentText(kind, digest, 0, None, "empty file")
    if not _has_signature(data, kind):  # named or served as one kind, but something else
        article = "an" if kind.startswith("x") else "a"
        return AttachmentText(kind, digest, size, None, f"not {article} {kind.upper()} (bytes are {_describe(data)})")
    reader = _READERS.get(kind)
    if reader is None:
        return AttachmentText(kind, digest, size, None, None)
    try:
        if kind in ("docx", "xlsx"):
            check_archive(data, limits)
        with warnings.catch_warnings():  # broken files make the libraries warn; the reason goes in `error`
            warnings.simplefilter("ignore")
            text = _tidy(reader(data, max_chars), max_chars)
    except _Unreadable as e:
        return AttachmentText(kind, digest, size, None, str(e))
    except MemoryError:  # under the sandbox's memory limit
        return AttachmentText(kind, digest, size, None, TOO_LARGE + f"memory ({limits.memory_mb} MB)")
    except Exception as e:  # every library has its own exceptions for broken files
        if is_programming_error(e):  # a missing reader library or a bug is not a property of the file
            raise
        return AttachmentText(kind, digest, size, None, f"corrupt {kind.upper()}: {_first_line(e)}")
    return AttachmentText(kind, digest, size, clean_text(text), None)
