"""The few CMS platforms most Chinese government portals run on, each with the rules its sites share.

A source on one of these names it (``platform = "trs"``) and gives only the selectors where its site
differs, instead of copying the platform's selectors into every entry. The rules are the plain
``[sources.list]`` / ``[sources.detail]`` keys, so a source overrides any of them the usual way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Platform:
    name: str
    list: dict[str, Any] = field(default_factory=dict)
    detail: dict[str, str] = field(default_factory=dict)


PLATFORMS = {p.name: p for p in (
    # TRS WCM (拓尔思): columns list <li><a href title>…</a><span>date</span>; bodies are the editor's
    # div.TRS_Editor / div.TRS_UEDITOR, or #UCAP-CONTENT on gov.cn-style templates.
    Platform(
        "trs",
        list={"item": "xpath://ul/li[a][span]", "link": "a::attr(href)", "title": "a::attr(title)",
              "date": "span::text"},
        detail={"body": "#UCAP-CONTENT, .TRS_Editor, .TRS_UEDITOR, .trs_paper_default, .view.TRS_UEDITOR"},
    ),
    # Hanweb JCMS (大汉): /col/colNNN/index.html columns whose first page ships its items as CDATA records in
    # <script type="text/xml"> (the same records dataproxy.jsp serves; see policywatch.crawler.extract.listing); bodies
    # in #zoom.
    Platform(
        "hanweb",
        list={"item": "div.pw-record", "link": "a::attr(href)", "title": "a::attr(title)",
              "date": "xpath:.//span//text() | .//td[last()]//text()"},
        detail={"body": "#zoom, #Zoom, .bt_content, .article-content"},
    ),
    # Guangdong's 政府信息公开平台 (gkmlpt): lists from the JSON API /gkmlpt/api/all/<column>?page=1&sid=<site>,
    # detail pages with a 索引号 table and div.article-content.
    Platform(
        "gkmlpt",
        list={"item": "json:articles", "link": "json:url|post_url", "title": "json:title",
              "date": "json:first_publish_time|publish_time|create_time|created_at"},
        detail={"title": "h1.title::text", "body": "div.article-content"},
    ),
)}
