"""Download links and script links from a hostile portal: a ``Content-Disposition`` naming a path, control
characters or a huge name; list items whose script opens ``javascript:``/``data:`` URLs or an internal host; a
download endpoint on an internal host. Names stay labels, script is never run or requested, and links read out
of script or recognised as downloads go through the same request guard as any other."""

from __future__ import annotations

import pytest

from policywatch.core import config as config_module
from policywatch.crawler.extract.attachment_links import disposition_filename, fetched_name
from tests.conftest import crawl_config_text, make_pdf, source_toml
from tests.hostile.hostile_web import SECRET, Site, found_in_db, listing, page

LOOPBACK = "refused: 127.0.0.2 is a loopback address (allow it with [crawl] allow_hosts)"


@pytest.fixture
def sites():
    """(portal on 127.0.0.1, internal host on 127.0.0.2 that serves a secret)."""
    portal = Site("127.0.0.1")
    internal = Site("127.0.0.2", fallback=(200, {"Content-Type": "application/pdf"}, make_pdf(SECRET)))
    yield portal, internal
    portal.close()
    internal.close()


def crawl(tmp_path, run_crawl, open_store, portal: Site):
    path = tmp_path / "config.toml"
    path.write_text(crawl_config_text() + source_toml("portal", f"{portal.base}/index.html"), encoding="utf-8")
    config = config_module.load(path)
    run_crawl(config)
    return config, open_store(config.db)


@pytest.mark.parametrize(("header", "name"), [
    ('attachment; filename="../../etc/passwd"', "passwd"),
    ("attachment; filename*=UTF-8''..%2F..%2F..%2Fetc%2Fcron.d%2Fx.pdf", "x.pdf"),
    ('attachment; filename="..\\\\..\\\\windows\\\\win.ini"', "win.ini"),
    ('attachment; filename="a\x00b\x1b[2J\x07c\u202e.pdf"', "ab[2Jc.pdf"),
    ('attachment; filename="....pdf"', "pdf"),
])
def test_names_are_labels_never_paths(header: str, name: str) -> None:
    assert disposition_filename(header) == name


def test_a_huge_name_is_cut_keeping_its_extension() -> None:
    name = fetched_name("http://127.0.0.1/f", 'attachment; filename="' + "长" * 1000 + '.docx"')
    assert len(name) == 255 and name.endswith("长.docx")
    assert len(fetched_name("http://127.0.0.1/f", "attachment; filename=" + "a" * 1_000_000)) == 255


def test_hostile_content_disposition_headers_do_not_stop_a_crawl(tmp_path, sites, run_crawl, open_store) -> None:
    portal, _ = sites
    pdf = make_pdf("Pilot measures")
    headers = {
        "/f/1.pdf": 'attachment; filename="../../etc/passwd"',
        "/f/2.pdf": 'attachment; filename="\x01\x1b[31m\x7f.pdf"',
        "/f/3.pdf": 'attachment; filename="' + "A" * 8000 + '.pdf"',
        "/f/4.pdf": "attachment; filename*=GB2312''%FF%FE%00%00/../x",
    }
    for path, value in headers.items():
        portal.add(path, pdf, **{"Content-Type": "application/octet-stream", "Content-Disposition": value})
    portal.add("/index.html", listing("/doc.html"))
    portal.add("/doc.html", page("关于开展细胞治疗临床研究备案工作的通知",
                                 extra="".join(f'<a href="{p}">附件{n}</a>' for n, p in enumerate(headers))))

    config, store = crawl(tmp_path, run_crawl, open_store, portal)

    files = store.db.execute("SELECT url, kind, error FROM attachments ORDER BY url").fetchall()
    assert files == [(f"{portal.base}{p}", "pdf", None) for p in sorted(headers)]
    assert store.db.execute("SELECT count(*) FROM fetches WHERE error IS NOT NULL").fetchone()[0] == 0
    assert not (tmp_path / "etc").exists() and not (config.db.parent / "passwd").exists()


def test_script_links_to_script_data_and_internal_urls_are_never_requested(tmp_path, sites, run_crawl,
                                                                           open_store) -> None:
    portal, internal = sites
    items = "".join(f"<li>{item}</li>" for item in (
        """<a onclick="window.open('javascript:fetch(\\'http://127.0.0.2/\\')')">一</a>""",
        """<a data-href="data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;">二</a>""",
        """<a href="javascript:window.open('data:text/html;base64,PHNjcmlwdD4=')">三</a>""",
        """<a href="javascript:void(0)" onclick="window.open('file:///etc/passwd')">四</a>""",
        f"""<a href="javascript:void(0)" onclick="window.open('{internal.base}/secret.html')">五</a>""",
        """<a href="#" onclick="window.open('./doc.html', '_blank')">六</a>""",
    ))
    portal.add("/index.html", f"<html><meta charset='utf-8'><body><ul>{items}</ul></body></html>".encode())
    portal.add("/doc.html", page("关于开展细胞治疗临床研究备案工作的通知"))

    _, store = crawl(tmp_path, run_crawl, open_store, portal)

    assert internal.requests == []
    assert sorted(p for p in portal.paths() if p != "/robots.txt") == ["/doc.html", "/index.html"]
    fetched = dict(store.db.execute("SELECT url, error FROM fetches WHERE kind = 'detail'").fetchall())
    assert fetched == {f"{portal.base}/doc.html": None, f"{internal.base}/secret.html": LOOPBACK}
    assert [doc["url"] for doc in store.documents("portal")] == [f"{portal.base}/doc.html"]


def test_a_download_endpoint_on_an_internal_host_is_refused(tmp_path, sites, run_crawl, open_store) -> None:
    portal, internal = sites
    download = f"{internal.base}/module/download/downfile.jsp?classid=0&filename=secret.pdf"
    portal.add("/index.html", listing("/doc.html"))
    portal.add("/doc.html", page("关于开展细胞治疗临床研究备案工作的通知",
                                 extra=f'<a href="{download}">名单.pdf</a>'))

    config, store = crawl(tmp_path, run_crawl, open_store, portal)

    assert internal.requests == []
    assert store.document(f"{portal.base}/doc.html")["attachments"] == [download]  # listed, as the page links it
    assert store.db.execute("SELECT url, error FROM fetches WHERE kind = 'attachment'").fetchall() == [
        (download, LOOPBACK)]
    assert found_in_db(config.db, SECRET) == []
