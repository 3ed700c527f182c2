"""gov.cn 国务院政策文件库 (国务院文件 and 国务院部门文件), read from the search API behind its library page.

Why a spider: www.gov.cn/zhengce/zhengceku/ has no list of its own (its index answers 403); the library is the
page sousuo.www.gov.cn/zcwjk/policyDocumentLibrary?t=zhengcelibrary, whose script pages through
/search-gov/data (``p`` page, ``n`` page size, newest first with sort=pubtime). The answer groups entries by
kind under ``searchVO.catMap`` — gongwen (国务院文件), bumenfile (部门文件), otherfile (解读), gongbao (公报) —
and config reads one list only; the groups are merged here. Dates are ``pubtimeStr`` (2026.07.24), else
``pubtime``/``ptime`` in epoch milliseconds, where 0 means none (the list reader knows both forms).
start_urls[0] is the library page; its ``t`` and ``q`` are passed on.
"""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urljoin

from policywatch.crawler.spiders.api import ApiListSpider, Call, at, pages


class GovcnZhengceku(ApiListSpider):
    name = "govcn-zhengceku"
    item = "json:searchVO.listVO"  # filled from catMap's groups in prepare() when the API leaves it null
    link = "json:url"
    title = "json:title"
    date = "json:pubtimeStr|pubtime|ptime"
    groups: ClassVar[tuple[str, ...]] = ("gongwen", "bumenfile")

    def call(self, page: int) -> Call:
        query = self.query()
        params = {
            "t": query.get("t") or "zhengcelibrary", "q": query.get("q", ""), "timetype": "timeqb", "mintime": "",
            "maxtime": "", "sort": "pubtime", "sortType": "1", "searchfield": "title", "p": str(page),
            "n": str(self.page_size),
        }
        return Call(urljoin(self.base_url, "/search-gov/data"), params)

    def api_error(self, data: Any) -> str | None:
        code = str(at(data, "code"))
        if code not in ("200", "1001"):  # 1001: "抱歉，没有找到相关结果", an empty page
            return f"API error: code {code}: {at(data, 'msg') or ''}".strip()[:300]
        return None

    def prepare(self, data: Any) -> Any:
        found = at(data, "searchVO")
        if isinstance(found, dict) and not isinstance(found.get("listVO"), list):
            groups = at(found, "catMap") or {}
            found["listVO"] = [entry for name in self.groups for entry in (at(groups, name, "listVO") or [])]
        return data

    def last_page(self, data: Any) -> int | None:
        counts = [pages(at(data, "searchVO", "catMap", name, "totalCount"), self.page_size) for name in self.groups]
        known = [count for count in counts if count is not None]
        return max(known) if known else None
