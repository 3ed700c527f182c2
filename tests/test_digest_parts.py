"""The digest's parts on their own: periods, topics, regions, summaries, change lines, the chart."""

from __future__ import annotations

import struct
from datetime import date

import pytest

from policywatch.core.config import Topic
from policywatch.core.hanzi import simplified, traditional
from policywatch.detection.edits import sentence_edits
from policywatch.digest.chart import bar_chart, buckets, caption
from policywatch.digest.period import PeriodError, parse_period
from policywatch.digest.regions import NATIONAL, OTHER, infer_region, region_label, region_order
from policywatch.digest.summary import MAX_CHARS, change_line, sentences, summarise
from policywatch.digest.topics import relevance

CELL_TERMS = ("干细胞", "细胞治疗", "免疫细胞", "CAR-T", "NK细胞", "基因治疗", "外泌体")
CELLS = Topic("cell-therapy", "细胞与基因治疗", CELL_TERMS)


@pytest.mark.parametrize(("text", "kind", "start", "end"), [
    ("2023-12", "month", date(2023, 12, 1), date(2024, 1, 1)),
    ("2024-2", "month", date(2024, 2, 1), date(2024, 3, 1)),
    ("2023-W50", "week", date(2023, 12, 11), date(2023, 12, 18)),
    ("2020-w53", "week", date(2020, 12, 28), date(2021, 1, 4)),
])
def test_periods_are_half_open_date_ranges(text: str, kind: str, start: date, end: date) -> None:
    period = parse_period(text, kind)
    assert (period.start, period.end) == (start, end)
    assert parse_period(period.key, kind) == period and period.next().previous() == period


@pytest.mark.parametrize(("text", "kind", "error"), [
    ("2023-13", "month", "'2023-13' is not a month like 2023-12"),
    ("2023-W50", "month", "'2023-W50' is not a month like 2023-12"),
    ("2023-12", "week", "'2023-12' is not an ISO week like 2023-W50"),
    ("2023-W53", "week", "'2023-W53': year 2023 has no week 53"),
    ("December", "month", "'December' is not a month like 2023-12"),
])
def test_bad_periods_say_what_is_expected(text: str, kind: str, error: str) -> None:
    with pytest.raises(PeriodError, match=f"^{error}$"):
        parse_period(text, kind)


def test_traditional_text_matches_simplified_terms() -> None:
    title = simplified("北京市衛生健康委員會發布《2021 年北京市衛生健康科教工作要點》")
    text = simplified("做好干細胞、體細胞臨床研究機構和項目備案的初審工作，支持開展細胞治療。")
    assert "卫生健康" in title and relevance(CELLS, title, text) == 2  # two terms, both in the text only
    assert traditional("细胞治疗政策汇总") == "細胞治療政策彙總"


@pytest.mark.parametrize(("title", "text", "score"), [
    ("关于开展干细胞临床研究备案的通知", "", 3),  # a term in the title
    ("关于开展干细胞临床研究备案的通知", "干细胞、免疫细胞", 4),  # a title term counts once
    ("关于开展科技型中小企业评价工作的通知", "附件中提到干细胞。", 1),  # a passing mention
    ("car-t 细胞疗法进展", "", 3),  # Latin letters in any case
    ("关于干细胞美容广告的通告", "", 0),  # excluded
])
def test_relevance(title: str, text: str, score: float) -> None:
    topic = Topic("t", "t", CELLS.include, exclude=("美容",))
    assert relevance(topic, title, text) == score


@pytest.mark.parametrize(("authority", "title", "text", "region"), [
    ("吉林省人民政府办公厅", "关于打造吉林省生物医药新赛道的实施方案", "", "吉林省"),
    ("国家发改委", "商务部关于支持横琴粤澳深度合作区放宽市场准入特别措施的意见", "", "广东省"),  # for one zone
    ("国家发改委", "关于印发《“十四五”生物经济发展规划》的通知", "支持横琴、前海先行先试……", NATIONAL),
    ("CDE", "CDE发布《细胞和基因治疗产品临床相关沟通交流技术指导原则》的通告", "", NATIONAL),
    ("", "深圳经济特区细胞和基因产业促进条例（草案）立法征求意见座谈会", "", "广东省"),
    ("", "昆明国家高新技术产业开发区发布细胞产业政策", "", "云南省"),  # the place comes before 国家
    ("", "细胞免疫治疗临床操作技术规范", "河北省市场监督管理局组织制定了……", "河北省"),
    ("干细胞与外泌体", "糖尿病群体内NK细胞活性明显降低", "韩国首尔的临床研究团队……", OTHER),
])
def test_regions_are_inferred_from_authority_then_title_then_text(authority, title, text, region) -> None:
    assert infer_region(authority, title, text) == region


def test_regions_sort_national_first_then_by_division_code() -> None:
    regions = ["河北省", OTHER, "广东省", NATIONAL, "北京市", "上海市", "云南省", "天津市"]
    assert sorted(regions, key=region_order) == [NATIONAL, "北京市", "天津市", "河北省", "上海市", "广东省", "云南省",
                                                 OTHER]
    assert (region_label(NATIONAL, "zh-Hans"), region_label("广东省", "en")) == ("国家层面", "Guangdong Province")


ARTICLE = (
    "各市（州）卫生健康委：\n"
    "为贯彻落实党中央、国务院决策部署，推动生物医药产业高质量发展，现将有关事项通知如下。\n"
    "12月5日，吉林省正式发布《关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案》（吉政办发〔2023〕38号）。\n"
    "方案提出优化营商环境，完善要素保障。\n"
    "重点开展间充质干细胞、NK细胞、树突状细胞等细胞规模化制备及质量控制等关键技术研究。\n"
    "加快培育医疗器械产业集群，支持企业开拓国际市场，提升产业链供应链韧性和安全水平。\n"
    "推进干细胞外泌体治疗缺血性脑损伤的临床前研究、干细胞制剂临床研究和免疫细胞治疗产品研发。\n"
    "联系电话：0431-88904321。\n"
)


def test_summary_drops_the_opener_and_keeps_the_sentences_that_say_something_in_order() -> None:
    """More in tests/test_summary.py."""
    summary = summarise(ARTICLE, CELLS.include, title="关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案")
    assert summary == (
        "12月5日，吉林省正式发布《关于打造吉林省生物医药与高端医疗器械产业新赛道的实施方案》（吉政办发〔2023〕38号）。"
        "方案提出优化营商环境，完善要素保障。"
        "重点开展间充质干细胞、NK细胞、树突状细胞等细胞规模化制备及质量控制等关键技术研究。"
        "推进干细胞外泌体治疗缺血性脑损伤的临床前研究、干细胞制剂临床研究和免疫细胞治疗产品研发。"
    )
    assert len(summary) <= MAX_CHARS


@pytest.mark.parametrize("limit", [40, 80, 120, 200])
def test_summary_never_cuts_a_sentence(limit: int) -> None:
    whole = sentences(ARTICLE)
    summary = summarise(ARTICLE, CELLS.include, max_chars=limit)
    assert len(summary) <= limit
    rest = summary
    while rest:  # the summary is a run of whole sentences of the text
        first = next(s for s in whole if rest.startswith(s))
        rest = rest[len(first):]


def test_summary_of_nothing_is_empty() -> None:
    assert summarise("", CELLS.include) == "" and summarise("打印本页 关闭窗口", CELLS.include) == ""


def test_change_line_names_the_parts_and_tells_each_edit_in_context() -> None:
    edits = sentence_edits("支持开展干细胞临床研究。资助金额最高200万元。",
                           "支持开展干细胞和免疫细胞临床研究。资助金额最高250万元。")
    line = change_line(["text", "attachment"], edits, "zh-Hans")
    assert line == ("更新：正文、附件内容。在“支持开展干细胞”后新增“和免疫细胞”；"
                    "资助金额由“最高200万元”调整为“最高250万元”")
    assert change_line(["text"], edits, "zh-Hans", marked=True) == (
        "更新：正文。在“支持开展干细胞”后新增“<ins>和免疫细胞</ins>”；资助金额由“最高<del>200</del>万元”调整为“最高<ins>250</ins>万元”")
    assert change_line(["title"], None, "en") == "Updated: title"


def test_chart_counts_items_per_week_and_is_a_png_of_fixed_size() -> None:
    period = parse_period("2023-12", "month")
    days = [date(2023, 12, 5), date(2023, 12, 6), date(2023, 12, 29), date(2023, 11, 30)]
    series = buckets(period, days)
    assert series == [("12/1-7", 2), ("12/8-14", 0), ("12/15-21", 0), ("12/22-28", 0), ("12/29-31", 1)]
    png = bar_chart(series)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (960, 320)  # 480 x 160, sharp
    assert bar_chart(series) == png
    assert caption(series, period, "zh-Hans") == "每周条目数，共 3 条"
    week = parse_period("2023-W50", "week")
    assert caption(buckets(week, [date(2023, 12, 12)]), week, "en") == "items per day, 1 in all"
    assert caption(series, period, "zh-Hant") == "每週條目數，共 3 條"
