"""Attachment reading: real files built here or (legacy formats) by LibreOffice, and every kind of broken file."""

from __future__ import annotations

import hashlib
import io
import logging
import random
import re
import struct
import warnings

import pytest
from pypdf import PdfReader, PdfWriter

from policywatch.crawler.extract import word97
from policywatch.crawler.extract.attachments import ATTACHMENT_KINDS, Limits, attachment_text
from tests.conftest import OFFICE, make_pdf

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
    data = make_pdf(f"{PDF_TEXT}\nArticle 1. These measures apply citywide.")
    if password is None:
        return data
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(password, owner_password="owner", algorithm=algorithm)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


DOCX, XLSX, PDF = docx_bytes(), xlsx_bytes(), pdf_bytes()
DOC, LONG_DOC, XLS = ((OFFICE / name).read_bytes() for name in ("notice.doc", "long.doc", "list.xls"))


def patch_word_header(data: bytes, offset: int, value: int) -> bytes:
    """The .doc with one 16-bit field of its FIB changed, in place: the OLE2 container stays valid."""
    import olefile

    with olefile.OleFileIO(io.BytesIO(data)) as ole:
        header = ole.openstream("WordDocument").read(64)
    at = data.index(header)  # the stream's first sector holds the whole header
    return data[: at + offset] + struct.pack("<H", value) + data[at + offset + 2 :]


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


def test_doc_paragraphs_table_rows_and_field_results() -> None:
    """Cells end in tabs and rows in newlines; a hyperlink shows its words, never its field code."""
    lines = [
        "关于开展干细胞临床研究项目备案工作的通知", "各有关单位：",
        "根据国家卫生健康委员会有关要求，现将备案事项通知如下。",
        "一、支持开展干细胞和免疫细胞临床研究。Cell therapy pilots, phase 2.",
        "序号\t机构\t项目", "1\t上海市第一人民医院", "2\t合计", "二、本通知自印发之日起施行。",
    ]
    read = attachment_text(DOC, "notice.doc")
    assert (read.kind, read.error, read.text) == ("doc", None, "\n".join(lines))


def test_doc_8bit_text_runs() -> None:
    """Word stores runs of plain Latin text one byte a character (a "compressed" piece): rewrite notice.doc so."""
    import olefile

    with olefile.OleFileIO(io.BytesIO(DOC)) as ole:
        document = ole.openstream("WordDocument").read()
        table = ole.openstream("1Table" if document[0x0B] & 0x02 else "0Table").read()
    [(_, length, fc, compressed)] = word97._pieces(word97._fib_pair(document, table, 33))
    assert not compressed
    first = b"Article 1. Cell therapy pilots, phase 2 \x96 see \x93Annex\x94.\r"
    latin = first.ljust(length, b"x")
    piece_table = re.escape(struct.pack("<II", 0, length)) + b".." + re.escape(struct.pack("<I", fc))  # CPs, then fc
    at_text, at_piece = DOC.index(document[fc : fc + 64]), re.search(piece_table, DOC, re.DOTALL).start() + 10
    data = bytearray(DOC)
    data[at_text : at_text + length] = latin
    data[at_piece : at_piece + 4] = struct.pack("<I", (fc * 2) | 0x40000000)
    expected = f"Article 1. Cell therapy pilots, phase 2 – see “Annex”.\n{'x' * (length - len(first))}"
    assert attachment_text(bytes(data), "latin.doc").text == expected


def test_doc_field_codes_nested_and_unterminated() -> None:
    """Fields nest (a PAGE inside an IF); a code with no separator shows nothing; stray marks are dropped."""
    text = "a\x13HYPERLINK x\x14link\x15b\x13PAGE\x15c\x13IF \x13PAGE\x143\x15 > 1\x14many\x15d\x15\x14e"
    assert word97._drop_field_codes(text) == "alinkbcmanyde"


def test_long_doc_reads_every_paragraph_in_order() -> None:
    """1,200 paragraphs put paragraph properties on many pages of the file; a table closes the document."""
    lines = attachment_text(LONG_DOC, "long.doc").text.splitlines()
    assert lines == [f"第{n}条　细胞治疗产品临床试验应当遵守本规范。" for n in range(1, 1201)] + ["附表\t完"]


def test_xls_reads_like_xlsx() -> None:
    lines = ["[试点名单]", "序号\t单位\t日期", "1\t上海市第一人民医院\t2026-11-03", "\t备注", "[说明]", "以本名单为准"]
    read = attachment_text(XLS, "list.xls")
    assert (read.kind, read.error, read.text) == ("xls", None, "\n".join(lines))


@pytest.mark.parametrize(("data", "name", "content_type", "kind"), [
    (DOC, "old.doc", None, "doc"),
    (DOC, "form.WPS", None, "wps"),  # WPS Office's .wps is Word's format
    (DOC, "download.do", None, "doc"),  # the container's streams say what it is...
    (DOC, "table.xls", "application/vnd.ms-excel", "doc"),  # ...whatever the name and server say
    (XLS, "sheet.et", None, "xls"),  # WPS spreadsheet
    (XLS, "download.do", "application/octet-stream", "xls"),
])
def test_legacy_kind_comes_from_the_container(data: bytes, name: str, content_type: str | None, kind: str) -> None:
    read = attachment_text(data, name, content_type)
    assert (read.kind, read.error, read.size) == (kind, None, len(data)) and read.text


@pytest.mark.parametrize(("name", "content_type", "kind"), [
    ("old.doc", None, "doc"),
    ("download.do", "application/vnd.ms-excel; charset=GBK", "xls"),
    ("download.do", None, "other"),  # OLE2 also holds .ppt and .msg: no guess
])
def test_broken_ole2_containers_fall_back_to_name_and_type(name: str, content_type: str | None, kind: str) -> None:
    read = attachment_text(OLE2, name, content_type)
    assert (read.kind, read.text) == (kind, None)
    assert read.error is None if kind == "other" else read.error.startswith(f"corrupt {kind.upper()}: ")


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
    (b"not a spreadsheet", "x.xlsx", None, "not an XLSX (bytes are binary: "),
    (b"<html><body>Word 2003 XML saved as .doc</body></html>", "notice.doc", None, "not a DOC (bytes are HTML)"),
    (patch_word_header(DOC, 0x0A, struct.unpack_from("<H", DOC, DOC.index(b"\xec\xa5") + 0x0A)[0] | 0x0100),
     "locked.doc", None, "encrypted DOC"),
    (patch_word_header(DOC, 2, 0x0065), "word6.doc", None, "Word 6/95 document (FIB version 0x0065)"),
    (DOC[: len(DOC) // 3], "cut.doc", None, "corrupt DOC: "),
    (DOC[:512] + random.Random(3).randbytes(len(DOC) - 512), "noise.doc", None, "corrupt DOC: "),
    (XLS[:3000], "cut.xls", None, "corrupt XLS: "),
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


def test_zip_bombs_are_refused_before_inflating() -> None:
    read = attachment_text(DOCX, "bomb.docx", limits=Limits(max_unpacked=1000))
    assert (read.kind, read.text, read.error) == ("docx", None, "too large to read: unpacks to more than 1,000 bytes")


def test_text_is_cut_at_max_chars() -> None:
    full, cut = attachment_text(XLSX, "list.xlsx").text, attachment_text(XLSX, "list.xlsx", max_chars=10).text
    assert cut == full[:10] and len(full) > 10


@pytest.mark.parametrize("name", ["a.pdf", "a.docx", "a.xlsx", "a.doc", "a.xls", "a"])
def test_truncations_and_random_bytes_never_raise(name: str) -> None:
    rng = random.Random(name)
    for data in (PDF, DOCX, XLSX, DOC, XLS):
        for cut in (1, 5, 100, len(data) // 3, len(data) - 1):
            assert attachment_text(data[:cut], name).size == cut
    for _ in range(20):
        assert attachment_text(rng.choice([b"%PDF-", b"PK\x03\x04", OLE2[:8], b""]) + rng.randbytes(200), name).kind
