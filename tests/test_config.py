"""config.toml is validated on load; every mistake is one line naming file, key and problem."""

from __future__ import annotations

import re
import subprocess

import pytest

from policywatch.core import config as config_module
from policywatch.core.config import ConfigError
from tests.conftest import POLICYWATCH

GOOD_SOURCE = """
[[sources]]
name = "sh-sti"
title = "上海市科学技术委员会 通知公告"
region = "上海市"
authority = "上海市科学技术委员会"
start_urls = ["https://stcsm.sh.gov.cn/zwgk/tzgs/"]
[sources.list]
item = "ul.list li"
link = "a::attr(href)"
date = "xpath:./span/text()"
max_pages = 3
[sources.detail]
title = "h1::text"
body = "#zoom"
"""

DIGESTS = GOOD_SOURCE + """
[topics.cell-therapy]
title = "细胞与基因治疗"
include = ["干细胞", "细胞治疗"]
exclude = []

[[digests]]
name = "monthly"
period = "month"
topics = ["cell-therapy"]
regions = []
layout = "list"
language = "zh-Hans"
"""

SMTP = """
[smtp]
host = "127.0.0.1"
port = 8025
security = "starttls"
username = ""
password_env = "POLICYWATCH_SMTP_PASSWORD"
sender = "PolicyWatch <digest@example.org>"
"""

# A message ending in "…" is checked up to there: the rest is the parser library's wording.
BAD = [
    ("[crawl\n", "config.toml: invalid TOML: …"),
    ("[crawl]\ntimeout = 0\n", "config.toml: crawl.timeout: must be greater than 0"),
    ("[crawl]\nretries = true\n", "config.toml: crawl.retries: expected int, got bool"),
    ("[crawl]\nspeed = 3\n", "config.toml: crawl.speed: unknown key (expected one of: user_agent, "
     "obey_robots, concurrency_per_domain, download_delay, autothrottle, timeout, retries, "
     "max_page_bytes, max_attachment_bytes, attachment_cpu_seconds, attachment_memory_mb, "
     "attachment_max_unpacked_bytes, recheck_days, run_timeout, processes, allow_hosts, max_attachments_per_page, "
     "max_items_per_page)"),
    ("[crawl]\nmax_items_per_page = 0\n", "config.toml: crawl.max_items_per_page: must be greater than 0"),
    (GOOD_SOURCE.replace('item = "ul.list li"\n', ""), "config.toml: sources[0].list.item: required key is missing"),
    (GOOD_SOURCE.replace('"ul.list li"', '"ul.list li[["'),
     "config.toml: sources[0].list.item: invalid selector 'ul.list li[[': …"),
    (GOOD_SOURCE.replace('"xpath:./span/text()"', '"xpath:./span/text("'),
     "config.toml: sources[0].list.date: invalid selector 'xpath:./span/text(': …"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "Shanghai STI"'),
     "config.toml: sources[0].name: must be lowercase letters, digits and '-'"),
    (GOOD_SOURCE.replace('["https://stcsm.sh.gov.cn/zwgk/tzgs/"]', '["stcsm.sh.gov.cn"]'),
     "config.toml: sources[0].start_urls: must be a non-empty list of http(s) URLs"),
    (GOOD_SOURCE + GOOD_SOURCE, "config.toml: sources[1].name: duplicate source name 'sh-sti'"),
    (GOOD_SOURCE.replace("max_pages = 3", "max_pages = 0"),
     "config.toml: sources[0].list.max_pages: must be at least 1"),
    (GOOD_SOURCE.replace('body = "#zoom"', 'body = "#zoom"\nbdy = "x"'),
     "config.toml: sources[0].detail.bdy: unknown key (expected one of: title, body, date, authority, doc_number)"),
    (GOOD_SOURCE.replace('authority = "上海市科学技术委员会"\n', ""),
     "config.toml: sources[0].authority: required key is missing"),
    (DIGESTS.replace('topics = ["cell-therapy"]', 'topics = ["cells"]'),
     "config.toml: digests[0].topics: no topic named 'cells' (defined: cell-therapy)"),
    (DIGESTS.replace('layout = "list"', 'layout = "grid"'),
     "config.toml: digests[0].layout: must be one of: list, by-region"),
    (DIGESTS.replace('language = "zh-Hans"', 'language = "zh-TW"'),
     "config.toml: digests[0].language: must be one of: zh-Hans, zh-Hant, en"),
    (DIGESTS.replace('period = "month"', 'period = "quarter"'),
     "config.toml: digests[0].period: must be one of: month, week"),
    (DIGESTS.replace('include = ["干细胞", "细胞治疗"]', "include = []"),
     "config.toml: topics.cell-therapy.include: must list at least one term"),
    (DIGESTS.replace('include = ["干细胞", "细胞治疗"]', 'include = ["干细胞", 3]'),
     "config.toml: topics.cell-therapy.include: must be a list of non-empty strings"),
    (DIGESTS.replace('exclude = []', 'exclude = []\nkeywords = []'),
     "config.toml: topics.cell-therapy.keywords: unknown key (expected one of: title, include, exclude)"),
    (DIGESTS + DIGESTS[DIGESTS.index("[[digests]]"):],
     "config.toml: digests[1].name: duplicate digest name 'monthly'"),
    ('templates = "no-such-folder"\n' + DIGESTS, "config.toml: templates: …"),
    ('timezone = "Asia/Beijing"\n', "config.toml: timezone: unknown time zone 'Asia/Beijing' (e.g. Asia/Shanghai)"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nplatform = "wordpress"'),
     "config.toml: sources[0].platform: unknown platform 'wordpress' (known: trs, hanweb, gkmlpt)"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nfetcher = "selenium"'),
     "config.toml: sources[0].fetcher: must be one of: http, browser"),
    (GOOD_SOURCE.replace('"ul.list li"', '"json:data.list"').replace("max_pages = 3", 'next_page = "a.next"'),
     "config.toml: sources[0].list.next_page: a JSON list pages through a spider, not next_page"),
    (GOOD_SOURCE.replace('"ul.list li"', '"json:data.list"').replace("max_pages = 3\n", ""),
     "config.toml: sources[0].list.link: the items are JSON (item = 'json:data.list'): give a JSON path like "
     "'json:url'"),
    (GOOD_SOURCE.replace('"ul.list li"', '"json:data..list"').replace('"a::attr(href)"', '"json:url"')
     .replace('"xpath:./span/text()"', '"json:date"').replace("max_pages = 3\n", ""),
     "config.toml: sources[0].list.item: invalid selector 'json:data..list': a JSON path is json:key.key, "
     "alternatives split by |, in a JSON list only"),
    (GOOD_SOURCE.replace('body = "#zoom"', 'body = "json:content"'),
     "config.toml: sources[0].detail.body: invalid selector 'json:content': a JSON path is json:key.key, "
     "alternatives split by |, in a JSON list only"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nschedule = "daily"'),
     "config.toml: sources[0].schedule: 'daily' is not a cron string: expected 5 fields (6 with seconds first)"),
    (DIGESTS + 'schedule = "0 25 1 * *"\n', "config.toml: digests[0].schedule: '0 25 1 * *' is not a valid cron "
     "string: …"),
    (SMTP.replace('security = "starttls"', 'security = "ssl"'),
     "config.toml: smtp.security: must be one of: none, starttls, tls"),
    (SMTP.replace('sender = "PolicyWatch <digest@example.org>"', 'sender = "PolicyWatch <digest@>"'),
     "config.toml: smtp.sender: 'PolicyWatch <digest@>' is not a mailbox like 'PolicyWatch <digest@example.org>'"),
    (SMTP.replace('host = "127.0.0.1"\n', ""), "config.toml: smtp.host: required key is missing"),
    (SMTP.replace("port = 8025", "port = 70000"), "config.toml: smtp.port: must be a TCP port (1-65535)"),
    (SMTP.replace('"POLICYWATCH_SMTP_PASSWORD"', '"s3cret!"'),
     "config.toml: smtp.password_env: must name an environment variable (like POLICYWATCH_SMTP_PASSWORD), "
     "not hold the secret"),
    ('[delivery]\nsecret_env = "my secret"\n', "config.toml: delivery.secret_env: must name an environment variable "
     "(like POLICYWATCH_SECRET), not hold the secret"),
    (SMTP.replace('username = ""', 'username = ""\npassword = "s3cret"'),
     "config.toml: smtp.password: unknown key (expected one of: host, port, security, username, password_env, "
     "sender, timeout, max_attempts, retry_delay)"),
    ('site_url = "example.org/policy"\n',
     "config.toml: site_url: 'example.org/policy' is not an http(s) address like 'https://example.org/policy/'"),
    ('site_url = "https://example.org/policy?page=1"\n',
     "config.toml: site_url: 'https://example.org/policy?page=1' is not an http(s) address like "
     "'https://example.org/policy/'"),
    ('[delivery]\nunsubscribe_url = "https://example.org/unsubscribe"\n',
     "config.toml: delivery.unsubscribe_url: must be an http(s) URL containing {token}"),
    ('[alerts]\nmaintainers = ["ops@example"]\n', "config.toml: alerts.maintainers[0]: 'ops@example' is not a valid "
     "email address: …"),
    ("[alerts]\nconsecutive_errors = 0\n", "config.toml: alerts.consecutive_errors: must be at least 1"),
    # Numbers TOML allows and no setting means: nan, infinities, negative waits, counts and sizes.
    ("[crawl]\ntimeout = nan\n", "config.toml: crawl.timeout: must be a finite number, not nan"),
    ("[crawl]\nrun_timeout = inf\n", "config.toml: crawl.run_timeout: must be a finite number, not inf"),
    ("[crawl]\ndownload_delay = -inf\n", "config.toml: crawl.download_delay: must be a finite number, not -inf"),
    ("[crawl]\ndownload_delay = -1\n", "config.toml: crawl.download_delay: must be 0 or more"),
    ("[crawl]\nrecheck_days = -7\n", "config.toml: crawl.recheck_days: must be 0 or more"),
    ("[crawl]\nretries = -1\n", "config.toml: crawl.retries: must be 0 or more"),
    ("[crawl]\nmax_page_bytes = -1\n", "config.toml: crawl.max_page_bytes: must be greater than 0"),
    ("[crawl]\nmax_attachment_bytes = 0\n", "config.toml: crawl.max_attachment_bytes: must be greater than 0"),
    ("[crawl]\nattachment_cpu_seconds = 0\n", "config.toml: crawl.attachment_cpu_seconds: must be greater than 0"),
    ("[crawl]\nattachment_memory_mb = 64\n", "config.toml: crawl.attachment_memory_mb: must be at least 256"),
    ("[crawl]\nattachment_max_unpacked_bytes = -1\n",
     "config.toml: crawl.attachment_max_unpacked_bytes: must be greater than 0"),
    ("[detect]\nduplicate_threshold = nan\n", "config.toml: detect.duplicate_threshold: must be a finite number, "
     "not nan"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nrecheck_days = -1'),
     "config.toml: sources[0].recheck_days: must be 0 or more"),
    (SMTP.replace("port = 8025", "port = 8025\ntimeout = nan"), "config.toml: smtp.timeout: must be a finite number, "
     "not nan"),
    # A cron on a date no calendar has would leave the scheduler with no next run time.
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nschedule = "0 9 31 2 *"'),
     "config.toml: sources[0].schedule: '0 9 31 2 *' never fires: no date matches it"),
    (DIGESTS + 'schedule = "0 9 31 4,6,9,11 *"\n',
     "config.toml: digests[0].schedule: '0 9 31 4,6,9,11 *' never fires: no date matches it"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nkind = "media"'),
     "config.toml: sources[0].kind: must be one of: policy, news"),
    (GOOD_SOURCE.replace('name = "sh-sti"', 'name = "sh-sti"\nkind = ["news"]'),
     "config.toml: sources[0].kind: expected str, got list"),
]


def test_mail_and_schedule_config(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(SMTP + DIGESTS + '[alerts]\nmaintainers = ["Ops@Example.org"]\n', encoding="utf-8")
    config = config_module.load(path)
    assert (config.smtp.host, config.smtp.port, config.smtp.security, config.smtp.password_env) == (
        "127.0.0.1", 8025, "starttls", "POLICYWATCH_SMTP_PASSWORD")
    assert config.alerts.maintainers == ("Ops@example.org",) and config.alerts.consecutive_errors == 3
    assert (config.timezone, config.sources[0].schedule, config.digest("monthly").cron) == (
        "Asia/Shanghai", "@daily", "0 9 1 * *")
    assert config_module.load(tmp_path / "config.toml").delivery.secret_env == "POLICYWATCH_SECRET"
    path.write_text(DIGESTS, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^config.toml: smtp: no \[smtp\] table"):
        config_module.load(path).require_smtp()


def test_digest_config(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(DIGESTS, encoding="utf-8")
    config = config_module.load(path)
    spec = config.digest("monthly")
    assert (spec.topics, spec.period, spec.layout, spec.language, spec.min_score) == (
        ("cell-therapy",), "month", "list", "zh-Hans", 2.0)
    assert config.topic("cell-therapy").include == ("干细胞", "细胞治疗")
    with pytest.raises(ConfigError, match="no digest named 'weekly' \\(known: monthly\\)"):
        config.digest("weekly")


def test_good_config(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD_SOURCE, encoding="utf-8")
    config = config_module.load(path)
    source = config.source("sh-sti")
    assert source.list.max_pages == 3 and source.detail.body == "#zoom"
    assert source.kind == "policy" and config.kind_of("sh-sti") == "policy"
    assert config.kind_of("gone") == "policy"  # a source no longer configured: its documents are policies
    assert config.db == tmp_path / "state.db"
    assert config_module.load(path, tmp_path / "other.db").db == tmp_path / "other.db"
    assert config.site_url == ""
    path.write_text('site_url = "https://example.org/policy"\n' + GOOD_SOURCE, encoding="utf-8")
    assert config_module.load(path).site_url == "https://example.org/policy/"


def test_a_news_source(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(GOOD_SOURCE + GOOD_SOURCE.replace('"sh-sti"', '"cell-news"\nkind = "news"'), encoding="utf-8")
    config = config_module.load(path)
    assert [(s.name, s.kind) for s in config.sources] == [("sh-sti", "policy"), ("cell-news", "news")]
    assert config.kind_of("cell-news") == "news"


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_config_is_one_clear_line(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        config_module.load(path)
    if message.endswith("…"):
        assert str(raised.value).startswith(message[:-1])
        assert "\n" not in str(raised.value)
    else:
        assert str(raised.value) == message


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^nope.toml: file not found$"):
        config_module.load(tmp_path / "nope.toml")


def test_cli_prints_one_line_and_keeps_the_database(tmp_path) -> None:
    good = tmp_path / "config.toml"
    good.write_text(GOOD_SOURCE, encoding="utf-8")
    subprocess.run([*POLICYWATCH, "--config", str(good), "init"], check=True, capture_output=True)
    db_before = (tmp_path / "state.db").read_bytes()
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD_SOURCE.replace("[sources.list]", "[sources.lst]"), encoding="utf-8")

    result = subprocess.run([*POLICYWATCH, "sources", "list", "--config", str(bad),
                             "--db", str(tmp_path / "state.db")], capture_output=True, text=True)

    assert result.returncode == 1
    assert result.stderr == ("Error: bad.toml: sources[0].lst: unknown key (expected one of: name, "
                             "title, region, authority, start_urls, list, detail, language, "
                             "recheck_days, schedule, verified, expect_items, platform, fetcher, "
                             "allowed_hosts, queue, kind)\n")
    assert (tmp_path / "state.db").read_bytes() == db_before


def test_a_platform_source_gives_only_what_differs(tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("""
[[sources]]
name = "nfj"
title = "国家能源局南方监管局 通知公示"
authority = "国家能源局南方监管局"
platform = "trs"
start_urls = ["https://nfj.nea.gov.cn/xwzx/tzgg/"]
[sources.list]
item = "div.wrapper_overview_right_list ul li"

[[sources]]
name = "gz-wjw"
title = "广州市卫生健康委员会 政府信息公开"
authority = "广州市卫生健康委员会"
platform = "gkmlpt"
fetcher = "browser"
start_urls = ["http://wjw.gz.gov.cn/gkmlpt/api/all/0?page=1&sid=200031"]
""", encoding="utf-8")

    trs, gkmlpt = config_module.load(path).sources

    assert (trs.list.item, trs.list.date, trs.list.title) == (
        "div.wrapper_overview_right_list ul li", "span::text", "a::attr(title)")
    assert trs.detail is not None and "TRS_UEDITOR" in trs.detail.body
    assert (gkmlpt.list.item, gkmlpt.detail.body, gkmlpt.fetcher) == ("json:articles", "div.article-content", "browser")
    assert trs.fetcher == "http"


@pytest.mark.parametrize(("table", "error"), [
    ('[cluster]\nredis = "http://127.0.0.1:6379"\n', "cluster.redis: must be a Redis URL"),
    ('[cluster]\nredis = "redis://127.0.0.1:6379/0"\nheartbeat_seconds = 0\n',
     "cluster.heartbeat_seconds: must be greater than 0"),
    ('[cluster]\nheartbeat_seconds = 5\n', "cluster.redis: required key is missing"),
    ('[[sources]]\nname = "a"\ntitle = "t"\nauthority = "x"\nstart_urls = ["https://a.example/"]\nqueue = "Main Land"\n'
     '[sources.list]\nitem = "li"\n', "sources[0].queue: must be lowercase letters"),
])
def test_cluster_and_queue_mistakes_are_one_line(tmp_path, table, error):
    path = tmp_path / "config.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(config_module.ConfigError, match=re.escape(error)):
        config_module.load(path)


def test_a_cluster_names_its_redis_and_sources_their_queue(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('[cluster]\nredis = "redis://:secret@10.0.0.5:6379/2"\n[[sources]]\nname = "a"\ntitle = "t"\n'
                    'authority = "x"\nstart_urls = ["https://a.example/"]\nqueue = "cn-mainland"\n'
                    '[sources.list]\nitem = "li"\n', encoding="utf-8")
    config = config_module.load(path)
    assert config.cluster.redis == "redis://:secret@10.0.0.5:6379/2" and config.cluster.heartbeat_seconds == 60
    assert config.source("a").queue == "cn-mainland"


WEBHOOK_KEY = "693a91f6-7abc-4bc4-97a0-0ec2sifa5aaa"


@pytest.mark.parametrize(("table", "message"), [
    (DIGESTS + f'notify = ["qywx://{WEBHOOK_KEY}"]\n',
     "config.toml: digests[0].notify[0]: qywx://6…a (digest 'monthly'): unknown notification scheme 'qywx://' "
     "(Apprise knows e.g. wecombot://, dingtalk://, feishu://, slack://, tgram:// or json:// for any webhook)"),
    (DIGESTS + f'notify = ["wecombot://{WEBHOOK_KEY}", "dingtalk://{WEBHOOK_KEY}/"]\n',
     "config.toml: digests[0].notify[1]: dingtalk://6…a/ (digest 'monthly'): not a valid DingTalk URL (see README, "
     "Chat groups, for its form)"),
    (DIGESTS + f'notify = ["https://qyapi.weixin.qq.com/cgi-bin/webhook/sendx?key={WEBHOOK_KEY}"]\n',
     "config.toml: digests[0].notify[0]: https://qyapi.weixin.qq.com/cgi-bin/webhook/sendx?… (digest 'monthly'): "
     "a web address that Apprise does not know as a service's webhook: write it with the service's scheme "
     "(wecombot://, dingtalk://, feishu://, slack://, tgram:// or json:// for any webhook; jsons:// for https)"),
    (DIGESTS + f'notify = ["feishu://{WEBHOOK_KEY} x"]\n',
     "config.toml: digests[0].notify[0]: feishu://6…x (digest 'monthly'): it contains spaces or control characters"),
    (DIGESTS + 'notify = "json://127.0.0.1/hook"\n', "config.toml: digests[0].notify: expected list, got str"),
    (DIGESTS + 'notify = ["json://127.0.0.1/hook", " json://127.0.0.1/hook"]\n',
     "config.toml: digests[0].notify[1]: json://127.0.0.1/hook (digest 'monthly'): listed twice"),
    (f'[alerts]\nnotify = ["json://user:{WEBHOOK_KEY}@hooks.example.org/h", 7]\n',
     "config.toml: alerts.notify[1]: expected an Apprise URL like 'wecombot://KEY' (the [alerts] table), got int"),
    (f'[alerts]\nnotify = ["jsonx://hooks.example.org/{WEBHOOK_KEY}"]\n',
     "config.toml: alerts.notify[0]: jsonx://hooks.example.org/6…a (the [alerts] table): unknown notification "
     "scheme 'jsonx://' (Apprise knows e.g. wecombot://, dingtalk://, feishu://, slack://, tgram:// or json:// for "
     "any webhook)"),
])
def test_a_bad_notify_url_is_one_line_naming_its_table_without_its_secret(tmp_path, table, message):
    path = tmp_path / "config.toml"
    path.write_text(table, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        config_module.load(path)
    assert str(raised.value) == message and WEBHOOK_KEY not in str(raised.value)


def test_notify_urls_are_kept_as_written(tmp_path):
    path = tmp_path / "config.toml"
    urls = [f"wecombot://{WEBHOOK_KEY}", "dingtalk://SECabc123@0123456789abcdef/", "feishu://abc-123_XYZ",
            f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WEBHOOK_KEY}", "jsons://hooks.example.org/a"]
    path.write_text(DIGESTS + f"notify = {urls!r}\n".replace("'", '"') + '[alerts]\nnotify = ["form://127.0.0.1/x"]\n',
                    encoding="utf-8")
    config = config_module.load(path)
    assert config.digest("monthly").notify == tuple(urls) and config.alerts.notify == ("form://127.0.0.1/x",)
