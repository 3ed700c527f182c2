"""Attachment links: which links of a detail page are files (by path, query file name, link text, ``download``
attribute), on written pages and real Hanweb pages; and, in a real crawl, how a fetched file's
``Content-Disposition`` name and bytes decide what it is, and that a page answering a file link is no attachment."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from policywatch.crawler.extract.attachment_links import attachment_url, disposition_filename, fetched_name, not_a_file
from policywatch.crawler.extract.detail import extract_detail
from policywatch.crawler.extract.encoding import decode_html
from policywatch.portal import PortalHandler
from tests.conftest import OFFICE, make_pdf, source_toml

REAL = Path(__file__).parent / "fixtures" / "real"
PAGE = "http://www.example.gov.cn/art/2023/1/5/art_1_2.html"
DOWNFILE = "http://www.example.gov.cn/module/download/downfile.jsp?classid=0&filename="


@pytest.mark.parametrize(("href", "text", "download", "expected"), [
    ("/files/方案.pdf", "方案", None, "http://www.example.gov.cn/files/方案.pdf"),
    ("/files/方案.PDF#page=2", "", None, "http://www.example.gov.cn/files/方案.PDF"),  # no fragment
    ("/module/download/downfile.jsp?classid=0&filename=ab12.pdf", "通知.pdf", None, DOWNFILE + "ab12.pdf"),
    ("/module/download/downfile.jsp?classid=0&filename=ab12.pdf", "点击下载", None, DOWNFILE + "ab12.pdf"),
    ("/down.aspx?file=%E6%96%B9%E6%A1%88.docx", "下载", None, "http://www.example.gov.cn/down.aspx?file=%E6%96%B9%E6%A1%88.docx"),
    ("/getfile.do?id=7&fileName=表.xlsx", "表", None, "http://www.example.gov.cn/getfile.do?id=7&fileName=表.xlsx"),
    ("/dl.php?name=a.wps", "a", None, "http://www.example.gov.cn/dl.php?name=a.wps"),
    ("/attach/9", "附件：实施细则.doc（56KB）", None, "http://www.example.gov.cn/attach/9"),  # the link text
    ("/dl?id=3", "下载", "名单.xlsx", "http://www.example.gov.cn/dl?id=3"),  # the download attribute
    ("/module/download/downfile.jsp?id=5", "附件1", None, "http://www.example.gov.cn/module/download/downfile.jsp?id=5"),
    ("https://other.example.com/a.ofd", "", None, "https://other.example.com/a.ofd"),  # the guard decides hosts
    # Pages, assets and script endpoints without a file hint are never attachments.
    ("/art/2023/1/5/art_1_3.html", "解读.pdf", None, None),
    ("/col/index.shtml", "附件.docx", None, None),
    ("/detail.jsp?id=5", "详情", None, None),
    ("/module/download/downfile.jsp?id=5", "下载", None, None),  # an endpoint, but nothing says a file
    ("/css/main.css", "a.pdf", None, None),
    ("/js/app.js?file=a.pdf", "", None, None),
    ("/images/logo.png", "logo.pdf", None, None),
    ("/art/2023/1/5/art_2", "关于调整.docx格式的说明", None, None),  # an extension inside a sentence
    ("javascript:download('a.pdf')", "a.pdf", None, None),
    ("mailto:x@example.gov.cn?subject=a.pdf", "a.pdf", None, None),
    ("#a.pdf", "a.pdf", None, None),
    ("ftp://files.example.gov.cn/a.pdf", "a.pdf", None, None),
    ("data:application/pdf;base64,JVBERi0=", "a.pdf", None, None),
    ("", "a.pdf", None, None),
    ("http://[::1/a.pdf", "a.pdf", None, None),
    ("java\nscript:alert(1)//a.pdf", "a.pdf", None, None),
])
def test_attachment_urls(href: str, text: str, download: str | None, expected: str | None) -> None:
    assert attachment_url(href, PAGE, text, download) == expected


def test_a_page_lists_each_file_once_in_page_order() -> None:
    page = f"""<html><body><h1>关于印发实施方案的通知</h1><div id="zoom"><p>{"各有关单位：现将方案印发给你们。" * 5}</p>
    <p><a href="/module/download/downfile.jsp?classid=0&amp;filename=b2.xlsx">名单.xlsx</a></p>
    <p><a href="/module/download/downfile.jsp?classid=0&amp;filename=a1.pdf">方案.pdf</a></p>
    <p><a href="/module/download/downfile.jsp?classid=0&amp;filename=b2.xlsx">名单.xlsx（再次）</a></p>
    <p><a href="/art/2023/1/5/art_1_9.html">政策解读.pdf</a> <a href="/style.css">样式</a></p></div></body></html>"""
    assert extract_detail(page, PAGE).attachments == [DOWNFILE + "b2.xlsx", DOWNFILE + "a1.pdf"]


# Real Hanweb JCMS pages: files behind /module/download/downfile.jsp?classid=0&filename=…, named in the link text.
# Expected lists read off each page by hand, in page order.
REAL_ATTACHMENTS = {
    "jiangxi-gov-spcj-detail-01.html": ("http://www.jiangxi.gov.cn/art/2020/2/20/art_18830_1508831.html", [
        f"http://www.jiangxi.gov.cn/module/download/downfile.jsp?classid=0&filename={name}" for name in (
            "8003cf3f86a34eda8b968ddbfe52ad11.doc", "dcbc76f582614a899a732a231d4ba6b9.docx",
            "4631a114dec4439c9695ad5c84d8cf08.xlsx", "a8f19bf1cda742fb987bba49bdcfd6ec.xlsx",
            "aa94d15250c54bf98cf5841750d28891.xlsx", "72208642d1ea453a8db322c90d728066.xlsx",
            "ca17cb44a8b0413a9bbeb56548bf56db.xlsx", "2ee132179ae74fdd89dc4c2094f8b2ce.xlsx")]),
    "jiangxi-gov-gzdt-detail-01.html": ("http://www.jiangxi.gov.cn/art/2020/3/18/art_5400_1594700.html", [
        "http://www.jiangxi.gov.cn/module/download/downfile.jsp?classid=0&filename=75693171a0634113b168171fa5dd3ced.docx"]),
    "lishui-zwgk-detail-01.html": ("http://www.lishui.gov.cn/art/2023/10/23/art_1229283449_2493752.html", [
        "http://www.lishui.gov.cn/module/download/downfile.jsp?classid=0&filename=be5f1a4be0294db7abf660dd336b3fa5.pdf"]),
    # Hanweb pages with no attachment: their many .html and .jsp links are none.
    "jiangxi-gov-zcwj-detail-01.html": ("http://www.jiangxi.gov.cn/art/2020/2/26/art_4975_1510362.html", []),
    "jiangxi-gov-jdcl-detail-01.html": ("http://www.jiangxi.gov.cn/art/2020/2/18/art_14236_1508394.html", []),
}


@pytest.mark.parametrize("name", sorted(REAL_ATTACHMENTS))
def test_real_hanweb_download_links(name: str) -> None:
    path = REAL / name
    if not path.exists():
        pytest.skip(f"{name} is not in tests/fixtures/real")
    url, expected = REAL_ATTACHMENTS[name]
    assert extract_detail(decode_html(path.read_bytes()).text, url).attachments == expected


@pytest.mark.parametrize(("header", "name"), [
    ("attachment; filename=\"notice.pdf\"", "notice.pdf"),
    ("attachment; filename*=UTF-8''%E5%AE%9E%E6%96%BD%E6%96%B9%E6%A1%88.docx", "实施方案.docx"),
    ("attachment; filename=\"a.pdf\"; filename*=UTF-8''%E6%96%B9%E6%A1%88.wps", "方案.wps"),  # filename* wins
    ("attachment; filename=%E6%96%B9%E6%A1%88.xlsx", "方案.xlsx"),  # percent-encoded UTF-8
    ("attachment; filename=%B7%BD%B0%B8.doc", "方案.doc"),  # percent-encoded GBK
    ("attachment;filename=\"say \\\"hi\\\".pdf\"", 'say "hi".pdf'),
    ("inline", None),
    ("", None),
])
def test_content_disposition_names(header: str, name: str | None) -> None:
    assert disposition_filename(header) == name


def test_raw_gbk_and_utf8_names_in_the_header_bytes() -> None:
    assert disposition_filename(b'attachment; filename="' + "方案.pdf".encode("gbk") + b'"') == "方案.pdf"
    assert disposition_filename(b'attachment; filename="' + "方案.pdf".encode() + b'"') == "方案.pdf"


def test_the_fetched_name_prefers_the_server_then_the_query() -> None:
    url = DOWNFILE + "ab12.doc"
    assert fetched_name(url, None) == "ab12.doc"
    assert fetched_name(url, "attachment; filename*=UTF-8''%E9%80%9A%E7%9F%A5.wps") == "通知.wps"
    assert fetched_name("http://www.example.gov.cn/files/%E6%96%B9%E6%A1%88.pdf", None) == "方案.pdf"


@pytest.mark.parametrize(("data", "name", "content_type", "problem"), [
    (b"<!DOCTYPE html><html><body>login</body></html>", "a.pdf", "text/html; charset=utf-8",
     "not a file: text/html page"),
    (b"body { color: red }", "a.pdf", "text/css", "not a file: text/css stylesheet"),
    (b"var a = 1;", "x", "application/javascript", "not a file: application/javascript script"),
    (b"<html><body>x</body></html>", "downfile.jsp", None, "not a file: an HTML page"),
    (b"%PDF-1.4 ...", "downfile.jsp", "text/html", None),  # the bytes are a file whatever the server says
    (b"PK\x03\x04....", "a.docx", "text/html", None),
    (b"<html>maintenance</html>", "a.docx", "application/octet-stream", None),  # a file that failed: read later
    (b"a,b\n1,2\n", "list.csv", "text/plain", None),
])
def test_pages_stylesheets_and_scripts_are_not_files(data: bytes, name: str, content_type: str | None,
                                                     problem: str | None) -> None:
    assert not_a_file(data, name, content_type) == problem


class DownloadPortal(PortalHandler):
    """A portal whose download endpoint answers by its full query, as Hanweb's downfile.jsp does."""

    answers: dict[str, tuple[dict[str, str], bytes]] = {}  # noqa: RUF012 (set per test, read by the handler)

    def do_GET(self) -> None:
        answer = self.answers.get(self.path)
        if answer is None:
            super().do_GET()
            return
        headers, body = answer
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_a_crawl_names_files_by_content_disposition_and_skips_pages(tmp_path, portal, write_config, run_crawl,
                                                                    open_store) -> None:
    site = tmp_path / "site"
    site.mkdir()
    endpoint = "/module/download/downfile.jsp?classid=0&filename="
    links = "".join(f'<p><a href="{endpoint}{name}">{text}</a></p>' for name, text in (
        ("p1.pdf", "实施方案.pdf"), ("w2.doc", "通知.doc"), ("h3.pdf", "说明.pdf"), ("c4.docx", "样式.docx")))
    (site / "index.html").write_text('<ul><li><a href="/doc.html">关于印发实施方案的通知</a></li></ul>',
                                     encoding="utf-8")
    (site / "doc.html").write_text(
        "<html><head><meta charset='utf-8'><title>关于印发实施方案的通知</title></head><body>"
        "<h1>关于印发实施方案的通知</h1><p>发布时间：2023-12-05</p><div id='zoom'>"
        f"<p>{'各有关单位：现将实施方案印发给你们，请认真贯彻执行。' * 3}</p>{links}</div></body></html>",
        encoding="utf-8")
    gbk_name = quote("实施方案.pdf".encode("gbk"))
    DownloadPortal.answers = {
        # An octet stream named in GBK, percent-encoded: a PDF by its bytes.
        endpoint + "p1.pdf": ({"Content-Type": "application/octet-stream",
                               "Content-Disposition": f"attachment; filename={gbk_name}"}, make_pdf("Pilot measures")),
        # The URL says .doc, the server's name says .wps: a Word 97 container named .wps is a WPS file.
        endpoint + "w2.doc": ({"Content-Type": "application/octet-stream",
                               "Content-Disposition": "attachment; filename*=UTF-8''%E9%80%9A%E7%9F%A5.wps"},
                              (OFFICE / "notice.doc").read_bytes()),
        # The file is gone and the endpoint answers with a page, or with a stylesheet.
        endpoint + "h3.pdf": ({"Content-Type": "text/html; charset=utf-8"},
                              "<html><body>文件不存在</body></html>".encode()),
        endpoint + "c4.docx": ({"Content-Type": "text/css"}, b"body { margin: 0 }"),
    }
    base = portal(site, DownloadPortal)
    config = write_config(source_toml("hanweb", f"{base}/index.html"))

    run_crawl(config)

    store = open_store(config.db)
    doc = store.document(f"{base}/doc.html")
    assert doc["attachments"] == [f"{base}{endpoint}{name}" for name in ("p1.pdf", "w2.doc", "h3.pdf", "c4.docx")]
    files = dict(store.db.execute("SELECT url, kind FROM attachments").fetchall())
    assert files == {f"{base}{endpoint}p1.pdf": "pdf", f"{base}{endpoint}w2.doc": "wps"}
    assert "Pilot measures" in store.text(store.attachment(f"{base}{endpoint}p1.pdf")["text_hash"])
    fetched = dict(store.db.execute("SELECT url, error FROM fetches WHERE kind = 'attachment'").fetchall())
    assert fetched == {f"{base}{endpoint}p1.pdf": None, f"{base}{endpoint}w2.doc": None,
                       f"{base}{endpoint}h3.pdf": "not a file: text/html page",
                       f"{base}{endpoint}c4.docx": "not a file: text/css stylesheet"}
