"""Spiders: the generic config-driven one, and custom ones named after their source."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.spiderloader import SpiderLoader

SPIDER_MODULES = ["crawler.spiders"]


def spider_loader() -> SpiderLoader:
    """Scrapy's loader over this package: a spider class whose name is a source's replaces ConfigSpider for it."""
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    return SpiderLoader.from_settings(Settings({"SPIDER_MODULES": SPIDER_MODULES}))


def custom_spiders() -> set[str]:
    """Names of the sources that have a spider file of their own."""
    return set(spider_loader().list())
