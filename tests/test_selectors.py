"""Lists of CSS selectors answered in one walk of a page (SelectorSet): the same elements as lxml's CSS translation
asks them one by one, and the same body chosen when reading one container drops another."""

from __future__ import annotations

import random
import re

import pytest

from policywatch.crawler.extract.content import KNOWN_BODIES, main_text, parse_html, strip_invisible
from policywatch.crawler.extract.selectors import SelectorSet, css
from policywatch.crawler.extract.title import TITLE_SELECTORS
from tests.conftest import CORPUS, read_corpus
from tests.test_titles import page


def test_selector_sets_find_what_lxmls_css_finds_on_every_saved_page_and_on_odd_markup() -> None:
    """The title and body selectors are answered in one walk (SelectorSet): each selector's elements must be
    exactly those of lxml's CSS translation, in the same order, on the saved real pages and on markup made to
    differ (classes split by tabs, line breaks, U+3000 or no-break spaces, repeated, empty; upper-case tags;
    look-alike names)."""
    rng = random.Random(7)
    words = ["title", "Title", "tit", "titles", "bt", "x_bt", "a-bt", "biaoti", "article-title", "news_title",
             "ivs_title", "subtitle", "TITLE", "", "wdtit", "div", "zw", "zoom", "Zoom", "TRS_Editor", "content",
             "content1", "UCAP-CONTENT", "zwx"]
    spaces = [" ", "  ", "\t", "\n", "\r\n", "\u3000", "\xa0", "\x0c"]
    tags = ["div", "DIV", "h1", "H2", "h3", "h4", "p", "span", "td"]
    odd = []
    for _ in range(400):
        attrs = ""
        if rng.random() < 0.8:
            tokens = rng.sample(words, rng.randint(0, 3))
            attrs += f' class="{rng.choice(spaces).join(tokens)}{rng.choice(["", *spaces])}"'
        if rng.random() < 0.3:
            attrs += f' id="{rng.choice(words)}"'
        tag = rng.choice(tags)
        odd.append(f"<{tag}{attrs}>某某{'<b class=title>内</b>' if rng.random() < 0.2 else ''}</{tag}>")
    pages = [page("".join(odd[i:i + 50])) for i in range(0, len(odd), 50)]
    saved = sorted(CORPUS.glob("*.htm*"))
    pages += [read_corpus(p.name) for p in saved]
    assert len(saved) >= 20  # the control: the corpus is there
    for selectors in (TITLE_SELECTORS, KNOWN_BODIES):
        found = 0
        for text in pages:
            root = parse_html(text)
            strip_invisible(root)
            matched = SelectorSet(selectors)(root)
            for rank, selector in enumerate(selectors):
                assert matched[rank] == css(selector)(root), selector
                found += len(matched[rank])
        assert found > 50  # the control: the selectors match plenty


def test_a_selector_of_another_form_is_refused() -> None:
    for selector in ("div > h1", "h1 h2", "a[href]", "#a.b", ".a.b", "H1", "[class^=a]", ".a'b"):
        refused = f"a selector of a form SelectorSet does not read: {re.escape(repr(selector))}"
        with pytest.raises(ValueError, match=refused):
            SelectorSet((*TITLE_SELECTORS, selector))


def test_a_body_container_inside_a_dropped_widget_of_an_earlier_one_is_not_read() -> None:
    """The known body containers are tried in order, and reading one drops its widgets: a later container that
    sat in such a widget is gone, as it was when each selector was asked in turn."""
    hidden = "这是分享组件里的一段文字，不是正文，读取前一个容器时已随组件删除，不应被当作正文返回。" * 2
    root = parse_html(page(f"<div id='zoom'>短<div class='share'><div class='zw'>{hidden}</div></div></div>"
                           "<p>" + "真正的正文段落，由最后的回退方法找到。" * 5 + "</p>"))
    assert hidden not in main_text(root)
    control = parse_html(page(f"<div id='zoom'>短</div><div class='zw'>{hidden}</div>"))
    assert hidden in main_text(control)  # the control: outside a widget, the later container is read
