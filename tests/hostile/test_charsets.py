"""Portals that lie about their charset, pages with damaged or double-encoded bytes, and links named in Chinese:
each is read as a person reads it in a browser, through a real crawl and `policywatch sources check`.

Real saved pages (../shared/corpus/real) are served from 127.0.0.1 the way Chinese government servers get it
wrong: a server-wide ``charset=iso-8859-1`` header on GBK pages, a stale meta tag, a few corrupt bytes.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from w3lib.url import safe_url_string

from policywatch.crawler.extract.encoding import decode_html
from policywatch.crawler.extract.walls import detect_wall
from policywatch.portal import PortalHandler
from tests import forkcli
from tests.conftest import CORPUS, EXPECTED_PAGES, source_toml

GBK_PAGE = "people-cn-shizheng-detail-gb2312-01.html"  # GBK bytes, <meta charset=GB2312>
UTF8_PAGE = "gd-drc-ywtz-detail-01.html"  # UTF-8 bytes, <meta charset=utf-8>
UTF8_GB2312_META = "people-cn-meta-gb2312-bytes-utf8-01.html"  # UTF-8 bytes, <meta charset=GB2312>
BAD_BYTES = (b"\xff", b"\x80", b"\xfe", b"\xc0", b"\xbf")  # each invalid in UTF-8 wherever it stands
MOJIBAKE = re.compile("[ÃÂåäæçèé][\x80-\xbf€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ]")


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def without_meta_charset(data: bytes) -> bytes:
    return re.sub(rb"<meta[^>]*charset[^>]*>", b"", data, flags=re.I)


def with_meta_charset(data: bytes, charset: str) -> bytes:
    return re.sub(rb"(<meta[^>]*charset=)[\w-]+", rb"\g<1>" + charset.encode(), data, count=1, flags=re.I)


def damaged(name: str) -> bytes:
    """A UTF-8 corpus page with five invalid bytes: right after the body's first words, then after each of the
    next four full stops."""
    data = corpus(name)
    start = EXPECTED_PAGES[name]["body_start"].encode("utf-8")
    positions = [data.index(start) + len(start)]
    for _ in range(4):
        positions.append(data.index("。".encode(), positions[-1]) + 3)
    for position, bad in reversed(list(zip(positions, BAD_BYTES, strict=True))):
        data = data[:position] + bad + data[position:]
    return data


def double_encoded(data: bytes, sloppy: bool = False) -> bytes:
    """UTF-8 read as Latin-1 (or as Windows-1252, the five bytes it lacks kept as Latin-1) and saved as UTF-8."""
    if not sloppy:
        return data.decode("latin-1").encode("utf-8")
    return "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in data).encode("utf-8")


# -- decoding, class by class ------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["iso-8859-1", "ISO-8859-1", "latin-1", "windows-1252", "us-ascii", "utf-8"])
def test_a_wrong_header_charset_loses_to_the_meta_tag(header: str) -> None:
    decoded = decode_html(corpus(GBK_PAGE), f"text/html; charset={header}")
    assert decoded.encoding == "gb18030"
    assert EXPECTED_PAGES[GBK_PAGE]["title"] in decoded.text and not MOJIBAKE.search(decoded.text)


@pytest.mark.parametrize("header", ["iso-8859-1", "windows-1252"])
def test_a_wrong_header_charset_loses_to_detection_without_a_meta_tag(header: str) -> None:
    decoded = decode_html(without_meta_charset(corpus(GBK_PAGE)), f"text/html; charset={header}")
    assert decoded.encoding == "gb18030"
    assert EXPECTED_PAGES[GBK_PAGE]["title"] in decoded.text


def test_a_stale_meta_charset_loses_to_a_header_that_decodes() -> None:
    decoded = decode_html(with_meta_charset(corpus(GBK_PAGE), "utf-8"), "text/html; charset=GBK")
    assert decoded.encoding == "gb18030" and EXPECTED_PAGES[GBK_PAGE]["title"] in decoded.text


@pytest.mark.parametrize(("name", "content_type"), [
    (UTF8_PAGE, None),
    (UTF8_PAGE, "text/html; charset=iso-8859-1"),
    (UTF8_GB2312_META, "text/html; charset=GBK"),  # header and meta both say GBK
])
def test_utf8_with_a_few_bad_bytes_stays_utf8(name: str, content_type: str | None) -> None:
    decoded = decode_html(damaged(name), content_type)
    expected = EXPECTED_PAGES[name]
    assert decoded.encoding == "utf-8"
    assert decoded.text.count("\ufffd") == 5  # each bad byte replaced where it is, nothing else touched
    assert expected["body_start"] + "\ufffd" in decoded.text and expected["body_contains"] in decoded.text
    assert expected["title"] in decoded.text


@pytest.mark.parametrize("sloppy", [False, True], ids=["latin-1", "windows-1252"])
@pytest.mark.parametrize("content_type", [None, "text/html; charset=utf-8"])
def test_double_encoded_pages_are_repaired(sloppy: bool, content_type: str | None) -> None:
    original = decode_html(corpus(UTF8_PAGE))
    decoded = decode_html(double_encoded(corpus(UTF8_PAGE), sloppy), content_type)
    assert decoded.repaired and decoded.encoding == "utf-8"
    assert decoded.text == original.text
    assert not original.repaired


def test_a_double_encoded_body_in_a_sound_template_is_repaired_alone() -> None:
    body = "关于印发《细胞治疗试点工作方案》的通知：各区卫生健康委，现印发给你们。".encode()
    page = ("<html><head><meta charset='utf-8'><title>上海市卫生健康委员会 Café</title></head><body><div id='zoom'>"
            + double_encoded(body).decode("utf-8") + "</div><p>版权所有 © 2023 — Société “quoted”</p></body></html>")
    decoded = decode_html(page.encode("utf-8"))
    assert decoded.repaired
    assert decoded.text == page.replace(double_encoded(body).decode("utf-8"), body.decode("utf-8"))


def test_the_real_double_encoded_challenge_page_is_repaired_and_still_a_wall() -> None:
    decoded = decode_html(corpus("yngp-panyun-challenge-mojibake-01.html"))
    assert decoded.repaired and "<title>请稍候... | 磐云</title>" in decoded.text
    assert detect_wall(200, decoded.text)


@pytest.mark.parametrize(("text", "content_type", "encoding"), [
    ("Société générale: café, crème brûlée, à la carte, naïve façade.", "text/html; charset=iso-8859-1", "cp1252"),
    ("“Quoted” – café … naïve", "text/html; charset=windows-1252", "cp1252"),
])
def test_real_latin_text_is_left_alone(text: str, content_type: str, encoding: str) -> None:
    page = f"<html><body><p>{text}</p></body></html>"
    decoded = decode_html(page.encode("cp1252"), content_type)
    assert (decoded.encoding, decoded.text, decoded.repaired) == (encoding, page, False)
    utf8 = f"<html><body><p>细胞治疗 {text} 细胞治疗</p></body></html>"
    assert decode_html(utf8.encode("utf-8")) == decode_html(utf8.encode("utf-8"))
    assert decode_html(utf8.encode("utf-8")).text == utf8 and not decode_html(utf8.encode("utf-8")).repaired


# -- the same classes through a real crawl -----------------------------------------------------------------------

class LyingServer(PortalHandler):
    """A server configured once for Latin-1, whatever its pages are."""

    def guess_type(self, path: str) -> str:
        kind = super().guess_type(path)
        return f"{kind}; charset=iso-8859-1" if kind == "text/html" else kind


SERVED = {  # file → (corpus page whose fields are expected, its bytes as served)
    "gbk.html": (GBK_PAGE, lambda: corpus(GBK_PAGE)),
    "gbk-no-meta.html": (GBK_PAGE, lambda: without_meta_charset(corpus(GBK_PAGE))),
    "gbk-stale-utf8-meta.html": (GBK_PAGE, lambda: with_meta_charset(corpus(GBK_PAGE), "utf-8")),
    "utf8-damaged.html": (UTF8_PAGE, lambda: damaged(UTF8_PAGE)),
    "utf8-damaged-gb2312-meta.html": (UTF8_GB2312_META, lambda: damaged(UTF8_GB2312_META)),
    "double-encoded.html": (UTF8_PAGE, lambda: double_encoded(corpus(UTF8_PAGE))),
}


def test_a_crawl_stores_what_the_pages_say_whatever_the_server_claims(tmp_path, portal, write_config, run_crawl,
                                                                      open_store) -> None:
    site = tmp_path / "site"
    site.mkdir()
    for name, (_, data) in SERVED.items():
        (site / name).write_bytes(data())
    (site / "index.html").write_text("<ul>" + "".join(f"<li><a href='/{name}'>link</a></li>" for name in SERVED)
                                     + "</ul>", encoding="utf-8")
    base = portal(site, LyingServer)
    config = write_config(source_toml("liar", f"{base}/index.html", title=None))
    result = run_crawl(config)
    assert result.summary[0]["new_documents"] == len(SERVED), result.errors
    store = open_store(config.db)
    for name, (page, _) in SERVED.items():
        doc, expected = store.document(f"{base}/{name}"), EXPECTED_PAGES[page]
        assert (name, doc["title"]) == (name, expected["title"])
        assert expected["body_start"] in doc["text"] and expected["body_contains"] in doc["text"]
        assert not MOJIBAKE.search(doc["title"] + doc["text"]), name
        if "damaged" in name:  # replaced where they stand; some stand outside the text a page yields
            assert "。\ufffd" in doc["text"] and doc["text"].count("\ufffd") <= 5
        else:
            assert "\ufffd" not in doc["text"], name


# -- links named in Chinese --------------------------------------------------------------------------------------

CHINESE_PATH = "2023/关于细胞治疗的通知.html"
DETAIL = ("<html><head><meta charset='utf-8'><title>关于细胞治疗的通知</title></head><body><h1>关于细胞治疗的通知</h1>"
          "<p>发布时间：2023-12-05　发文机关：上海市卫生健康委员会</p><div id='zoom'><p>各区卫生健康委：为规范细胞治疗"
          "临床研究，现将有关事项通知如下。</p><p><a href='附件 名单.pdf'>附件</a></p></div></body></html>")


def check(config, *args: str) -> subprocess.CompletedProcess:
    return forkcli.run(["sources", "check", *args, "--config", str(config.path), "--json"], timeout=120)


def test_check_and_crawl_follow_links_named_in_chinese(tmp_path, portal, write_config, run_crawl,
                                                       open_store) -> None:
    site = tmp_path / "site"
    (site / "2023").mkdir(parents=True)
    (site / CHINESE_PATH).write_text(DETAIL, encoding="utf-8")
    (site / "index.html").write_text(f"<ul><li><a href='{CHINESE_PATH}'>关于细胞治疗的通知</a> 2023-12-05</li></ul>",
                                     encoding="utf-8")
    base = portal(site)
    config = write_config(source_toml("cn", f"{base}/index.html", date="li::text"))
    url = f"{base}/{CHINESE_PATH}"

    live = check(config, "cn")
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout)
    assert report["items"] == [{"title": "关于细胞治疗的通知", "date": "2023-12-05", "url": url}]
    assert (report["detail"]["title"], report["detail"]["published"]) == ("关于细胞治疗的通知", "2023-12-05")
    assert report["detail"]["attachments"] == [f"{base}/2023/附件 名单.pdf"]

    saved = check(config, "cn", "--file", str(site / "index.html"), "--detail", url)
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["detail"]["authority"] == "上海市卫生健康委员会"
    missing = check(config, "cn", "--file", str(site / "index.html"), "--detail", f"{base}/2023/没有这个文件.html")
    assert (missing.returncode, missing.stderr.count("\n")) == (1, 1)  # one line, no traceback
    assert "answered HTTP 404" in missing.stderr

    run_crawl(config)
    # Stored under the URL the request went to, percent-encoded as Scrapy sends it.
    assert open_store(config.db).document(safe_url_string(url))["title"] == "关于细胞治疗的通知"
