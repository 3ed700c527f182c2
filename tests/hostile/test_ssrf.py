"""A portal that points the crawler at internal hosts: by redirects, list links, attachment links, numeric
spellings of an address, and another service on the portal's own machine. The crawler never sends those
requests; each is a fetch row saying why, and nothing an internal host serves reaches state.db.

The portal is 127.0.0.1 (allowed, as every test config allows it); the internal host is 127.0.0.2 (refused:
loopback), and an "admin service" is 127.0.0.1 on another port (allowed by address, but another host).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from policywatch.core import config as config_module
from tests import forkcli
from tests.browser import CHROMIUM, require_chromium
from tests.conftest import crawl_config_text, source_toml
from tests.hostile.hostile_web import SECRET, Site, found_in_db, listing, page

LOOPBACK = "refused: {host} is a loopback address (allow it with [crawl] allow_hosts)"


@pytest.fixture
def hosts():
    """(portal, internal host, admin service on the portal's address but another port)."""
    internal = Site("127.0.0.2", fallback=(200, {}, page("内部", SECRET)))
    admin = Site("127.0.0.1", fallback=(200, {}, page("管理", SECRET)))
    portal = Site("127.0.0.1")
    yield portal, internal, admin
    for site in (portal, internal, admin):
        site.close()


def write(tmp_path, text: str, allow: str = '["127.0.0.1"]'):
    """A test config of these sources, allowing ``allow`` (a TOML list) by [crawl] allow_hosts."""
    path = tmp_path / "config.toml"
    crawl = crawl_config_text(timeout=5).replace('allow_hosts = ["127.0.0.1"]', f"allow_hosts = {allow}")
    path.write_text(crawl + text, encoding="utf-8")
    return config_module.load(path)


def errors(store, source: str) -> dict[str, str | None]:
    """URL → error of a source's fetch rows."""
    rows = store.db.execute("SELECT url, error FROM fetches WHERE source = ?", [source]).fetchall()
    return dict(rows)


def test_redirects_to_internal_hosts_are_never_followed(tmp_path, hosts, run_crawl, open_store):
    portal, internal, admin = hosts
    i, p = internal.port, portal.port
    portal.redirect("/r/internal.html", f"{internal.base}/secret.html")
    portal.redirect("/r/metadata.html", "http://169.254.169.254/latest/meta-data/iam/")
    portal.redirect("/r/admin.html", f"{admin.base}/admin.html")
    portal.redirect("/r/numeric.html", f"http://2130706434:{i}/secret.html")  # 127.0.0.2 as one number
    portal.redirect("/r/mapped.html", f"http://[::ffff:127.0.0.2]:{i}/secret.html")
    portal.redirect("/r/hop.html", "/r/internal.html")  # a chain: the second hop leaves
    portal.redirect("/r/file.html", "file:///etc/hostname")
    refresh = f'<meta http-equiv="refresh" content="0;url={internal.base}/secret.html">'
    portal.add("/r/refresh.html", page("跳转", head=refresh))
    # Another name for the portal's own address: another host, unless the source lists it.
    portal.routes["/r/localhost/"] = lambda host: (
        (200, {}, page("关于开展细胞治疗临床研究备案工作的通知")) if host.startswith("localhost") else
        (302, {"Location": f"http://localhost:{p}/r/localhost/"}, b""))
    redirects = ["/r/internal.html", "/r/metadata.html", "/r/admin.html", "/r/numeric.html", "/r/mapped.html",
                 "/r/hop.html", "/r/localhost/", "/r/file.html", "/r/refresh.html"]
    portal.add("/strict/index.html", listing(*redirects))
    portal.add("/trusting/index.html", listing(*redirects))
    # A source that lists the internal host, the metadata address and localhost in allowed_hosts: the address
    # rule still holds for the first two.
    trusting = f'allowed_hosts = ["127.0.0.2:{i}", "169.254.169.254", "localhost:{p}", "2130706434:{i}"]'
    config = write(tmp_path, source_toml("strict", f"{portal.base}/strict/index.html")
                   + source_toml("trusting", f"{portal.base}/trusting/index.html", extra=trusting))

    run_crawl(config)

    assert internal.requests == [] and admin.requests == []
    assert found_in_db(config.db, SECRET) == []
    store = open_store(config.db)
    strict, trusted = errors(store, "strict"), errors(store, "trusting")
    off = "redirected off the source's hosts to {} (list the host in the source's allowed_hosts)"
    assert strict[f"{portal.base}/r/internal.html"] == off.format(f"{internal.base}/secret.html")
    assert strict[f"{portal.base}/r/metadata.html"] == off.format("http://169.254.169.254/latest/meta-data/iam/")
    assert strict[f"{portal.base}/r/admin.html"] == off.format(f"{admin.base}/admin.html")
    assert strict[f"{portal.base}/r/numeric.html"] == off.format(f"http://2130706434:{i}/secret.html")
    assert strict[f"{portal.base}/r/hop.html"] == off.format(f"{internal.base}/secret.html")
    assert strict[f"{portal.base}/r/localhost/"] == off.format(f"http://localhost:{p}/r/localhost/")
    assert strict[f"{portal.base}/r/mapped.html"].startswith("redirected off the source's hosts to http://[::ffff:")
    assert strict[f"{portal.base}/r/refresh.html"] == off.format(f"{internal.base}/secret.html")  # <meta> refresh
    assert strict[f"{portal.base}/r/file.html"] == "HTTP 302"  # a redirect to file: is not followed at all
    assert trusted[f"{portal.base}/r/internal.html"] == LOOPBACK.format(host="127.0.0.2")
    assert trusted[f"{portal.base}/r/metadata.html"] == (
        "refused: 169.254.169.254 is a link-local address (allow it with [crawl] allow_hosts)")
    assert trusted[f"{portal.base}/r/numeric.html"] == LOOPBACK.format(host="2130706434 (127.0.0.2)")
    # Listed in allowed_hosts and on an allowed address: followed and stored.
    assert trusted[f"{portal.base}/r/localhost/"] is None
    doc = store.document(f"{portal.base}/r/localhost/")
    assert doc["source"] == "trusting" and "为规范干细胞临床研究" in doc["text"]
    assert store.db.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
    # Never a request the portal did not answer itself: no robots.txt of the internal hosts either.
    assert not [path for path in portal.paths() if "secret" in path]


def test_links_to_internal_hosts_are_refused(tmp_path, hosts, run_crawl, open_store):
    """List items and attachments pointing at internal addresses, however the address is spelt."""
    portal, internal, _ = hosts
    i = internal.port
    items = [f"{internal.base}/item.html", f"http://2130706434:{i}/number.html", f"http://0x7f.0.0.2:{i}/hex.html",
             f"http://[::ffff:127.0.0.2]:{i}/mapped.html", f"http://[::ffff:7f00:2]:{i}/mapped-hex.html",
             "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://0.0.0.0:80/", "http://10.1.2.3/x.html",
             "/good.html"]
    attachments = (f'<a href="{internal.base}/secret.pdf">附件1</a> <a href="/files/moved.pdf">附件2</a>'
                   f' <a href="http://169.254.169.254/files/x.docx">附件3</a>')
    portal.add("/index.html", listing(*items))
    portal.add("/good.html", page("关于开展细胞治疗临床研究备案工作的通知", extra=attachments))
    portal.redirect("/files/moved.pdf", f"{internal.base}/secret.pdf")
    config = write(tmp_path, source_toml("portal", f"{portal.base}/index.html"))

    run_crawl(config)

    assert internal.requests == []
    assert found_in_db(config.db, SECRET) == []
    store = open_store(config.db)
    got = errors(store, "portal")
    expected = {
        f"{internal.base}/item.html": LOOPBACK.format(host="127.0.0.2"),
        f"http://2130706434:{i}/number.html": LOOPBACK.format(host="2130706434 (127.0.0.2)"),
        f"http://0x7f.0.0.2:{i}/hex.html": LOOPBACK.format(host="0x7f.0.0.2 (127.0.0.2)"),
        f"http://[::ffff:127.0.0.2]:{i}/mapped.html": LOOPBACK.format(host="::ffff:127.0.0.2 (127.0.0.2)"),
        f"http://[::ffff:7f00:2]:{i}/mapped-hex.html": LOOPBACK.format(host="::ffff:7f00:2 (127.0.0.2)"),
        "http://169.254.169.254/latest/meta-data/":
            "refused: 169.254.169.254 is a link-local address (allow it with [crawl] allow_hosts)",
        "http://[::1]/": LOOPBACK.format(host="::1"),
        "http://0.0.0.0:80/": "refused: 0.0.0.0 is an unspecified address (allow it with [crawl] allow_hosts)",
        "http://10.1.2.3/x.html": "refused: 10.1.2.3 is a private address (allow it with [crawl] allow_hosts)",
        f"{internal.base}/secret.pdf": LOOPBACK.format(host="127.0.0.2"),
        f"{portal.base}/files/moved.pdf":
            f"redirected off the source's hosts to {internal.base}/secret.pdf "
            "(list the host in the source's allowed_hosts)",
        "http://169.254.169.254/files/x.docx":
            "refused: 169.254.169.254 is a link-local address (allow it with [crawl] allow_hosts)",
    }
    assert {url: got.get(url, "not fetched") for url in expected} == expected
    assert got[f"{portal.base}/good.html"] is None  # the page itself is stored, its refused files recorded
    assert "为规范干细胞临床研究" in store.document(f"{portal.base}/good.html")["text"]


def test_allow_hosts_lets_an_internal_portal_be_crawled(tmp_path, hosts, run_crawl, open_store):
    """An operator who means to crawl an intranet portal lists it: then it is crawled like any other."""
    _, internal, _ = hosts
    internal.add("/index.html", listing("/doc.html"))
    internal.add("/doc.html", page("关于开展细胞治疗临床研究备案工作的通知", "内网门户的通知正文，供测试抓取使用。"))
    config = write(tmp_path, source_toml("intranet", f"{internal.base}/index.html"), '["127.0.0.0/30"]')

    run_crawl(config)

    assert "/doc.html" in internal.paths()
    doc = open_store(config.db).document(f"{internal.base}/doc.html")
    assert doc is not None and "内网门户" in doc["text"]


def test_a_proxied_crawl_still_refuses_internal_addresses(tmp_path, hosts, run_crawl, open_store, monkeypatch):
    """Through a proxy, names are the proxy's to resolve, but an internal address written in a URL is refused
    before it reaches the proxy."""
    _, internal, _ = hosts
    proxy = Site("127.0.0.1", fallback=(200, {}, page("代理", "经代理取得的通知正文，内容足够长以便提取。")))
    try:
        proxy.add("http://portal.example/index.html", listing(
            f"{internal.base}/item.html", f"http://2130706434:{internal.port}/n.html",
            "http://portal.example/doc.html"))
        config = write(tmp_path, source_toml("proxied", "http://portal.example/index.html"))
        for name in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(name, proxy.base)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)

        run_crawl(config)

        # Only the portal's own name went to the proxy (robots.txt, the list, the detail page).
        assert {re.sub(r"^http://([^/]+)/.*", r"\1", path) for path in proxy.paths()} == {"portal.example"}
        got = errors(open_store(config.db), "proxied")
        assert got[f"{internal.base}/item.html"] == LOOPBACK.format(host="127.0.0.2")
        assert got[f"http://2130706434:{internal.port}/n.html"] == LOOPBACK.format(host="2130706434 (127.0.0.2)")
        assert got["http://portal.example/doc.html"] is None
    finally:
        proxy.close()
    assert internal.requests == []


def test_the_browser_fetcher_refuses_internal_requests(tmp_path, hosts, run_crawl, open_store, monkeypatch):
    """A browser source's page whose scripts, frames and images ask for the internal host, and a page that
    redirects there. Chromium's own requests are aborted; the redirect, which Chromium follows by itself, is
    caught once the page has loaded: the page is refused and nothing it showed is stored (see
    policywatch.crawler.browser)."""
    require_chromium()
    monkeypatch.setenv("POLICYWATCH_CHROMIUM", CHROMIUM)
    portal, internal, admin = hosts
    script = (f"<script>fetch('{internal.base}/api.json').then(r => r.text()).then(t => {{"
              "document.getElementById('zoom').append(t)}).catch(() => {});</script>"
              f'<script src="{internal.base}/tracker.js"></script>'
              f'<iframe src="{internal.base}/frame.html"></iframe><img src="{admin.base}/pixel.png">')
    portal.add("/index.html", listing("/doc.html", "/moved.html"))
    portal.add("/doc.html", page("关于开展细胞治疗临床研究备案工作的通知", extra=script))
    portal.redirect("/moved.html", f"{internal.base}/secret.html")
    config = write(tmp_path, source_toml("browser", f"{portal.base}/index.html", extra='fetcher = "browser"'))

    run_crawl(config)

    assert found_in_db(config.db, SECRET) == []
    assert admin.requests == []
    # The one request the internal host sees is the redirect hop Chromium followed before it could be checked.
    assert internal.paths() == ["/secret.html"]
    got = errors(open_store(config.db), "browser")
    assert got[f"{portal.base}/moved.html"] == (
        f"redirected off the source's hosts to {internal.base}/secret.html "
        "(list the host in the source's allowed_hosts)")
    assert got[f"{portal.base}/doc.html"] is None
    doc = open_store(config.db).document(f"{portal.base}/doc.html")
    assert "为规范干细胞临床研究" in doc["text"]


@pytest.mark.parametrize(("text", "message"), [
    ('[crawl]\nallow_hosts = ["http://10.0.0.1/"]\n',
     "crawl.allow_hosts[0]: 'http://10.0.0.1/' is not an IP address, a network (like 10.0.0.0/8) or a host name"),
    ('[crawl]\nallow_hosts = ["10.0.0.0/99"]\n',
     "crawl.allow_hosts[0]: '10.0.0.0/99' is not an IP address, a network (like 10.0.0.0/8) or a host name"),
    ("[crawl]\nallow_hosts = [127]\n",
     "crawl.allow_hosts[0]: 127 is not an IP address, a network (like 10.0.0.0/8) or a host name"),
    ('[crawl]\nallow_hosts = "127.0.0.1"\n', "crawl.allow_hosts: expected list, got str"),
    ("[crawl]\nmax_attachments_per_page = -1\n", "crawl.max_attachments_per_page: must be 0 or more"),
    (source_toml("s", "http://127.0.0.1/", extra='allowed_hosts = ["https://cdn.example/files"]'),
     "sources[0].allowed_hosts[0]: 'https://cdn.example/files' is not a host name or host:port (no scheme or path)"),
])
def test_a_bad_host_list_is_one_clear_line(tmp_path, text, message):
    """A careless operator's allowlist fails at load time, naming the entry, instead of allowing too much."""
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(config_module.ConfigError) as raised:
        config_module.load(path)
    assert str(raised.value) == f"config.toml: {message}"


def sources_check(config_path, name: str) -> subprocess.CompletedProcess:
    """`policywatch sources check` of one source, run as a maintainer runs it."""
    return forkcli.run(["sources", "check", name, "--config", str(config_path)], timeout=60)


@pytest.mark.parametrize("route", ["link", "redirected list", "redirected link", "metadata link"])
def test_sources_check_never_fetches_an_internal_page(tmp_path, hosts, route):
    """`sources check` prints what it fetches: a hostile list page (or a redirect) must not make the maintainer's
    tool fetch an internal page and show it. The check stops with one line naming the refusal."""
    portal, internal, _ = hosts
    secret = f"{internal.base}/secret.html"
    portal.add("/index.html", listing(secret, "/good.html"))
    portal.redirect("/moved/index.html", f"{internal.base}/index.html")
    portal.add("/via/index.html", listing("/r/secret.html", "/good.html"))
    portal.redirect("/r/secret.html", secret)
    portal.add("/metadata/index.html", listing("http://169.254.169.254/latest/meta-data/", "/good.html"))
    start, refused = {
        "link": ("/index.html", f"not fetched: {secret}: {LOOPBACK.format(host='127.0.0.2')}"),
        "redirected list": ("/moved/index.html", f"not fetched: {internal.base}/index.html: redirected off the "
                            "source's hosts to"),
        "redirected link": ("/via/index.html", f"not fetched: {secret}: redirected off the source's hosts to"),
        "metadata link": ("/metadata/index.html", "not fetched: http://169.254.169.254/latest/meta-data/: refused: "
                          "169.254.169.254 is a link-local address (allow it with [crawl] allow_hosts)"),
    }[route]
    write(tmp_path, source_toml("portal", f"{portal.base}{start}"))

    done = sources_check(tmp_path / "config.toml", "portal")

    assert internal.requests == []
    assert done.returncode == 1
    assert SECRET not in done.stdout + done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(f"Error: {refused}"), line


def test_sources_check_fetches_an_internal_page_that_allow_hosts_lists(tmp_path, hosts):
    """The same list page, with the internal host in [crawl] allow_hosts: the operator asked for it."""
    portal, internal, _ = hosts
    portal.add("/index.html", listing(f"{internal.base}/secret.html"))
    write(tmp_path, source_toml("portal", f"{portal.base}/index.html"), '["127.0.0.1", "127.0.0.2"]')

    done = sources_check(tmp_path / "config.toml", "portal")

    assert internal.paths() == ["/secret.html"]
    assert SECRET in done.stdout, done.stdout + done.stderr
