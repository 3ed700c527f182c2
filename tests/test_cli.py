"""The CLI: every command documented, and crawl / sources list work through the real entry point."""

from __future__ import annotations

import json
import subprocess

import click
import pytest

from policywatch.cli import main
from tests import forkcli
from tests.conftest import POLICYWATCH, ROOT, source_toml


def commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.extend(commands(command, f"{prefix}{name} "))
        else:
            found.append((prefix + name, command))
    return found


@pytest.mark.parametrize(("name", "command"), commands(main))
def test_command_documented(name: str, command: click.Command) -> None:
    assert "Example: policywatch " + name in (command.help or ""), name
    assert f"`policywatch {name}" in (ROOT / "README.md").read_text(encoding="utf-8"), name
    assert {"--config", "--db"} <= {opt for p in command.params for opt in p.opts} or name == "demo"


def test_crawl_and_sources_list(tmp_path, portal, write_config) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<ul><li><a href='/1.html'>关于开展细胞治疗备案的通知</a></li>"
                                     "<li><a href='/missing.html'>缺失</a></li></ul>", encoding="utf-8")
    (site / "1.html").write_text("<h1>关于开展细胞治疗备案的通知</h1><p>发布时间：2023-12-05</p>"
                                 "<div id='zoom'><p>为规范细胞治疗临床研究，现开展备案工作。</p></div>",
                                 encoding="utf-8")
    config = write_config(source_toml("cli", f"{portal(site)}/index.html"))

    crawl = subprocess.run([*POLICYWATCH, "crawl", "--config", str(config.path)],
                           capture_output=True, text=True, check=True)
    listed = subprocess.run([*POLICYWATCH, "--config", str(config.path), "sources", "list", "--json"],
                            capture_output=True, text=True, check=True)

    row = next(line for line in crawl.stdout.splitlines() if line.startswith("│ cli"))
    assert row.split("│")[2:6] == ["     3 ", "             1 ", "            1 ", "      1 "]
    assert "missing.html: HTTP 404" in crawl.stdout
    [source] = json.loads(listed.stdout)
    assert (source["name"], source["documents"]) == ("cli", 1) and source["last_crawl"]


def test_unknown_source_and_document(tmp_path, write_config) -> None:
    config = write_config(source_toml("only", "http://127.0.0.1:9/"))
    crawl = forkcli.run(["crawl", "nope", "--config", str(config.path)])
    forkcli.run(["init", "--config", str(config.path)], check=True)
    show = forkcli.run(["show", "42", "--config", str(config.path)])
    assert crawl.returncode == 1
    assert crawl.stderr == "Error: config.toml: sources: no source named 'nope' (known: only)\n"
    assert show.returncode == 1 and show.stderr.startswith("Error: no document with id or URL '42'")


def test_show_finds_a_page_named_in_chinese_by_the_url_a_browser_shows(tmp_path, portal, write_config) -> None:
    """A page linked as 2023/关于….html is stored under its percent-encoded URL (the one Scrapy requests); the URL
    as a browser's address bar shows it finds it too."""
    site = tmp_path / "site"
    (site / "2023").mkdir(parents=True)
    (site / "2023" / "关于细胞治疗的通知.html").write_text(
        "<h1>关于细胞治疗的通知</h1><p>发布时间：2023-12-05</p>"
        "<div id='zoom'><p>为规范细胞治疗临床研究，现将有关事项通知如下。</p></div>", encoding="utf-8")
    (site / "index.html").write_text("<ul><li><a href='2023/关于细胞治疗的通知.html'>关于细胞治疗的通知</a></li></ul>",
                                     encoding="utf-8")
    base = portal(site)
    config = write_config(source_toml("cn", f"{base}/index.html"))
    forkcli.run(["crawl", "--config", str(config.path)], check=True)

    def show(url: str) -> subprocess.CompletedProcess:
        return forkcli.run(["show", url, "--json", "--config", str(config.path)])

    encoded = f"{base}/2023/%E5%85%B3%E4%BA%8E%E7%BB%86%E8%83%9E%E6%B2%BB%E7%96%97%E7%9A%84%E9%80%9A%E7%9F%A5.html"
    for url in (f"{base}/2023/关于细胞治疗的通知.html", encoded):
        found = show(url)
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["url"] == encoded
    missing = show(f"{base}/2023/没有这个通知.html")
    assert missing.returncode == 1 and "no document with id or URL" in missing.stderr
    no_url = show("http://127.0.0.1:99999/关于.html")  # a port out of range: no URL at all
    assert no_url.returncode == 1 and no_url.stderr.startswith("Error: no document with id or URL")
