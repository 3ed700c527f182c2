"""How a digest names an issuing body: a ministry's division always with its ministry, as roundups write it.

Ministries' sites sign their pages with the division that wrote them ("来源：科技教育司"), and the crawl stores
the issuer as the page gives it: with its parent when the page names that ("国家卫生健康委员会 科技教育司"), bare
when it does not. A subscriber cannot tell whose 科技教育司 a bare one is, so a digest shows every division with
its ministry, by the short name roundups use ("国家卫生健康委 科技教育司"). The stored issuer is left as it was.
The parent is, in turn: the ministry whose site the page is on, the body the page's source is configured with,
or the one known ministry that has a division of that name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Ministry:
    """A central body: its full name, the short name roundups print, its web host, its divisions."""

    name: str
    short: str
    host: str
    divisions: tuple[str, ...]
    aliases: tuple[str, ...] = ()


# The central bodies a life-sciences policy digest meets most, with their internal divisions (司/局/办公厅) under
# their current names and the earlier names older pages still carry.
MINISTRIES = (
    Ministry("国家卫生健康委员会", "国家卫生健康委", "nhc.gov.cn", (
        "办公厅", "人事司", "规划发展与信息化司", "财务司", "法规司", "体制改革司", "医政司", "医政医管局",
        "医疗应急司", "基层卫生健康司", "卫生健康监督局", "综合监督局", "药物政策与基本药物制度司", "药政司",
        "食品安全标准与监测评估司", "老龄健康司", "妇幼健康司", "职业健康司", "人口监测与家庭发展司",
        "人口家庭司", "宣传司", "国际合作司", "保健局", "科技教育司", "疾病预防控制局", "卫生应急办公室"),
        ("国家卫生健康委", "国家卫健委", "卫生健康委")),
    Ministry("国家药品监督管理局", "国家药监局", "nmpa.gov.cn", (
        "综合和规划财务司", "综合司", "政策法规司", "药品注册管理司", "药品监督管理司", "医疗器械注册管理司",
        "医疗器械监督管理司", "化妆品监督管理司", "科技和国际合作司", "人事司"),
        ("国家药监局", "国家药品监管局")),
    Ministry("科学技术部", "科技部", "most.gov.cn", (
        "办公厅", "战略规划司", "政策法规与创新体系建设司", "政策法规与监督司", "重大专项司", "资源配置与管理司",
        "基础研究司", "高新技术司", "农村科技司", "社会发展科技司", "科技人才与科学普及司", "区域创新发展司",
        "成果转化与区域创新司", "科技监督与诚信建设司", "国际合作司", "人事司"),
        ("中华人民共和国科学技术部",)),
    Ministry("国家发展和改革委员会", "国家发改委", "ndrc.gov.cn", (
        "办公厅", "政策研究室", "发展战略和规划司", "国民经济综合司", "体制改革综合司", "固定资产投资司",
        "利用外资和境外投资司", "地区振兴司", "区域开放司", "农村经济司", "基础设施发展司", "产业发展司",
        "创新和高技术发展司", "高技术产业司", "社会发展司", "价格司", "法规司", "国际合作司", "人事司"),
        ("国家发展改革委", "国家发改委")),
    Ministry("工业和信息化部", "工业和信息化部", "miit.gov.cn", (
        "办公厅", "规划司", "政策法规司", "科技司", "消费品工业司", "产业政策与法规司", "中小企业局"),
        ("工信部",)),
    Ministry("国家医疗保障局", "国家医保局", "nhsa.gov.cn", (
        "办公室", "规划财务和法规司", "待遇保障司", "医药服务管理司", "医药价格和招标采购司", "基金监管司"),
        ("国家医保局",)),
    Ministry("国家中医药管理局", "国家中医药局", "natcm.gov.cn", (
        "办公室", "综合司", "人事教育司", "规划财务司", "医政司", "科技司", "国际合作司"),
        ("国家中医药局",)),
)
_BY_NAME = {name: m for m in MINISTRIES for name in (m.name, m.short, *m.aliases)}
# A division name that only one of the known ministries has names that ministry even on a page of another site.
_OWNER = {d: m for m in MINISTRIES for d in m.divisions
          if sum(d in other.divisions for other in MINISTRIES) == 1}
_KNOWN_DIVISIONS = frozenset(d for m in MINISTRIES for d in m.divisions)
# A division by its form: "产业处", "办公室", "科技教育司". One that starts with a place or a central body, or
# with a body's name, names its parent already ("省能源局节能处", "国家药监局综合司", "国务院办公厅", "科技部办公厅").
# 市 is no place in 市场 or 市级.
_DIVISION = re.compile(r"^[\u4e00-\u9fff]{1,12}(?:司|处|科|室|办公厅)$")
_HAS_PARENT = re.compile(
    r"^(?:国家|国务院|中国|中华|中共|中央|全国|[\u4e00-\u9fff]{0,6}?[省市县区州](?![场域政级属直]))"
    r"|^[\u4e00-\u9fff]{1,20}?(?:委员会|人民政府|政府|办公厅|总局|局|厅|委|署|部)(?=[\u4e00-\u9fff]{2,}$)")
# What names a body that divisions belong to: "甘肃省发展和改革委员会", "上海市科学技术委员会" (not "细胞产业协会").
_BODY = re.compile(r"(?:委员会|人民政府|政府|总局|局|厅|委|署|部)$")
_JOINT = "、"


def display_issuer(authority: str, url: str = "", source_authority: str | None = None) -> str:
    """``authority`` as a digest shows it: each bare division with its parent, each known ministry's division by
    the ministry's short name ("国家卫生健康委员会 科技教育司" → "国家卫生健康委 科技教育司"); anything else as
    stored. ``url`` is the document's address and ``source_authority`` its source's configured body, the places
    a bare division's parent is read from. Expects Simplified Chinese."""
    return _JOINT.join(_one(name, url, source_authority) for name in authority.split(_JOINT))


def _one(name: str, url: str, source_authority: str | None) -> str:
    name = name.strip()
    parent, _, division = name.partition(" ")
    if division and " " not in division and _is_division(division) and parent in _BY_NAME:
        return f"{_BY_NAME[parent].short} {division}"
    if not _is_division(name):
        return name
    parent = _parent(name, url, source_authority)
    return f"{parent} {name}" if parent else name


def _is_division(name: str) -> bool:
    """A part of a body named without the body: "科技教育司", "医政医管局", "产业处"."""
    return not _HAS_PARENT.match(name) and name not in _BY_NAME and (
        name in _KNOWN_DIVISIONS or bool(_DIVISION.match(name)))


def _parent(division: str, url: str, source_authority: str | None) -> str | None:
    """The body a bare division belongs to, by the short name of a known ministry."""
    host = (urlsplit(url).hostname or "").lower()
    for ministry in MINISTRIES:
        if host == ministry.host or host.endswith("." + ministry.host):
            return ministry.short
    configured = (source_authority or "").strip()
    if configured in _BY_NAME:
        return _BY_NAME[configured].short
    if _BODY.search(configured) and configured != division:
        return configured
    owner = _OWNER.get(division)
    return owner.short if owner else None
