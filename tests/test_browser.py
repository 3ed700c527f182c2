"""The browser harness (tests/browser.py) itself, on small pages: real headless Chromium, real layout."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.browser import ARTIFACTS, BrowserError, inspect, require_chromium


@pytest.fixture(autouse=True)
def _need_chromium() -> None:
    require_chromium()


def page(tmp_path: Path, body: str, head: str = "") -> Path:
    path = tmp_path / "page.html"
    path.write_text(f'<!doctype html>\n<html><head><meta charset="utf-8">{head}</head>\n<body>{body}</body></html>\n',
                    encoding="utf-8")
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


# A 600 px table that a media query hides on narrow screens: it fits only if the layout viewport really is 375 px.
RESPONSIVE = """
<h1>12月份行业政策及动态汇总</h1>
<p>上海市科学技术委员会关于发布《2024年度“科技创新行动计划”》项目申报指南的通知，沪科指南〔2023〕18号。</p>
<table style="width:100%"><tr><td>国家</td><td>2023-12-01</td></tr></table>
<table class="desktop" style="width:600px"><tr><td>wide</td></tr></table>
"""


def test_a_page_that_fits_at_375_reports_no_overflow(tmp_path: Path) -> None:
    html = page(tmp_path, RESPONSIVE, head="<style>@media (max-width: 480px) { .desktop { display: none } }</style>")
    report = inspect(html, 375, ARTIFACTS / "browser-fits-375.png")
    assert report.width == 375
    assert report.overflowing == []
    assert report.scroll_width <= 375


def test_a_600px_table_overflows_at_375_but_not_at_1200(tmp_path: Path) -> None:
    html = page(tmp_path, '<p>short</p><table class="item" style="width:600px"><tr><td>'
                          '<span style="display:inline-block;width:580px">cell</span></td></tr></table>')
    narrow = inspect(html, 375, ARTIFACTS / "browser-wide-table-375.png")
    assert narrow.overflowing == ["table.item right=608"]  # body margin 8 + 600; the cell inside is not listed
    assert narrow.scroll_width > 375
    wide = inspect(html, 1200, ARTIFACTS / "browser-wide-table-1200.png")
    assert wide.overflowing == []
    assert wide.scroll_width == 1200


def test_overflowing_text_and_scrolled_boxes(tmp_path: Path) -> None:
    html = page(tmp_path, '<p id="url">https://www.example.gov.cn/' + "a" * 80 + "</p>"
                '<div style="overflow-x:auto"><table style="width:600px"><tr><td>scrolls</td></tr></table></div>')
    report = inspect(html, 375, ARTIFACTS / "browser-text-375.png")
    assert [entry.rsplit(" right=", 1)[0] for entry in report.overflowing] == ["p#url text"]


def test_links_are_collected_as_written(tmp_path: Path) -> None:
    html = page(tmp_path, """
      <a href="https://www.gov.cn/zhengce/a.html?x=1&amp;y=2">absolute</a>
      <a href="/zhengce/b.html">root-relative</a> <a href="../c.html">relative</a> <a href="#top">fragment</a>
      <a name="anchor">no href</a> <img alt="no src">
      <img src="https://static.example.com/logo.png" alt="remote"> <img src="images/chart.png" alt="relative">
      <a href="mailto:editor@example.com"><img src="//cdn.example.com/i.png" alt="protocol-relative"></a>
    """)
    report = inspect(html, 375, ARTIFACTS / "browser-links-375.png")
    assert report.links == [
        "https://www.gov.cn/zhengce/a.html?x=1&y=2", "/zhengce/b.html", "../c.html", "#top",
        "https://static.example.com/logo.png", "images/chart.png",
        "mailto:editor@example.com", "//cdn.example.com/i.png",
    ]


@pytest.mark.parametrize("width", [375, 1200])
def test_screenshot_is_a_png_of_the_asked_width(tmp_path: Path, width: int) -> None:
    html = page(tmp_path, RESPONSIVE + '<div style="height:2000px">长页面</div>')
    shot = ARTIFACTS / f"browser-screenshot-{width}.png"
    shot.unlink(missing_ok=True)
    report = inspect(html, width, shot)
    assert report.screenshot == shot
    shot_width, shot_height = png_size(shot)
    assert shot_width == width
    assert shot_height > 2000  # the whole page, not just the 800 px viewport


def test_a_measuring_script_of_the_caller_reports_rendered_sizes(tmp_path: Path) -> None:
    html = page(tmp_path, '<p style="font-size:13px">小字</p><svg viewBox="0 0 720 100" style="width:100%">'
                          '<text x="10" y="50" style="font-size:11px">2023-12</text></svg>')
    script = ("[...document.querySelectorAll('p, text')].map((el) => parseFloat(getComputedStyle(el).fontSize)"
              " * (el.getScreenCTM ? el.getScreenCTM().a : 1))")
    report = inspect(html, 375, ARTIFACTS / "browser-measure-375.png", measure=script)
    paragraph, svg_text = report.measured
    assert paragraph == 13
    assert svg_text == pytest.approx(11 * (375 - 16) / 720, abs=0.05)  # an SVG's text shrinks with it
    with pytest.raises(BrowserError, match="measuring script failed"):
        inspect(html, 375, ARTIFACTS / "browser-measure-375.png", measure="nothing.here")


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrowserError, match="no such file"):
        inspect(tmp_path / "absent.html", 375, tmp_path / "absent.png")
