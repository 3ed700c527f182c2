"""Attachment reading: real files built here (nothing committed), and every kind of broken file."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import warnings

import pytest
from pypdf import PdfReader, PdfWriter

from crawler.extract import attachments
from crawler.extract.attachments import ATTACHMENT_KINDS, attachment_text

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
PDF_TEXT = "Interim Measures for Cell Therapy Pilots"


def docx_bytes() -> bytes:
    """Paragraph, table (with a merged cell), paragraph: the text must come out in that order."""
    import docx

    document = docx.Document()
    document.add_paragraph("一、试点期三年。")
    grid = document.add_table(rows=3, cols=2)
    for r, row in enumerate([["单位", "项目"], ["市科委", "细胞治疗"], ["合计", ""]]):
        for c, value in enumerate(row):
            grid.cell(r, c).text = value
    grid.cell(2, 0).merge(grid.cell(2, 1))
    document.add_paragraph("　　二、支持开展干细胞临床研究。  ")  # full-width indent and trailing spaces
    document.add_paragraph("")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def xlsx_bytes() -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "试点名单"
    for row in (["序号", "单位"], [None, None], [1, "上海市第一人民医院"], [None, "备注"]):
        sheet.append(row)
    workbook.create_sheet("说明").append(["以本名单为准"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def pdf_bytes(password: str | None = None, algorithm: str = "RC4-128") -> bytes:
    """A one-page PDF in a core font (no font files needed), optionally encrypted with a user password."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 10, f"{PDF_TEXT}\nArticle 1. These measures apply citywide.")
    data = bytes(pdf.output())
    if password is None:
        return data
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password, owner_password="owner", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


DOCX, XLSX, PDF = docx_bytes(), xlsx_bytes(), pdf_bytes()


def test_docx_paragraphs_and_table_cells_in_document_order() -> None:
    lines = ["一、试点期三年。", "单位\t项目", "市科委\t细胞治疗", "合计", "二、支持开展干细胞临床研究。"]
    assert attachment_text(DOCX, "fa.docx").text == "\n".join(lines)


def test_xlsx_one_line_per_non_empty_row_under_sheet_names() -> None:
    lines = ["[试点名单]", "序号\t单位", "1\t上海市第一人民医院", "\t备注", "[说明]", "以本名单为准"]
    assert attachment_text(XLSX, "list.xlsx").text == "\n".join(lines)


@pytest.mark.parametrize(("data", "name", "content_type", "kind", "text"), [
    (PDF, "notice.pdf", None, "pdf", PDF_TEXT),
    (pdf_bytes(""), "open.pdf", None, "pdf", PDF_TEXT),  # "encrypted", but with no password to open it
    (pdf_bytes("", "AES-256"), "open-aes.pdf", None, "pdf", PDF_TEXT),
    (b"\xef\xbb\xbf\r\n" + PDF, "bom.pdf", None, "pdf", PDF_TEXT),  # junk before %PDF- is allowed
    (PDF, "download.jsp", None, "pdf", PDF_TEXT),  # the bytes beat the name...
    (DOCX, "attachment.pdf", "application/pdf", "docx", "细胞治疗"),  # ...and the name and the server
    (XLSX, "", None, "xlsx", "上海市第一人民医院"),
])
def test_readable_files(data: bytes, name: str, content_type: str | None, kind: str, text: str) -> None:
    read = attachment_text(data, name, content_type)
    assert (read.kind, read.error, read.size, read.sha256) == (kind, None, len(data), hashlib.sha256(data).hexdigest())
    assert text in read.text


@pytest.mark.parametrize(("name", "content_type", "kind"), [
    ("old.doc", None, "doc"),
    ("form.WPS", None, "wps"),
    ("table.xls", "application/octet-stream", "xls"),
    ("sheet.et", None, "xls"),  # WPS spreadsheet
    ("download.do", "application/vnd.ms-excel; charset=GBK", "xls"),
    ("download.do", None, "other"),  # OLE2 also holds .ppt and .msg: no guess
])
def test_legacy_office_files_are_hashed_not_read(name: str, content_type: str | None, kind: str) -> None:
    read = attachment_text(OLE2, name, content_type)
    assert (read.kind, read.text, read.error, read.size) == (kind, None, None, len(OLE2))


@pytest.mark.parametrize(("data", "name", "content_type", "error"), [
    (b"", "empty.pdf", None, "empty file"),
    (pdf_bytes("secret"), "locked.pdf", None, "encrypted PDF"),
    (pdf_bytes("secret", "AES-256"), "locked-aes.pdf", None, "encrypted PDF"),
    (PDF[: len(PDF) // 2], "cut.pdf", None, "corrupt PDF: "),
    (b"%PDF-1.4\n" + random.Random(1).randbytes(3000), "noise.pdf", None, "corrupt PDF: "),
    (random.Random(2).randbytes(3000), "x.pdf", None, "not a PDF (bytes are binary: "),
    (b"<!DOCTYPE html><html><body>404</body></html>", "fake.pdf", None, "not a PDF (bytes are HTML)"),
    (b"\n<html>wall</html>", "download.do", "application/pdf", "not a PDF (bytes are HTML)"),
    (b"PK\x03\x04" + bytes(range(256)) * 4, "x.docx", None, "corrupt DOCX: "),
    (DOCX[:2000], "cut.docx", None, "corrupt DOCX: "),
    (b"not a spreadsheet", "x.xlsx", None, "corrupt XLSX: "),
])
def test_broken_files_give_a_one_line_reason(data: bytes, name: str, content_type: str | None, error: str) -> None:
    read = attachment_text(data, name, content_type)
    assert read.text is None and read.error.startswith(error) and "\n" not in read.error
    assert read.kind in ATTACHMENT_KINDS and read.size == len(data)


def test_broken_pdfs_do_not_spam_the_logs(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning escaping would fail the test
        for data in (PDF[:-40], b"junk\n" + PDF, PDF[: len(PDF) // 2]):
            attachment_text(data, "broken.pdf")
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]
    assert capsys.readouterr() == ("", "")


def test_zip_bombs_are_refused_before_inflating(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(attachments, "_MAX_UNPACKED", 1000)
    assert attachment_text(DOCX, "bomb.docx").error.startswith("unpacks to more than 1,000 bytes")


def test_text_is_cut_at_max_chars() -> None:
    full, cut = attachment_text(XLSX, "list.xlsx").text, attachment_text(XLSX, "list.xlsx", max_chars=10).text
    assert cut == full[:10] and len(full) > 10


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "a.xlsx", "a.doc", "a"])
def test_truncations_and_random_bytes_never_raise(name: str) -> None:
    rng = random.Random(name)
    for data in (PDF, DOCX, XLSX):
        for cut in (1, 5, 100, len(data) // 3, len(data) - 1):
            assert attachment_text(data[:cut], name).size == cut
    for _ in range(20):
        assert attachment_text(rng.choice([b"%PDF-", b"PK\x03\x04", b""]) + rng.randbytes(200), name).kind
