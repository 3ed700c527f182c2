"""Identify, hash and read the files policy pages link (PDF, DOCX, XLSX; DOC/WPS/XLS hashed only).

A changed attachment is a change of its policy, so every file is hashed, and
its text is extracted where a library can read it, to be diffed like a page.
Attachments are untrusted bytes: nothing here raises on a broken file; the
reason lands in ``error`` instead.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import zipfile
from dataclasses import dataclass

ATTACHMENT_KINDS = ("pdf", "docx", "xlsx", "doc", "wps", "xls", "other")
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy Office and WPS documents
_EXTENSION_KINDS = {"pdf": "pdf", "docx": "docx", "xlsx": "xlsx", "doc": "doc", "wps": "wps", "xls": "xls",
                    "et": "xls"}
_BLANK_LINES = re.compile(r"[ \t\u3000]*\n\s*")
logging.getLogger("pypdf").setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class AttachmentText:
    kind: str
    sha256: str
    size: int
    text: str | None  # None where the format has no extractor here
    error: str | None  # why the text could not be read


def _kind(data: bytes, filename: str) -> str:
    """The file's kind from its bytes first (servers and links mislabel files), its name second."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            names = []
        if any(n.startswith("word/") for n in names):
            return "docx"
        if any(n.startswith("xl/") for n in names):
            return "xlsx"
    extension = _EXTENSION_KINDS.get(filename.rsplit(".", 1)[-1].lower()) if "." in filename else None
    if data.startswith(_OLE2):
        return extension if extension in ("doc", "wps", "xls") else "doc"
    return extension or "other"


def _pdf(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            reader.decrypt("")  # many official PDFs are "encrypted" with no password to open them
            pages = [page.extract_text() or "" for page in reader.pages]
        except (FileNotDecryptedError, NotImplementedError):
            raise _Unreadable("encrypted PDF") from None
    else:
        pages = [page.extract_text() or "" for page in reader.pages]
    return "\n".join(pages)


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines.extend("\t".join(cell.text for cell in row.cells) for row in table.rows)
    return "\n".join(lines)


def _xlsx(data: bytes) -> str:
    from openpyxl import load_workbook

    workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    lines = []
    for sheet in workbook.worksheets:
        lines.append(f"[{sheet.title}]")
        for row in sheet.iter_rows(values_only=True):
            cells = ["" if v is None else str(v) for v in row]
            if any(cells):
                lines.append("\t".join(cells).rstrip())
    return "\n".join(lines)


class _Unreadable(Exception):
    """A file of a readable kind that cannot be read; the message is the reason."""


_READERS = {"pdf": _pdf, "docx": _docx, "xlsx": _xlsx}


def attachment_text(
    data: bytes, filename: str = "", content_type: str | None = None, max_chars: int = 2_000_000
) -> AttachmentText:
    """Kind, SHA-256, size and (where possible) text of an attachment; never raises."""
    digest, size = hashlib.sha256(data).hexdigest(), len(data)
    if not data:
        return AttachmentText(_kind(data, filename), digest, 0, None, "empty file")
    kind = _kind(data, filename)
    if kind == "pdf" and not data.startswith(b"%PDF-"):  # named .pdf, but is something else
        return AttachmentText(kind, digest, size, None, f"not a PDF (bytes start {data[:8]!r})")
    reader = _READERS.get(kind)
    if reader is None:
        return AttachmentText(kind, digest, size, None, None)
    try:
        text = reader(data)
    except _Unreadable as e:
        return AttachmentText(kind, digest, size, None, str(e))
    except Exception as e:  # every library has its own exceptions for broken files
        message = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        return AttachmentText(kind, digest, size, None, f"corrupt {kind.upper()}: {message}")
    text = _BLANK_LINES.sub("\n", text).strip()[:max_chars]
    return AttachmentText(kind, digest, size, text, None)
