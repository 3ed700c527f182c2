"""deploy/nginx-policywatch.conf in front of the subscription page, for real: nginx on loopback ports (its listen
addresses, certificate and log swapped for the test's, nothing else), the app behind it on uvicorn, aiosmtpd for
the mail. What the snippet promises: https only, the client nginx saw is the one the rate limits count (a header
the client sends cannot change it), the form cookie is Secure, bodies are capped, and the log keeps no token."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from policywatch.core import config as config_module
from policywatch.web.app import create_app
from tests.conftest import ROOT, source_toml
from tests.mailserver import Mailbox, MailServer, free_port
from tests.processes import listening, wait_until_ready
from tests.redisserver import in_ci
from tests.test_web import SECRET, TOPICS
from tests.tlscert import make_certificate
from tests.webapp import confirmation_link, post_subscribe, running

NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
WRAPPER = """{user}daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 64; }}
http {{
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {tmp}/policywatch.conf;
}}
"""


def snippet(tmp: Path, http_port: int, https_port: int, app: str, cert: str, key: str) -> str:
    """The deploy snippet with the test's ports, certificate, log and app address; each swap must find its text."""
    text = (ROOT / "deploy" / "nginx-policywatch.conf").read_text(encoding="utf-8")
    for old, new in (
        ("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"), ("listen [::]:443 ssl;", ""),
        ("/etc/letsencrypt/live/policywatch.example.org/fullchain.pem", cert),
        ("/etc/letsencrypt/live/policywatch.example.org/privkey.pem", key),
        ("/var/log/nginx/policywatch.access.log", str(tmp / "access.log")),
        ("http://127.0.0.1:8080", app.rstrip("/")),
    ):
        assert old in text, f"deploy/nginx-policywatch.conf no longer has {old!r}"
        text = text.replace(old, new)
    return text


def wait_listening(port: int, process: subprocess.Popen, tmp: Path) -> None:
    if not wait_until_ready(process, lambda: listening(port), 30):
        pytest.fail(f"nginx is not listening: {(tmp / 'error.log').read_text(errors='replace')}")


def test_the_page_behind_the_deploy_snippets_nginx(tmp_path, monkeypatch) -> None:
    if NGINX is None:
        message = "nginx not installed: `make nginx` installs it with apt-get (as root or with sudo)"
        pytest.fail(f"CI is set but {message}", pytrace=False) if in_ci() else pytest.skip(message)
    monkeypatch.setenv("POLICYWATCH_SECRET", SECRET)
    http_port, https_port = free_port(), free_port()
    public = f"https://127.0.0.1:{https_port}/"
    cert, key = make_certificate(tmp_path)

    def make(base: str):
        path = tmp_path / "config.toml"
        path.write_text(f"{TOPICS}\n" + source_toml("sh-sti", "http://127.0.0.1:9/", region="上海市")
                        + f'\n[smtp]\nhost = "127.0.0.1"\nport = {mail.port}\n'
                          'sender = "PolicyWatch <digest@example.org>"\ntimeout = 5\n'
                        + f'\n[web]\nurl = "{public}"\nsubscribe_per_client = 2\n', encoding="utf-8")
        return create_app(config_module.load(path))

    with MailServer(Mailbox()) as mail, running(make) as app:
        (tmp_path / "policywatch.conf").write_text(snippet(tmp_path, http_port, https_port, app, cert, key))
        user = "user root root;\n" if os.geteuid() == 0 else ""
        (tmp_path / "nginx.conf").write_text(WRAPPER.format(user=user, tmp=tmp_path))
        nginx = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-e",
                                  str(tmp_path / "error.log")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(https_port, nginx, tmp_path)
            with httpx.Client(base_url=public, verify=ssl.create_default_context(cafile=cert), timeout=30) as client:
                plain = httpx.get(f"http://127.0.0.1:{http_port}/subscribe")
                assert plain.status_code == 301 and plain.headers["location"] == "https://127.0.0.1/subscribe"

                form = client.get("subscribe")
                assert form.status_code == 200 and "Secure" in form.headers["set-cookie"]
                assert form.headers["strict-transport-security"] == "max-age=31536000"
                assert "frame-ancestors 'none'" in form.headers["content-security-policy"]

                # The client nginx saw is counted, whatever X-Forwarded-For the client itself sends.
                for n, spoofed in enumerate(("198.51.100.1", "198.51.100.2")):
                    answer = post_subscribe(client, {"email": f"r{n}@example.org", "digest": "monthly"}, spoofed)
                    assert answer.status_code == 200
                third = post_subscribe(client, {"email": "r2@example.org", "digest": "monthly"}, "198.51.100.3")
                assert third.status_code == 429

                big = client.post("subscribe", content=b"x" * 20_000,
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
                assert big.status_code == 413

                mail.mailbox.wait_for(lambda: len(mail.mailbox.messages) == 2)
                link = confirmation_link(mail.mailbox.messages[0])
                assert link.startswith(f"{public}confirm?token=")
                assert client.get(link).status_code == 200
        finally:
            nginx.terminate()
            nginx.wait(30)
    log = (tmp_path / "access.log").read_text(encoding="utf-8")
    assert '"GET /confirm HTTP/1.1" 200' in log and "token=" not in log
