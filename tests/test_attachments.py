"""Attachment reading: real files built here, and every kind of broken file."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfWriter

from crawler.extract.attachments import attachment_text


def docx_bytes(*paragraphs: str, table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "试点名单"
    sheet.append(["序号", "单位"])
    sheet.append([1, "上海市第一人民医院"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pdf_bytes(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    if password is not None:
        writer.encrypt(password)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


CASES = [
    # (bytes, file name, kind, text contains (or None for no text), error)
    (docx_bytes("一、试点期三年。", table=[["单位", "项目"], ["市科委", "细胞治疗"]]), "fa.docx", "docx",
     "市科委\t细胞治疗", None),
    (docx_bytes("二、支持开展干细胞临床研究。"), "download.bin", "docx", "干细胞临床研究", None),  # bytes beat names
    (xlsx_bytes(), "list.xlsx", "xlsx", "1\t上海市第一人民医院", None),
    (pdf_bytes(), "blank.pdf", "pdf", "", None),
    (pdf_bytes(""), "open.pdf", "pdf", "", None),  # encrypted, but with no password to open it
    (pdf_bytes("secret"), "locked.pdf", "pdf", None, "encrypted PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "old.doc", "doc", None, None),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "form.wps", "wps", None, None),
]


@pytest.mark.parametrize(("data", "name", "kind", "text", "error"), CASES)
def test_readable_files(data: bytes, name: str, kind: str, text: str | None, error: str | None) -> None:
    read = attachment_text(data, name)
    assert (read.kind, read.error, read.size) == (kind, error, len(data))
    if text is None:
        assert read.text is None
    else:
        assert text in read.text


@pytest.mark.parametrize(("data", "name", "error"), [
    (b"", "empty.pdf", "empty file"),
    (b"<html>404</html>" * 20, "fake.pdf", "not a PDF (bytes start b'<html>40')"),
    (pdf_bytes()[:300], "cut.pdf", "corrupt PDF"),
    (b"PK\x03\x04" + bytes(range(256)) * 4, "x.docx", "corrupt DOCX"),
])
def test_broken_files_give_a_reason_not_an_exception(data: bytes, name: str, error: str) -> None:
    read = attachment_text(data, name)
    assert read.text is None and read.error.startswith(error)
