"""``python -m tests.hanzi_table``: write core/hanzi_classes.json, the either-script character classes of every
word the crawl's modules build patterns from, as the installed OpenCC gives them.

Run it after changing a label list of the extraction or upgrading OpenCC (tests/test_hanzi_table.py says when).
"""

from __future__ import annotations

import json
import sys

import opencc

from policywatch.core import hanzi

SAMPLE = ("<html><body><h1>关于印发《方案》的通知</h1><p>发布机构：国家卫生健康委员会</p>"
          "<div id=zoom>各省：现印发。</div></body></html>")


def main() -> int:
    asked: set[str] = set()
    looked_up = hanzi.char_classes

    def recording(word: str) -> tuple[str, ...]:
        asked.add(word)
        return looked_up(word)

    hanzi.char_classes = recording  # before the crawl's modules import it and build their patterns
    import policywatch.crawler.run  # (imports every extraction module)
    import policywatch.crawler.spiders.api  # noqa: F401
    from policywatch.crawler.extract.detail import extract_detail

    extract_detail(SAMPLE, "https://www.example.gov.cn/a.html")  # the label patterns built on a first page
    hanzi.char_classes = looked_up
    lines = [f"{json.dumps(word, ensure_ascii=False)}: {json.dumps(hanzi.converted_classes(word), ensure_ascii=False)}"
             for word in sorted(asked)]
    hanzi.CLASSES_TABLE.write_text(
        f'{{"opencc": {json.dumps(opencc.__version__)}, "classes": {{\n' + ",\n".join(lines) + "\n}}\n",
        encoding="utf-8")
    print(f"{hanzi.CLASSES_TABLE}: {len(asked)} words, OpenCC {opencc.__version__}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
