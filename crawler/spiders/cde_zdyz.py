"""CDE (药品审评中心) 指导原则专栏: the guideline database and its 发布通告, read from /zdyz/getDomesticGuideList.

Why a spider: the list pages (/zdyz/listpage/<id>) are empty shells whose script POSTs a form — pageNum,
pageSize and filters — to getDomesticGuideList and renders the JSON (``{"code": 200, "data": {"records": […],
"pages": N}}``). Config cannot send a form or count pages, and a guideline record carries no link, only its
``zdyzIdCODE`` (the page is /zdyz/domesticinfopage?zdyzIdCODE=…). The site sits behind
a Ruishu (瑞数) JS wall; its challenge page is reported as such, never parsed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from policywatch.crawler.spiders.api import ApiListSpider, Call, at


class CdeGuidelines(ApiListSpider):
    """指导原则数据库: start_urls[0] is its list page, /zdyz/listpage/9cd8db3b7530c6fa0c86485e563f93c7."""

    name = "cde-zdyz"
    item = "json:data.records"
    link = "json:externalLinks|infoUrl"  # infoUrl: derived from zdyzIdCODE in prepare()
    title = "json:title"
    date = "json:issueDate"

    def form(self) -> dict[str, str]:
        """The list page's own filters, all left open (适用范围 zyfl1/zyfl2, 发布日期 issueDate1/2)."""
        return {"searchTitle": "", "zyfl1": "", "zyfl2": "", "issueDate1": "", "issueDate2": ""}

    def call(self, page: int) -> Call:
        form = {"pageNum": str(page), "pageSize": str(self.page_size)} | self.form()
        return Call(urljoin(self.base_url, "/zdyz/getDomesticGuideList"), form, post=True)

    def api_error(self, data: Any) -> str | None:
        code = at(data, "code")
        if code is not None and str(code) != "200":
            return f"API error: code {code}: {at(data, 'msg') or at(data, 'message') or ''}".strip()[:300]
        return super().api_error(data)

    def prepare(self, data: Any) -> Any:
        for record in at(data, "data", "records") or []:
            if not isinstance(record, dict):
                continue
            code = record.get("zdyzIdCODE")
            if code and not record.get("externalLinks"):
                record["infoUrl"] = f"/zdyz/domesticinfopage?zdyzIdCODE={quote(str(code))}"
        return data

    def last_page(self, data: Any) -> int | None:
        count = at(data, "data", "pages")
        return count if isinstance(count, int) else None


class CdeNotices(CdeGuidelines):
    """发布通告: the notices that issue guidelines (records link out via externalLinks); its list page,
    /zdyz/listpage/2853510d929253719601db17b8a9fd81, names the column id the form sends as classid."""

    name = "cde-zdyz-fbtg"

    def form(self) -> dict[str, str]:
        column = urlsplit(self.base_url).path.rstrip("/").rsplit("/", 1)[-1]
        return {"searchTitle": "", "isFbtg": "1", "classid": column, "issueDate1": "", "issueDate2": ""}
