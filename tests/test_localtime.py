"""Days and times in the configured time zone: digest periods, "detected" dates, the archive's issues and the CLI.

state.db keeps UTC; a reader in Asia/Shanghai (the default) or America/New_York files a change under their own
day. One history is stored with chosen fetch times around the November/December 2023 boundary and a week's, and
read through both zones, so neither zone (nor UTC) can be hard-coded.
"""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from policywatch.archive.build import build_site
from policywatch.core import config as config_module
from policywatch.core.localtime import day_start, local_day, local_iso, local_time, parse_stamp, today
from policywatch.core.model import Fetch, Snapshot
from policywatch.core.store import Store
from policywatch.crawler.pipelines import store_fetch, store_snapshot
from policywatch.digest.build import build_digest
from policywatch.digest.formats import FORMATS
from policywatch.digest.period import parse_period, period_of
from policywatch.digest.render import render
from tests import forkcli

SHANGHAI, NEW_YORK = ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York")


@pytest.mark.parametrize(("stamp", "zone", "day", "shown"), [
    ("2023-11-30T17:30:00+00:00", SHANGHAI, date(2023, 12, 1), "2023-12-01 01:30"),
    ("2023-11-30T15:59:59+00:00", SHANGHAI, date(2023, 11, 30), "2023-11-30 23:59"),
    ("2023-12-01T03:00:00+00:00", NEW_YORK, date(2023, 11, 30), "2023-11-30 22:00"),
    ("2023-07-01T03:00:00+00:00", NEW_YORK, date(2023, 6, 30), "2023-06-30 23:00"),  # summer time: UTC-4
    ("2023-11-30T17:30:00Z", SHANGHAI, date(2023, 12, 1), "2023-12-01 01:30"),
    ("2023-11-30T17:30:00", SHANGHAI, date(2023, 12, 1), "2023-12-01 01:30"),  # no offset: stored times are UTC
])
def test_a_stored_moment_falls_on_the_readers_day(stamp: str, zone: ZoneInfo, day: date, shown: str) -> None:
    assert local_day(stamp, zone) == day and local_time(stamp, zone) == shown
    iso = local_iso(stamp, zone)  # the same instant, written with the zone's offset
    assert iso.startswith(shown.replace(" ", "T")) and datetime.fromisoformat(iso) == parse_stamp(stamp)


def test_what_is_no_timestamp_is_shown_as_it_is() -> None:
    assert (local_time(None, SHANGHAI), local_time("昨天", SHANGHAI), local_iso(None, SHANGHAI)) == ("", "昨天", None)
    assert local_time(42, SHANGHAI) == "42" and local_iso("昨天", SHANGHAI) == "昨天"


@pytest.mark.parametrize(("period", "kind", "zone", "bounds"), [
    ("2023-12", "month", SHANGHAI, ("2023-11-30T16:00:00+00:00", "2023-12-31T16:00:00+00:00")),
    ("2023-12", "month", NEW_YORK, ("2023-12-01T05:00:00+00:00", "2024-01-01T05:00:00+00:00")),
    ("2023-W50", "week", SHANGHAI, ("2023-12-10T16:00:00+00:00", "2023-12-17T16:00:00+00:00")),
    ("2024-03", "month", NEW_YORK, ("2024-03-01T05:00:00+00:00", "2024-04-01T04:00:00+00:00")),  # DST starts 3-10
])
def test_a_period_is_bounded_by_the_zones_midnights(period: str, kind: str, zone: ZoneInfo, bounds) -> None:
    assert parse_period(period, kind).utc_bounds(zone) == bounds


def test_a_day_begins_when_the_clocks_jump_over_midnight() -> None:
    """Santiago springs forward at midnight (2023-09-03 00:00 → 01:00): the day begins at the jump."""
    assert day_start(date(2023, 9, 3), ZoneInfo("America/Santiago")) == "2023-09-03T04:00:00+00:00"


def test_today_and_whether_a_period_has_ended_depend_on_the_zone() -> None:
    now = datetime(2023, 11, 30, 17, 30, tzinfo=UTC)
    assert (today(SHANGHAI, now), today(NEW_YORK, now)) == (date(2023, 12, 1), date(2023, 11, 30))
    november = parse_period("2023-11", "month")
    assert november.ended(today(SHANGHAI, now)) and not november.ended(today(NEW_YORK, now))


# --- one stored history read through two zones ---------------------------------------------------------------------

CONFIG = """
timezone = "{zone}"

[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗", "免疫细胞"]

[[digests]]
name = "monthly"
topics = ["cell-therapy"]

[[digests]]
name = "weekly"
period = "week"
topics = ["cell-therapy"]

[[digests]]
name = "english"
topics = ["cell-therapy"]
language = "en"

[[sources]]
name = "nhc"
title = "国家卫生健康委员会 通知公告"
region = "国家"
authority = "国家卫生健康委员会"
start_urls = ["https://www.nhc.example/tzgg/"]
[sources.list]
item = "li"
"""
URL = "https://www.nhc.example/tzgg/{}.html"
FIRST = "2023-11-25T00:00:00+00:00"  # when the dated policies were first crawled
# name → (publish date, when its text changed, UTC). Shanghai is UTC+8; New York UTC-5 in winter.
CHANGED = {
    "a": ("2023-11-20", "2023-11-30T17:30:00+00:00"),  # Shanghai 12-01 01:30, New York 11-30 12:30
    "b": ("2023-11-21", "2023-12-01T03:00:00+00:00"),  # Shanghai 12-01 11:00, New York 11-30 22:00
    "c": ("2023-11-22", "2023-12-01T05:30:00+00:00"),  # Shanghai 12-01 13:30, New York 12-01 00:30
    "d": ("2023-11-23", "2023-11-30T15:30:00+00:00"),  # Shanghai 11-30 23:30, New York 11-30 10:30
    "w": ("2023-11-01", "2023-12-10T16:30:00+00:00"),  # Shanghai Monday 12-11 00:30 (W50), New York Sunday (W49)
}
UNDATED = ("e", "2023-11-30T17:30:00+00:00")  # no publish date: filed under the day it was first seen
GONE = ("g", "2023-11-10", ("2023-11-30T10:00:00+00:00", "2023-11-30T17:30:00+00:00"))  # 404 twice: removed at the 2nd


# Texts unlike each other, so that no two are taken for reposts of one policy.
TEXTS = {
    "a": "为规范干细胞临床研究，现就研究机构备案工作通知如下。",
    "b": "免疫细胞治疗产品的临床转化应当遵循科学、规范、安全的原则。",
    "c": "支持细胞治疗企业建设公共服务平台，对首次进入临床试验的品种给予资助。",
    "d": "各医疗机构开展干细胞临床研究，应当完成机构备案并按季度报送进展。",
    "w": "推进干细胞外泌体治疗缺血性脑损伤的临床前研究和免疫细胞治疗产品研发。",
    "e": "细胞治疗产品的制备应当符合质量管理要求，请各单位于月底前报送材料。",
    "g": "现公布第一批干细胞临床研究备案机构名单，名单实行动态调整。",
}
TITLES = {
    "a": "关于开展干细胞临床研究机构备案工作的通知", "b": "关于推进免疫细胞治疗产品临床转化的通知",
    "c": "关于支持细胞治疗公共服务平台建设的通知", "d": "关于做好干细胞临床研究进展报送的通知",
    "w": "关于推进干细胞外泌体临床前研究的通知", "e": "细胞治疗产品制备质量管理要求",
    "g": "第一批干细胞临床研究备案机构名单",
}


def title(name: str) -> str:
    return TITLES[name]


NAMES = {title(name): name for name in [*CHANGED, UNDATED[0], GONE[0]]}


def snapshot(name: str, day: str | None, when: str, text: str) -> Snapshot:
    fetch = Fetch("nhc", URL.format(name), "detail", when, status=200)
    return Snapshot(fetch, fetch.url, title(name), text, day, "国家卫生健康委员会")


def write_config(tmp_path, db_target, zone: str):
    path = tmp_path / f"config-{zone.replace('/', '-')}.toml"
    db = f'db = "{db_target}"\n' if isinstance(db_target, str) else f'db = "{db_target.name}"\n'
    path.write_text(db + CONFIG.format(zone=zone), encoding="utf-8")
    return config_module.load(path)


@pytest.fixture
def history(tmp_path, db_target):
    """The stored history, and its config in Shanghai and in New York (same database)."""
    shanghai = write_config(tmp_path, db_target, "Asia/Shanghai")
    new_york = write_config(tmp_path, db_target, "America/New_York")
    with Store(shanghai.db) as store:
        store.sync_sources(shanghai.sources)
        for name, (day, changed) in CHANGED.items():
            store_snapshot(store, 1, snapshot(name, day, FIRST, TEXTS[name]), "2024-06-01T00:00:00+00:00")
            store_snapshot(store, 2, snapshot(name, day, changed, TEXTS[name] + "本通知自印发之日起施行。"),
                           "2024-06-01T00:00:00+00:00")
        name, seen = UNDATED
        store_snapshot(store, 2, snapshot(name, None, seen, TEXTS[name]), "2024-06-01T00:00:00+00:00")
        name, day, gone = GONE
        store_snapshot(store, 1, snapshot(name, day, FIRST, TEXTS[name]), "2023-11-30T00:00:00+00:00")
        for when in gone:
            store_fetch(store, 2, Fetch("nhc", URL.format(name), "detail", when, status=404))
    return shanghai, new_york


def digest_of(config, name: str, period: str):
    spec = config.digest(name)
    with Store(config.db, read_only=True) as store:
        return build_digest(config, store, spec, parse_period(period, spec.period))


def changed_in(digest) -> set[str]:
    return {i.url.rsplit("/", 1)[1][0] for i in digest.items if i.kind == "changed"}


def urls(items) -> set[str]:
    return {i.url.rsplit("/", 1)[1][0] for i in items}


def test_a_change_belongs_to_the_month_of_the_day_it_was_detected_in_the_configured_zone(history):
    shanghai, new_york = history
    assert changed_in(digest_of(shanghai, "monthly", "2023-12")) == {"a", "b", "c", "w"}  # UTC would say b, c, w
    assert changed_in(digest_of(new_york, "monthly", "2023-12")) == {"c", "w"}
    # November lists a–d as new (published then), whenever their change came.
    assert urls(digest_of(shanghai, "monthly", "2023-11").items) >= {"a", "b", "c", "d"}
    item = next(i for i in digest_of(shanghai, "monthly", "2023-12").items if i.url == URL.format("a"))
    assert item.seen == date(2023, 12, 1)  # its detection day, in Shanghai


def test_an_undated_policy_and_a_removal_belong_to_the_day_they_were_seen_in_the_configured_zone(history):
    shanghai, new_york = history
    december, november = digest_of(shanghai, "monthly", "2023-12"), digest_of(shanghai, "monthly", "2023-11")
    assert "e" in urls(december.items) and "e" not in urls(november.items)
    assert urls(december.removed) == {"g"} and urls(november.removed) == set()
    december, november = digest_of(new_york, "monthly", "2023-12"), digest_of(new_york, "monthly", "2023-11")
    assert "e" in urls(november.items) and "e" not in urls(december.items)
    assert urls(november.removed) == {"g"} and urls(december.removed) == set()


def test_a_change_belongs_to_the_week_of_the_day_it_was_detected_in_the_configured_zone(history):
    shanghai, new_york = history
    assert "w" in changed_in(digest_of(shanghai, "weekly", "2023-W50"))
    assert "w" not in changed_in(digest_of(shanghai, "weekly", "2023-W49"))
    assert "w" in changed_in(digest_of(new_york, "weekly", "2023-W49"))
    assert "w" not in changed_in(digest_of(new_york, "weekly", "2023-W50"))


def test_titles_carry_the_year_in_every_format(history):
    shanghai, _ = history
    monthly, weekly = digest_of(shanghai, "monthly", "2023-12"), digest_of(shanghai, "weekly", "2023-W50")
    assert monthly.title == "政策汇总 | 2023年12月份行业政策及动态汇总"
    assert weekly.title == "政策汇总 | 2023年第50周行业政策及动态汇总"
    assert digest_of(shanghai, "english", "2023-12").title == "Policy roundup | Policies and news, December 2023"
    for digest in (monthly, weekly):
        for fmt in FORMATS:
            assert digest.title in render(digest, fmt), fmt


@pytest.mark.parametrize(("period", "headline"), [
    ("2020-W53", "政策汇总 | 2020年第53周行业政策及动态汇总"),  # ends on 2021-01-03: still 2020's week
    ("2025-W01", "政策汇总 | 2025年第1周行业政策及动态汇总"),  # starts on 2024-12-30: already 2025's
])
def test_a_week_carries_its_iso_year(period: str, headline: str) -> None:
    from policywatch.digest.labels import title as headline_of

    assert headline_of("zh-Hans", parse_period(period, "week")) == headline


def test_feed_times_are_the_configured_zones_midnights(history):
    atom = "{http://www.w3.org/2005/Atom}"
    for config, offset in zip(history, ("+08:00", "-05:00"), strict=True):
        feed = ET.fromstring(render(digest_of(config, "monthly", "2023-12"), "atom").encode("utf-8"))
        assert feed.findtext(f"{atom}updated") == f"2024-01-01T00:00:00{offset}"
        entry = next(e for e in feed.iter(f"{atom}entry") if e.find(f"{atom}link").get("href") == URL.format("c"))
        assert entry.findtext(f"{atom}published") == f"2023-11-22T00:00:00{offset}"


# --- the archive site: its days, and an unfinished period left out until it ends -------------------------------------

def read(path) -> str:
    return path.read_text(encoding="utf-8")


def site(config, out, now: datetime):
    with Store(config.db, read_only=True) as store:
        return build_site(config, store, out, now=now)


def test_the_archive_lists_a_period_only_once_it_has_ended_in_the_configured_zone(history, tmp_path):
    shanghai, new_york = history
    out = tmp_path / "site"
    in_december = datetime(2023, 12, 13, 12, tzinfo=SHANGHAI)  # a Wednesday of week 50
    site(shanghai, out, in_december)
    listed = read(out / "digests.html")
    assert 'href="digests/monthly/2023-11.html"' in listed and "2023年11月份行业政策及动态汇总" in listed
    assert "digests/monthly/2023-12.html" not in listed and not (out / "digests/monthly/2023-12.html").exists()
    assert 'href="digests/weekly/2023-W48.html"' in listed  # a, b, c and e, on Friday 1 December
    assert "2023-W50" not in listed and not (out / "digests/weekly/2023-W50.html").exists()  # w, on Monday
    assert "本期进行中的摘要在本期结束后列出" in listed

    new_year = datetime(2024, 1, 1, 0, 30, tzinfo=SHANGHAI)  # 2023-12-31T16:30Z: still December in New York
    report = site(shanghai, out, new_year)
    assert "digests/monthly/2023-12.html" in report.written and "digests.html" in report.written
    page = read(out / "digests/monthly/2023-12.html")
    assert "2023年12月份行业政策及动态汇总" in page and title("a") in page
    assert 'href="digests/monthly/2023-12.html"' in read(out / "digests.html")

    york = tmp_path / "york"
    site(new_york, york, new_year)
    assert not (york / "digests/monthly/2023-12.html").exists()
    assert 'href="digests/monthly/2023-11.html"' in read(york / "digests.html")
    site(new_york, york, new_year + timedelta(hours=13))  # 2024-01-01 00:30 in New York
    assert 'href="digests/monthly/2023-12.html"' in read(york / "digests.html")


def test_archive_pages_show_days_and_times_in_the_configured_zone(history, tmp_path):
    now = datetime(2024, 2, 1, tzinfo=UTC)
    pages = {}
    for config in history:
        out = tmp_path / config.timezone.replace("/", "-")
        site(config, out, now)
        with Store(config.db, read_only=True) as store:
            doc = store.document(URL.format("a"))
            source = {s["name"]: s for s in store.sources_overview()}["nhc"]
        pages[config.timezone] = (read(out / "documents" / f"{doc['id']}.html"), read(out / "sources" / "nhc.html"),
                                  read(out / "index.html"), source)
    document, source_page, index, source = pages["Asia/Shanghai"]
    timeline = document.split('id="timeline-h"')[1].split("</section>")[0]
    assert ">2023-12-01</time>" in timeline and ">2023-11-25</time>" in timeline
    assert "2023-12-01 · 改动" in document and "日期和时间均按 Asia/Shanghai 时区" in document
    assert f"<dd>{local_time(source['last_crawl'], SHANGHAI)}</dd>" in source_page
    assert re.search(r'<time datetime="2023-12-01">2023-12-01</time>\s*<a href="documents/\d+\.html">'
                     + re.escape(title("a")), index)
    document, source_page, index, source = pages["America/New_York"]
    timeline = document.split('id="timeline-h"')[1].split("</section>")[0]
    assert ">2023-11-30</time>" in timeline and ">2023-11-24</time>" in timeline  # 2023-11-25T00:00Z
    assert f"<dd>{local_time(source['last_crawl'], NEW_YORK)}</dd>" in source_page
    assert "日期和时间均按 America/New_York 时区" in index


# --- the command line ------------------------------------------------------------------------------------------------

def cli(config, *args: str) -> subprocess.CompletedProcess:
    """A command as a user runs it, on a terminal wide enough that no table cell is cut short."""
    return forkcli.run([*args, "--config", str(config.path)], check=True, env={"COLUMNS": "240"})


def test_changes_and_history_read_days_and_show_times_in_the_configured_zone(history):
    shanghai, new_york = history
    one_day = ("--since", "2023-12-01", "--until", "2023-12-01", "--json")
    listed = json.loads(cli(shanghai, "changes", *one_day).stdout)
    assert sorted((NAMES[c["title"]], c["kind"]) for c in listed) == [
        ("a", "changed"), ("b", "changed"), ("c", "changed"), ("e", "new"), ("g", "removed")]
    assert listed[0]["detected_at"] == "2023-12-01T01:30:00+08:00"  # a, the first
    listed = json.loads(cli(new_york, "changes", *one_day).stdout)
    assert [(NAMES[c["title"]], c["detected_at"]) for c in listed] == [("c", "2023-12-01T00:30:00-05:00")]
    table = cli(new_york, "changes", "--since", "2023-11-30", "--until", "2023-11-30", "--kind", "changed").stdout
    assert table.count("2023-11-30") == 3 and title("b") in table  # a, b and d, each on its New York day

    history_a = cli(shanghai, "history", URL.format("a")).stdout
    assert "2023-11-25 08:00" in history_a and "2023-12-01 01:30" in history_a
    assert "2023-11-30 12:30" in cli(new_york, "history", URL.format("a")).stdout
    shown = json.loads(cli(new_york, "show", URL.format("e"), "--json").stdout)
    assert shown["first_seen"] == "2023-11-30T12:30:00-05:00"


def test_digest_build_defaults_to_the_last_period_ended_in_the_zone_and_notes_an_unfinished_one(history):
    shanghai, _ = history
    zone_today = datetime.now(SHANGHAI).date()  # the default is worked out from the clock, as a user runs it
    default = cli(shanghai, "digest", "build", "--digest", "monthly", "--format", "text")
    assert default.stdout.startswith(
        "政策汇总 | {0.year}年{0.month}月份".format(period_of("month", zone_today).previous().start))
    assert default.stderr == ""
    current = period_of("month", zone_today).key
    unfinished = cli(shanghai, "digest", "build", "--digest", "monthly", "--period", current, "--format", "text")
    assert unfinished.stderr.startswith(f"note: {current} is still in progress in Asia/Shanghai")
    assert unfinished.stdout.startswith("政策汇总 | ")  # the data on stdout is the issue alone
    # Sending it now would give every subscriber an issue without the rest of the month: refused, in one line.
    early = forkcli.run(["digest", "send", "--digest", "monthly", "--period", current, "--config",
                         str(shanghai.path)])
    assert early.returncode == 1 and "--unfinished" in early.stderr
    assert f"monthly {current} has not ended in Asia/Shanghai" in early.stderr.replace("\n", " ")
