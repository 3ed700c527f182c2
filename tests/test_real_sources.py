"""The real sources in config.toml read their saved list pages correctly."""

from __future__ import annotations

import pytest

from crawler.extract.encoding import decode_html
from crawler.extract.listing import extract_list
from policywatch import config as config_module
from tests.conftest import CORPUS, ROOT

# source name → (saved list page, URL it was saved from, items, first item's title and date)
SAVED_LISTS = {
    "nmpa-ypggtg": ("nmpa-yaopin-ggtg-list-01.html", "https://www.nmpa.gov.cn/yaopin/ypggtg/index.html",
                    20, "国家药监局关于修订人纤维蛋白原说明书的公告（2025年第101号）", "2025-10-14"),
    "gd-drc-ywtz": ("gd-drc-ywtz-list-01.html", "https://drc.gd.gov.cn/ywtz/index.html", 20,
                    "关于印发《广东省重点行业节能降碳改造攻坚三年行动方案》的通知", "2026-09-24"),
    "nea-nfj-tzgs": ("nea-nfj-tzgs-list-01.html", "https://nfj.nea.gov.cn/xwzx/tzgg/", 15,
                     "国家能源局关于防范违规代办电力业务资质许可的通告", "2025-08-29"),
}


@pytest.fixture(scope="module")
def project_config():
    return config_module.load(ROOT / "config.toml")


def test_every_verified_source_has_a_saved_list(project_config) -> None:
    assert {s.name for s in project_config.sources if s.verified} == set(SAVED_LISTS)


@pytest.mark.parametrize("name", sorted(SAVED_LISTS))
def test_saved_list_page(project_config, name: str) -> None:
    file, url, count, first_title, first_date = SAVED_LISTS[name]
    source = project_config.source(name)
    page = decode_html((CORPUS / file).read_bytes()).text

    listing = extract_list(page, url, source.list)

    assert len(listing.items) == count
    assert (listing.items[0].title, listing.items[0].published) == (first_title, first_date)
    assert all(item.published for item in listing.items)
    assert len({item.url for item in listing.items}) == count
