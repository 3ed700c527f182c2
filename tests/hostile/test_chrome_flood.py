"""A page that floods its body with furniture lines: trimming stays linear and never empties a body silently.

Each flood is 2 MB of one kind of chrome line (widget rows, metadata labels, editor lines, related-link
headers, link lists …), alone, before a policy and after it. A trimmer that rescans the lines it has kept for
every line it drops would take hours on these; the subprocess's timeout is only a hang guard.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

POLICY = "各省卫生健康委：\n现将有关事项通知如下。\n国家卫生健康委办公厅\n2023年12月1日"
FLOODS = {
    "widget rows": "【打印本页】【关闭窗口】\n",
    "labelled metadata": "索 引 号：000014349/2023-00123\n",
    "labels alone in their cells": "发文机关\n",
    "editor lines": "（责任编辑：王某）\n",
    "related-link headers": "相关文章：\n短行\n",
    "link-list items": "· 市教育局\n",
    "labelled links": "政策解读：https://a.gov.cn/x\n",
    "title fragments": "关于\n",
    "one long line": "字",
}
SCRIPT = """
import json, sys
from policywatch.crawler.extract.trim import trim_body
unit, policy = json.loads(sys.stdin.read())
flood = unit * (2_000_000 // len(unit.encode()))
out = []
for text in (flood, flood + policy, policy + "\\n" + flood):
    trimmed = trim_body(text, "关于某某的通知", frozenset({"市教育局"}))
    out.append([len(text), trimmed.text.strip() == text.strip(), trimmed.text == policy, trimmed.warnings])
print(json.dumps(out))
"""


@pytest.mark.parametrize("unit", FLOODS.values(), ids=FLOODS.keys())
def test_two_megabytes_of_chrome_lines(unit: str) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps([unit, POLICY]), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    alone, before, after = json.loads(done.stdout)
    if unit == "字" or unit == "关于\n":  # not furniture: text, kept as it is
        assert all(kept for _, kept, _, _ in (alone, before, after))
        return
    # All furniture: kept as it was, with a warning, never an empty body.
    assert alone[1:] == [True, False, ["the body is page furniture only (header, widgets, editor or link lines)"]]
    if unit in ("（责任编辑：王某）\n", "相关文章：\n短行\n", "· 市教育局\n", "政策解读：https://a.gov.cn/x\n"):
        assert after[2] and not after[3]  # trailing furniture under the policy goes
    else:
        assert before[2] and not before[3]  # leading furniture above the policy goes


DETAIL_SCRIPT = """
import json, sys
from policywatch.crawler.extract.detail import extract_detail
unit = sys.stdin.read()
page = "<html><body><div id='zoom'>" + unit * (2_000_000 // len(unit.encode())) + "</div></body></html>"
fields = extract_detail(page, "http://127.0.0.1/1.html")
print(json.dumps([len(fields.text), fields.warnings]))
"""


@pytest.mark.parametrize("unit", [
    "<p>发布日期：2023-12-01 来源：本网</p>",
    "<div><span>索引号：</span><span>000014349/2023-00123</span></div>",
])
def test_a_page_whose_body_container_is_two_megabytes_of_header_lines(unit: str) -> None:
    """The container is furniture only, so every fallback looks at the page too; the body is kept, flagged."""
    done = subprocess.run([sys.executable, "-c", DETAIL_SCRIPT], input=unit, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    length, warnings = json.loads(done.stdout)
    assert length > 100_000
    assert warnings == ["the body is page furniture only (header, widgets, editor or link lines)"]
