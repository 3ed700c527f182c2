"""A crawl shares its sources out among several processes that record into one run."""

from __future__ import annotations

import fcntl

import pytest

from policywatch.crawler.crawl import CrawlError, shards
from tests.conftest import source_toml

SITES = ("alpha", "beta", "gamma")


def make_sites(root) -> None:
    for site in SITES:
        (root / site).mkdir(parents=True)
        items = []
        for n in range(3):
            title = f"关于{site}第{n}批细胞治疗临床研究项目备案的通知"
            (root / site / f"{n}.html").write_text(
                f"<html><body><h1>{title}</h1><p>发布时间：2024-03-0{n + 1}</p><div id='zoom'>"
                f"<p>根据干细胞临床研究管理办法，{site}第{n}批项目予以备案，请按期完成研究任务。</p></div></body></html>",
                encoding="utf-8")
            items.append(f'<li><a href="{n}.html">{title}</a></li>')
        (root / site / "index.html").write_text(f"<ul>{''.join(items)}</ul>", encoding="utf-8")


@pytest.fixture
def three_sites(db_target, tmp_path, portal, write_config):
    make_sites(tmp_path / "site")
    base = portal(tmp_path / "site")
    return write_config(*(source_toml(s, f"{base}/{s}/index.html") for s in SITES), processes=2)


def test_two_processes_record_one_run(three_sites, run_crawl, open_store):
    assert [len(shard) for shard in shards(three_sites, list(SITES))] == [2, 1]

    result = run_crawl(three_sites)

    store = open_store(three_sites.db)
    assert [(r["id"], r["status"]) for r in store.db["runs"].rows] == [(result.run_id, "finished")]
    assert [(row["source"], row["new_documents"]) for row in result.summary] == [(s, 3) for s in sorted(SITES)]
    assert store.db.execute("SELECT DISTINCT run_id FROM fetches").fetchall() == [(result.run_id,)]
    assert {r["source"]: r["outcome"] for r in store.db["source_runs"].rows} == dict.fromkeys(SITES, "ok")


def held(config, name: str):
    """Take a source's crawl lock, as a crawl in another process would."""
    folder = config.state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    handle = (folder / f"{name}.lock").open("w")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return handle


def test_a_source_being_crawled_elsewhere_is_skipped(three_sites, run_crawl, open_store):
    with held(three_sites, "beta"):
        result = run_crawl(three_sites)

    assert result.skipped == ["beta"]
    assert sorted(row["source"] for row in result.summary) == ["alpha", "gamma"]
    assert open_store(three_sites.db).count("documents") == 6


def test_a_crawl_with_every_source_taken_says_so(three_sites, run_crawl, open_store):
    handles = [held(three_sites, name) for name in SITES]
    with pytest.raises(CrawlError, match=r"^crawl skipped: every source asked for is being crawled by another"):
        run_crawl(three_sites)
    for handle in handles:
        handle.close()

    store = open_store(three_sites.db)
    assert [r["status"] for r in store.db["runs"].rows] == ["skipped"]
    assert store.count("documents") == 0


def test_shards_keep_browser_sources_together(tmp_path, write_config):
    browser = 'fetcher = "browser"'
    config = write_config(*(source_toml(name, f"http://127.0.0.1:1/{name}/", extra=browser if name in "bd" else "")
                            for name in "abcde"), processes=3)
    assert shards(config, ["a", "b", "c", "d", "e"]) == [["b", "d"], ["a", "e"], ["c"]]
    assert shards(config, ["a"]) == [["a"]]
