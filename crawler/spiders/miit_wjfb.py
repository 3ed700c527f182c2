"""MIIT (工业和信息化部) 文件发布, read from the site search API that its list page runs on.

Why a spider: /zwgk/zcwj/wjfb/ only redirects, in script, to /search/wjfb.html?websiteid=…&category=51, an
empty page whose script asks /search-front-server/api/search/info for one page at a time (``p`` page,
``pg`` page size). Config could read page 1 at most; the answer also nests some entries one level deeper
(``groupData[0].data`` instead of ``data``).
start_urls[0] is that search page: its websiteid and category say which list to read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from policywatch.crawler.spiders.api import ApiListSpider, Call, at, pages


class MiitWjfb(ApiListSpider):
    name = "miit-wjfb"
    item = "json:data.searchResult.dataResults"
    link = "json:data.url"
    title = "json:data.title|data.title_text"
    date = "json:data.jsearch_date|data.deploytime|data.cdate"

    def call(self, page: int) -> Call:
        query = self.query()
        params = {
            "websiteid": query.get("websiteid") or "110000000000000", "category": query.get("category") or "51",
            "q": query.get("q", ""), "pg": str(self.page_size), "p": str(page),
        }
        return Call(urljoin(self.base_url, "/search-front-server/api/search/info"), params)

    def prepare(self, data: Any) -> Any:
        for entry in at(data, "data", "searchResult", "dataResults") or []:
            if not isinstance(entry, dict):
                continue
            if not isinstance(entry.get("data"), dict):  # grouped results: {"groupData": [{"data": {…}}]}
                group = entry.get("groupData")
                first = group[0] if isinstance(group, list) and group else None
                entry["data"] = at(first, "data")
        return data

    def last_page(self, data: Any) -> int | None:
        return pages(at(data, "data", "searchResult", "total"), self.page_size)
