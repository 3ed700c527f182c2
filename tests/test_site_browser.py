"""The archive site in real headless Chromium (Debian chromium, driven by Playwright), served on 127.0.0.1: filters,
Chinese search, highlighted diffs, scraped script that never runs, keyboard use, contrast and phone widths.

Screenshots of what each test saw are kept in tests/artifacts/ (site-*.png).
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from itertools import pairwise

import pytest

from policywatch.archive.chart import NARROW, policy_chart, region_colours
from policywatch.digest.regions import region_label
from policywatch.digest.render import BUILTIN, environment
from policywatch.portal import serve
from tests.archive_site import CELL_TITLE, HOSTILE_TITLE_SHOWN, PLANTED
from tests.browser import ARTIFACTS, CHROMIUM, MEASURE, require_chromium

# WCAG 2 contrast of an element's text against the first opaque background behind it.
CONTRAST = r"""
(selector) => {
  const rgb = (s) => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
    }
    return rgb(getComputedStyle(document.documentElement).backgroundColor).slice(0, 3);
  };
  return [...document.querySelectorAll(selector)].slice(0, 5).map((el) => {
    const [a, b] = [lum(rgb(getComputedStyle(el).color).slice(0, 3)), lum(background(el))];
    return Math.round(((Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)) * 100) / 100;
  });
}
"""
# Every label of the chart drawing the page shows, with its rendered font size: an SVG's text scales with it.
CHART_LABELS = r"""
() => {
  const shown = [...document.querySelectorAll('.chart svg')].filter((svg) => getComputedStyle(svg).display !== 'none');
  return shown.map((svg) => {
    const box = svg.getBoundingClientRect();
    const labels = [...svg.querySelectorAll('text.axis')];
    return {name: svg.getAttribute('class'), left: box.left, right: box.right, labels: labels.map((text) => {
      const r = text.getBoundingClientRect();
      return {text: text.textContent, px: parseFloat(getComputedStyle(text).fontSize) * text.getScreenCTM().a,
              left: r.left, right: r.right};
    })};
  });
}
"""
TEXT_SELECTORS = ("body", "h1", ".lede", ".meta", ".count", ".entry a", ".kind-new", ".kind-changed", "label",
                  "ins.pw-ins", "del.pw-del", ".facts dt", ".pw-sbs td", ".top a", ".grid th", ".grid td")


@pytest.fixture(scope="module")
def served(archive):
    """The test archive, its site served on a loopback port, and one headless Chromium: (archive, base, browser)."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with ExitStack() as stack:
        base = stack.enter_context(serve(archive.out))
        playwright = stack.enter_context(sync_playwright())
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        stack.callback(browser.close)
        yield archive, base, browser


@pytest.fixture
def page(served, request):
    """A fresh tab at 1200 px; any script error on the page fails the test; a screenshot is kept afterwards."""
    _, _, browser = served
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    yield tab
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = request.node.name.replace("/", "_")
    tab.screenshot(path=ARTIFACTS / f"site-{name}.png", full_page=True)
    context.close()
    assert errors == []


def entries(page) -> list[str]:
    return page.locator("#entries li.entry").all_inner_texts()


def open_index(page, base: str) -> int:
    page.goto(f"{base}/index.html")
    page.wait_for_selector("#filters:not([hidden])")
    return len(entries(page))


def test_filtering_by_region_narrows_the_list(served, page):
    _, base, _ = served
    everything = open_index(page, base)
    assert everything == 7  # five new documents, a text and an attachment change
    page.select_option("#f-region", "吉林省")
    listed = entries(page)
    assert 0 < len(listed) < everything
    assert all("吉林省" in entry for entry in listed)
    assert page.inner_text("#count") == f"找到 {len(listed)} 条（共 {everything} 条）"
    assert "region=" in page.url
    # The filter is in the address: opening it again shows the same list.
    page.goto(page.url)
    page.wait_for_selector("#filters:not([hidden])")
    assert entries(page) == listed and page.input_value("#f-region") == "吉林省"
    page.click("button[type=reset]")
    page.wait_for_function(f"document.querySelectorAll('#entries li.entry').length === {everything}")


def test_search_finds_a_document_by_a_chinese_term_in_either_script(served, page):
    _, base, _ = served
    everything = open_index(page, base)
    page.fill("#f-q", "备案工作")
    found = entries(page)
    assert 0 < len(found) < everything and all(CELL_TITLE in entry for entry in found)
    page.fill("#f-q", "細胞治療 措施")  # Traditional characters, two words: both must appear
    found = entries(page)
    assert found and all("吉林省关于促进免疫细胞治疗产业发展的若干措施" in entry for entry in found)
    page.fill("#f-q", "量子计算")
    assert entries(page) == [] and page.inner_text("#count") == f"找到 0 条（共 {everything} 条）"


def test_document_page_highlights_the_planted_insertion(served, page):
    archive, base, _ = served
    page.goto(f"{base}/documents/{archive.ids['p/1.html']}.html")
    for where in ("#v2 .diff-inline", "#v2 .pw-sbs td.pw-new"):
        inserted = page.locator(f"{where} ins.pw-ins", has_text=PLANTED)
        assert inserted.count() == 1 and inserted.is_visible()
        style = inserted.evaluate("el => [getComputedStyle(el).textDecorationLine, getComputedStyle(el)"
                                  ".backgroundColor, getComputedStyle(el.parentElement).backgroundColor]")
        assert "underline" in style[0] and style[1] != style[2]
    assert page.locator("#v2 .pw-sbs td.pw-old", has_text=PLANTED).count() == 0
    page.click("a[href='#v2']")
    assert page.evaluate("location.hash") == "#v2"


def test_scraped_script_never_runs_and_shows_as_text(served, page):
    archive, base, _ = served
    open_index(page, base)
    page.fill("#f-q", "pwned")
    assert len(entries(page)) == 1
    page.click("#entries a")
    page.wait_for_url(f"**/documents/{archive.ids['p/3.html']}.html")
    assert page.inner_text("h1") == HOSTILE_TITLE_SHOWN
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main script, main img, main b").count() == 0


def test_keyboard_reaches_the_skip_link_then_main_content_then_the_search(served, page):
    _, base, _ = served
    open_index(page, base)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    assert page.locator(".skip").bounding_box()["x"] >= 0  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-q"
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.type("细胞")
    page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # a select changes with the arrow keys alone
    assert page.input_value("#f-source") != ""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_contrast_meets_wcag_aa(served, page, scheme):
    archive, base, _ = served
    page.emulate_media(color_scheme=scheme)
    for path in ("index.html", f"documents/{archive.ids['p/1.html']}.html", "sources/sh.html", "chart.html"):
        page.goto(f"{base}/{path}")
        measured = 0
        for selector in TEXT_SELECTORS:
            ratios = page.evaluate(CONTRAST, selector)
            assert all(r >= 4.5 for r in ratios), f"{scheme} {path} {selector}: contrast {ratios}"
            measured += len(ratios)
        assert measured >= 10, f"{path}: only {measured} elements measured"


@pytest.mark.parametrize("path", ["index.html", "document", "sources/sh.html", "chart.html", "digests.html"])
def test_pages_fit_a_phone_screen(served, page, path):
    archive, base, _ = served
    path = f"documents/{archive.ids['p/1.html']}.html" if path == "document" else path
    page.set_viewport_size({"width": 375, "height": 800})
    page.goto(f"{base}/{path}")
    measured = page.evaluate(MEASURE)
    assert measured["innerWidth"] == 375
    assert measured["scrollWidth"] <= 375 and measured["overflowing"] == [], measured["overflowing"]


def check_chart(page, width: int) -> dict:
    """One drawing of the chart shows at ``width``; its labels are 11 px or more and keep apart; a caption says
    what it counts. Returns the drawing as measured."""
    page.set_viewport_size({"width": width, "height": 900})
    [drawing] = page.evaluate(CHART_LABELS)
    assert drawing["name"] == ("chart-narrow" if width < 768 else "chart-wide")
    assert drawing["labels"] and all(label["px"] >= 11 for label in drawing["labels"]), drawing["labels"]
    months = sorted((label for label in drawing["labels"] if "-" in label["text"]), key=lambda label: label["left"])
    assert all(a["right"] + 4 <= b["left"] for a, b in pairwise(months)), months
    assert all(drawing["left"] <= label["left"] and label["right"] <= drawing["right"] for label in drawing["labels"])
    caption = page.locator("figure.chart figcaption .caption")
    assert caption.is_visible() and caption.inner_text().startswith("图：各地区每月政策数")
    return drawing


@pytest.mark.parametrize("width", [375, 1200])
def test_chart_labels_are_legible_on_a_phone_and_a_desktop(served, page, width):
    _, base, _ = served
    page.goto(f"{base}/chart.html")
    months = [label["text"] for label in check_chart(page, width)["labels"] if "-" in label["text"]]
    assert months == ["2023-11", "2023-12"]


@pytest.mark.parametrize("width", [375, 1200])
def test_a_busy_chart_keeps_its_labels_legible_and_apart(page, tmp_path, width):
    """Forty months of ten regions: the phone drawing shows the last twelve, the desktop one thirty-six."""
    regions = ["国家", "北京市", "上海市", "广东省", "浙江省", "江苏省", "吉林省", "海南省", "四川省", "湖北省"]
    policies = [(f"{2021 + i // 12}-{i % 12 + 1:02d}", regions[(i * 7 + j) % len(regions)])
                for i in range(40) for j in range(i * 37 % 23 + 3)]
    (tmp_path / "assets").mkdir()
    shutil.copyfile(BUILTIN / "site" / "site.css", tmp_path / "assets" / "site.css")
    html = environment(None).get_template("site/chart.html.j2").render(
        root="", source_file=str, timezone="Asia/Shanghai", chart=policy_chart(policies), undated=0,
        region_label=region_label,
        narrow=policy_chart(policies, NARROW, region_colours(policies)))
    (tmp_path / "chart.html").write_text(html, encoding="utf-8")
    page.goto((tmp_path / "chart.html").as_uri())
    months = [label["text"] for label in check_chart(page, width)["labels"] if "-" in label["text"]]
    phone = width < 768
    assert months == (["2023-05", "2023-08", "2023-11", "2024-02"] if phone else
                      ["2021-05", "2021-11", "2022-05", "2022-11", "2023-05", "2023-11"])
    assert f"最近 {12 if phone else 36} 个月" in page.inner_text("figcaption")
