"""Regions: which province a policy belongs to, and the order digests list them in.

A provincial portal's source names its region in config. Industry news sites carry items from everywhere, so
there the region is read from the item itself: the issuing authority first, then the title, then the opening of
the text; a city or district counts for its province (深圳 → 广东省). A measure for one city or zone is filed
under that place even when a central body issues it (国务院 on 博鳌乐城, 国家发改委 on 横琴), as a hand-edited
roundup files it. Digests list the national level first, then provinces in the conventional order of their
administrative division codes (北京 11, 天津 12 … 新疆 65), then Hong Kong, Macao and Taiwan.
"""

from __future__ import annotations

import re

NATIONAL = "国家"
OTHER = "其他"

# (name, short name, English) in administrative-division-code order.
PROVINCES: tuple[tuple[str, str, str], ...] = (
    ("北京市", "北京", "Beijing"), ("天津市", "天津", "Tianjin"),
    ("河北省", "河北", "Hebei Province"), ("山西省", "山西", "Shanxi Province"),
    ("内蒙古自治区", "内蒙古", "Inner Mongolia"), ("辽宁省", "辽宁", "Liaoning Province"),
    ("吉林省", "吉林", "Jilin Province"), ("黑龙江省", "黑龙江", "Heilongjiang Province"),
    ("上海市", "上海", "Shanghai"), ("江苏省", "江苏", "Jiangsu Province"),
    ("浙江省", "浙江", "Zhejiang Province"), ("安徽省", "安徽", "Anhui Province"),
    ("福建省", "福建", "Fujian Province"), ("江西省", "江西", "Jiangxi Province"),
    ("山东省", "山东", "Shandong Province"), ("河南省", "河南", "Henan Province"),
    ("湖北省", "湖北", "Hubei Province"), ("湖南省", "湖南", "Hunan Province"),
    ("广东省", "广东", "Guangdong Province"), ("广西壮族自治区", "广西", "Guangxi"),
    ("海南省", "海南", "Hainan Province"), ("重庆市", "重庆", "Chongqing"),
    ("四川省", "四川", "Sichuan Province"), ("贵州省", "贵州", "Guizhou Province"),
    ("云南省", "云南", "Yunnan Province"), ("西藏自治区", "西藏", "Tibet"),
    ("陕西省", "陕西", "Shaanxi Province"), ("甘肃省", "甘肃", "Gansu Province"),
    ("青海省", "青海", "Qinghai Province"), ("宁夏回族自治区", "宁夏", "Ningxia"),
    ("新疆维吾尔自治区", "新疆", "Xinjiang"), ("香港特别行政区", "香港", "Hong Kong"),
    ("澳门特别行政区", "澳门", "Macao"), ("台湾省", "台湾", "Taiwan"),
)
ENGLISH = {NATIONAL: "National level", OTHER: "Other"} | {name: en for name, _, en in PROVINCES}
_ORDER = {name: i for i, name in enumerate([NATIONAL, *(p[0] for p in PROVINCES), OTHER])}

# Cities and districts that policy news names without their province: capitals, sub-provincial cities and the
# places with cell-therapy pilot zones.
CITIES = {
    "石家庄": "河北省", "太原": "山西省", "呼和浩特": "内蒙古自治区", "沈阳": "辽宁省", "大连": "辽宁省",
    "长春": "吉林省", "哈尔滨": "黑龙江省", "南京": "江苏省", "苏州": "江苏省", "无锡": "江苏省", "泰州": "江苏省",
    "杭州": "浙江省", "宁波": "浙江省", "萧山": "浙江省", "合肥": "安徽省", "福州": "福建省", "厦门": "福建省",
    "南昌": "江西省", "济南": "山东省", "青岛": "山东省", "郑州": "河南省", "武汉": "湖北省", "长沙": "湖南省",
    "广州": "广东省", "深圳": "广东省", "南山区": "广东省", "珠海": "广东省", "佛山": "广东省", "东莞": "广东省",
    "南宁": "广西壮族自治区", "海口": "海南省", "成都": "四川省", "贵阳": "贵州省", "昆明": "云南省",
    "拉萨": "西藏自治区", "西安": "陕西省", "兰州": "甘肃省", "西宁": "青海省", "银川": "宁夏回族自治区",
    "乌鲁木齐": "新疆维吾尔自治区",
}
# Zones that central measures are made for (pilot zones, new areas, free-trade and cooperation zones), by the
# names titles use. A title naming one of these, or a city, is a measure for that place (see specific_place).
ZONES = {
    "横琴": "广东省", "前海": "广东省", "南沙新区": "广东省", "河套深港科技创新合作区": "广东省",
    "浦东": "上海市", "临港": "上海市", "张江": "上海市", "虹桥国际开放枢纽": "上海市",
    "博鳌": "海南省", "乐城": "海南省", "海南自由贸易港": "海南省", "洋浦": "海南省",
    "雄安": "河北省", "中关村": "北京市", "亦庄": "北京市", "北京经济技术开发区": "北京市",
    "滨海新区": "天津市", "两江新区": "重庆市", "天府新区": "四川省", "平潭": "福建省",
}
_MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市")  # cities as well as provinces
# A title about the whole country that names a place as an example: "在全国推广深圳经验".
_NATIONWIDE = re.compile(r"全国(?!人大|人民代表大会|政协)|各地|各省|推广")
# Bodies of the central government, by the names news items use for them.
_NATIONAL_BODIES = (
    "国务院", "国家", "中共中央", "全国人大", "全国人民代表大会", "卫生健康委", "卫健委", "药监局", "药品监督管理局",
    "发展改革委", "发改委", "科技部", "科学技术部", "工业和信息化部", "工信部", "商务部", "财政部", "教育部",
    "医保局", "医疗保障局", "市场监管总局", "CDE", "药审中心", "药品审评中心", "NMPA", "NHC", "中检院",
)
_NAMES = sorted(
    [(full, full) for full, _, _ in PROVINCES]
    + [(short, full) for full, short, _ in PROVINCES]
    + list(CITIES.items()) + list(ZONES.items()),
    key=lambda pair: -len(pair[0]),
)
_PLACE = re.compile("|".join(re.escape(name) for name, _ in _NAMES))
_PLACE_OF = dict(_NAMES)
_NATIONAL = re.compile("|".join(re.escape(b) for b in _NATIONAL_BODIES))


def infer_region(authority: str | None, title: str | None, text: str = "") -> str:
    """The region an item is about: a province's full name, NATIONAL, or OTHER when nothing says.

    The authority decides when it names a place or a central body; then the title; then the first 200 characters
    of the text. Within one of those, the first place named wins ("国家发改委…支持横琴…" is national), except that
    a central measure whose title is for one city or zone belongs to that place (see specific_place).
    Expects Simplified Chinese.
    """
    for part in (authority or "", title or "", text[:200]):
        place, national = _PLACE.search(part), _NATIONAL.search(part)
        if place and (not national or place.start() < national.start()):
            return _PLACE_OF[place.group()]
        if national:
            return specific_place(title or "") or NATIONAL
    return OTHER


def specific_place(title: str) -> str | None:
    """The province of the one city or zone a title is about ("国务院关于在海南博鳌乐城…的决定" → 海南省); None
    when it names no city or zone, places in several provinces ("香港…深圳湾"), or the whole country ("全国推广").

    A municipality counts as a city; another province's name alone does not make a measure local ("内地西藏班" is
    national), though it may stand beside its own city or zone ("河北雄安新区"). Expects Simplified Chinese.
    """
    if _NATIONWIDE.search(title):
        return None
    named = _PLACE.findall(title)
    provinces = {_PLACE_OF[name] for name in named}
    local = any(name in CITIES or name in ZONES or _PLACE_OF[name] in _MUNICIPALITIES for name in named)
    return provinces.pop() if local and len(provinces) == 1 else None


def document_region(configured: str | None, authority: str, title: str, text: str) -> str:
    """A document's region: its source's configured one, else the one it names (see infer_region; Simplified
    text). A national source's measure for one city or zone belongs to that place. Digests and the archive site
    both place documents with it, so they always agree."""
    if configured == NATIONAL:
        return specific_place(title) or NATIONAL
    return configured or infer_region(authority, title, text)


def region_order(region: str) -> float:
    """Sort key: national first, provinces in code order, unknown names after them, OTHER last."""
    return _ORDER.get(region, len(_ORDER) - 1 if region == OTHER else len(_ORDER) - 1.5)


def region_label(region: str, language: str) -> str:
    """A region's heading: "国家层面" / "National level" for the national level, the name otherwise."""
    if language == "en":
        return ENGLISH.get(region, region)
    return "国家层面" if region == NATIONAL else region


def is_region(name: str) -> bool:
    """Whether a digest or subscriber may name this region: a full or short name, 国家/national, or 其他."""
    return name in _ORDER or name == "national" or any(name == short for _, short, _ in PROVINCES)
