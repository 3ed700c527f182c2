"""core/hanzi_classes.json: the crawl's either-script label classes, looked up instead of loading OpenCC's
Traditional dictionaries in every crawl process. It must say what OpenCC says, and cover every word a crawl asks for."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import opencc

from policywatch.core import hanzi

ROOT = Path(__file__).resolve().parent.parent
REGENERATE = "regenerate it: python -m tests.hanzi_table"


def test_the_table_says_what_the_installed_opencc_says() -> None:
    table = json.loads(hanzi.CLASSES_TABLE.read_text(encoding="utf-8"))
    assert table["opencc"] == opencc.__version__, f"written with OpenCC {table['opencc']}; {REGENERATE}"
    for word, classes in table["classes"].items():
        assert tuple(classes) == hanzi.converted_classes(word), f"{word}: {REGENERATE}"


def test_a_crawl_process_reads_pages_without_loading_opencc() -> None:
    code = (
        "import policywatch.crawler.run, policywatch.crawler.spiders.api\n"
        "from policywatch.crawler.extract.detail import extract_detail\n"
        "from policywatch.core import hanzi\n"
        "page = '<html><body><h1>关于印发《方案》的通知</h1><p>来源：国家卫生健康委员会 发布日期：2024-01-02</p>'\n"
        "extract_detail(page + '<div id=zoom>各省：现印发。</div></body></html>', 'https://www.example.gov.cn/a.html')\n"
        "print(hanzi._converter.cache_info().currsize)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0", f"a crawl asked for words the table lacks; {REGENERATE}"
