"""What the reporting commands print leads to the next command: every id and URL whole in every table (piped, or
fitted to a terminal), change markers in a piped diff, and every time in the configured timezone."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import pytest
from rich.cells import cell_len

from policywatch.core import config as config_module
from policywatch.core.localtime import local_iso, local_time
from policywatch.core.store import Store
from policywatch.crawler.crawl import crawl
from policywatch.portal import serve
from policywatch.scheduler.service import ZonedFormatter
from tests import forkcli
from tests.conftest import POLICYWATCH, crawl_config_text, source_toml
from tests.terminal import plain, run_on_terminal

NEW_YORK = ZoneInfo("America/New_York")  # never UTC's offset: a time shown in UTC is never right by chance
TITLE = "关于开展第{n}批细胞治疗临床研究备案工作并进一步加强干细胞与免疫细胞治疗监督管理的通知"
PATH = "zwgk/tzgs/2023/12/关于开展第{n}批细胞治疗临床研究备案工作的通知.html"  # a long URL once percent-encoded
PAGE = ("<html><body><h1>{title}</h1><p>发布时间：2023-12-0{n}</p><div id='zoom'><p>{body}</p>"
        "<p>请各有关单位按照要求认真组织实施，确保各项工作落到实处。</p></div></body></html>")
BODY = "为规范细胞治疗临床研究，现开展备案工作。"
EDITED = "为规范干细胞和免疫细胞治疗临床研究，现开展备案工作。"
EMAIL = "a.rather.long.reader.address.for.testing@policy-research.example.org"


def write_page(site: Path, n: int, body: str) -> None:
    page = site / PATH.format(n=n)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(PAGE.format(title=TITLE.format(n=n), n=n, body=body), encoding="utf-8")


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """Three long-titled policies under long URLs, crawled, one edited and crawled again, with a subscriber, in a
    New York config; the portal stays served (for `sources check`). Yields (config, the changes' JSON records)."""
    root = tmp_path_factory.mktemp("tables")
    site = root / "site"
    for n in (1, 2, 3):
        write_page(site, n, BODY)
    links = "".join(f"<li><a href='/{PATH.format(n=n)}'>{TITLE.format(n=n)}</a></li>" for n in (1, 2, 3))
    (site / "index.html").write_text(f"<ul>{links}</ul>", encoding="utf-8")
    with ExitStack() as stack:
        base = stack.enter_context(serve(site))
        path = root / "config.toml"
        path.write_text('timezone = "America/New_York"\n' + crawl_config_text()
                        + "\n[topics.cell]\ntitle = \"细胞\"\ninclude = [\"细胞\"]\n"
                        + '\n[[digests]]\nname = "monthly"\nperiod = "month"\ntopics = ["cell"]\n\n'
                        + source_toml("long-titles", f"{base}/index.html"), encoding="utf-8")
        config = config_module.load(path)
        crawl(config)
        write_page(site, 1, EDITED)
        crawl(config, recheck_all=True)
        cli(config, "subscribers", "add", EMAIL, "--digest", "monthly", "--name", "读者")
        records = json.loads(cli(config, "changes", "--json").stdout)
        assert sorted(r["kind"] for r in records) == ["changed", "new", "new", "new"]
        yield config, records


def cli(config, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A command as a script runs it: stdout and stderr are pipes."""
    return forkcli.run([*args, "--config", str(config.path)], check=True, env=env)


def on_terminal(config, *args: str, columns: int = 80, env: dict[str, str] | None = None) -> str:
    code, output = run_on_terminal([*POLICYWATCH, *args, "--config", str(config.path)], columns, env)
    assert code == 0, output
    return output


def row(output: str, *cells: str) -> str:
    """The one line of a table holding every one of ``cells`` as a whole cell."""
    found = [line for line in output.splitlines()
             if all(re.search(rf"│\s*{re.escape(cell)}\s*│", line) for cell in cells)]
    assert len(found) >= 1, (cells, output)
    return found[0]


# --- tables ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("columns", ["60", "80"])
def test_piped_tables_keep_every_id_url_and_title_whole_on_one_line(history, columns):
    """Piped, a table is as wide as its cells, whatever COLUMNS says: one row a line, nothing wrapped or cut."""
    config, records = history
    env = {"COLUMNS": columns}
    changes = cli(config, "changes", env=env).stdout
    for record in records:
        row(changes, str(record["document"]), record["kind"], record["title"], record["url"])
    changed = next(r for r in records if r["kind"] == "changed")
    assert "…" not in changes and "text" in row(changes, str(changed["document"]), "changed")

    versions = cli(config, "history", str(changed["document"]), env=env).stdout
    assert f"{changed['url']}  (document {changed['document']}, active)" in versions.splitlines()[0]
    with Store(config.db, read_only=True) as store:
        ids = [v["id"] for v in store.history(changed["document"])]
    assert len(ids) == 2
    for version, kind in zip(ids, ("new", "changed"), strict=True):
        row(versions, str(version), kind, changed["title"])

    check = cli(config, "sources", "check", "long-titles", env=env).stdout  # links as the list page writes them
    for record in records:
        row(check, record["title"], unquote(record["url"]))

    row(cli(config, "subscribers", "list", env=env).stdout, EMAIL, "读者", "monthly")
    row(cli(config, "sources", "list", env=env).stdout, "long-titles", "国家", "测试机关")


def test_on_a_terminal_tables_fit_its_width_but_ids_and_urls_stay_whole(history):
    config, records = history
    changed = next(r for r in records if r["kind"] == "changed")
    # history fits in 80 columns: its title column wraps, the version ids and times stay whole.
    shown = plain(on_terminal(config, "history", str(changed["document"]), columns=80))
    table = shown.splitlines()[1:]
    assert max(cell_len(line) for line in table) <= 80
    assert not any(changed["title"] in line for line in table)  # wrapped …
    title_cells = [line.split("│")[5].strip() for line in table if line.startswith("│")]
    assert "".join(title_cells).replace(" ", "") == (changed["title"] * 2).replace(" ", "")  # … whole, twice
    with Store(config.db, read_only=True) as store:
        for version in store.history(changed["document"]):
            row(shown, str(version["id"]), local_time(version["created_at"], NEW_YORK))

    # changes: its URLs alone are wider than 80 columns; they stay whole (the terminal folds the lines), titles wrap.
    shown = plain(on_terminal(config, "changes", columns=80))
    for record in records:
        row(shown, str(record["document"]), record["url"])
        assert not any(record["title"] in line for line in shown.splitlines())


# --- diff ------------------------------------------------------------------------------------------------------------

def test_a_piped_diff_marks_the_changes_and_a_terminal_colours_them(history):
    config, records = history
    document = str(next(r for r in records if r["kind"] == "changed")["document"])
    piped = cli(config, "diff", document).stdout
    assert "{+干细胞和免疫+}" in piped and "\x1b[" not in piped
    coloured = cli(config, "diff", document, "--color").stdout
    assert "\x1b[" in coloured and "{+" not in coloured and "干细胞和免疫" in coloured
    terminal = on_terminal(config, "diff", document)
    assert "\x1b[" in terminal and "{+" not in terminal
    no_color = on_terminal(config, "diff", document, env={"NO_COLOR": "1"})
    assert "{+干细胞和免疫+}" in no_color and "\x1b[" not in no_color


# --- times -----------------------------------------------------------------------------------------------------------

def test_every_command_shows_times_in_the_configured_timezone(history):
    config, records = history
    changed = next(r for r in records if r["kind"] == "changed")
    with Store(config.db, read_only=True) as store:
        doc = store.document(str(changed["document"]))
        versions = store.history(changed["document"])
        source = {s["name"]: s for s in store.sources_overview()}["long-titles"]
        [subscriber] = store.subscribers(None)

    def local(stamp: str) -> str:
        shown = local_time(stamp, NEW_YORK)
        assert shown != local_time(stamp, UTC)
        return shown

    shown = cli(config, "show", str(changed["document"])).stdout
    assert re.search(rf"first_seen  {local(doc['first_seen'])}\n", shown)
    assert re.search(rf"last_checked  {local(doc['last_checked'])}\n", shown)
    history_table = cli(config, "history", changed["url"]).stdout
    assert all(local(v["created_at"]) in history_table for v in versions)
    assert local(source["last_crawl"]) in cli(config, "sources", "list").stdout
    listed = json.loads(cli(config, "sources", "list", "--json").stdout)[0]
    assert listed["last_crawl"] == local_iso(source["last_crawl"], NEW_YORK)
    assert re.search(r"[+-]\d\d:\d\d$", listed["last_crawl"]) and not listed["last_crawl"].endswith("+00:00")
    assert local(subscriber["created_at"])[:10] in row(cli(config, "subscribers", "list").stdout, EMAIL)
    [person] = json.loads(cli(config, "subscribers", "list", "--json").stdout)
    assert person["created_at"] == local_iso(subscriber["created_at"], NEW_YORK)
    with Store(config.db, read_only=True) as store:
        [stored] = store.changes(kind="changed")
    assert changed["detected_at"] == local_iso(stored["detected_at"], NEW_YORK)
    day = local(stored["detected_at"])[:10]
    assert re.search(rf"│ {day} │ changed ", row(cli(config, "changes").stdout, str(changed["document"]), "changed"))


def test_service_logs_are_stamped_in_the_configured_timezone():
    """`serve` and `worker` log through this formatter (policywatch.scheduler.service.log_to), whatever zone the machine
    is in."""
    record = logging.LogRecord("policywatch", logging.INFO, __file__, 1, "crawled", None, None)
    record.created = datetime(2023, 11, 30, 17, 30, tzinfo=UTC).timestamp()
    line = ZonedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", ZoneInfo("Asia/Shanghai")).format(record)
    assert line == "2023-12-01 01:30:00+0800 INFO policywatch: crawled"


def test_fitting_narrows_text_columns_widest_first_and_never_a_whole_one():
    from policywatch.tables import MIN_TEXT, fit

    # id, title, url, what changed: the two text columns give up room, the widest first, down to MIN_TEXT.
    assert fit([4, 60, 40, 30], [False, True, False, True], 100) == [4, 28, 40, 28]
    assert fit([4, 60, 40, 30], [False, True, False, True], 200) == [4, 60, 40, 30]
    assert fit([4, 60, 40, 8], [False, True, False, True], 50) == [4, MIN_TEXT, 40, 8]  # too narrow: floors
