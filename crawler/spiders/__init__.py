"""Spiders: the generic config-driven one, and custom ones named after their source."""

from __future__ import annotations

SPIDER_MODULES = ["policywatch.crawler.spiders"]


def custom_spiders() -> set[str]:
    """Names of the sources that have a spider file of their own (a spider class whose name is a source's replaces
    ConfigSpider for it)."""
    from scrapy.settings import Settings
    from scrapy.spiderloader import SpiderLoader

    return set(SpiderLoader.from_settings(Settings({"SPIDER_MODULES": SPIDER_MODULES})).list())
