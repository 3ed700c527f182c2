"""A fast static server on 127.0.0.1 for the benchmark: nginx when it is on PATH, else policywatch.portal."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from policywatch.portal import serve

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

NGINX_CONF = """\
{user}worker_processes {workers};
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html htm; text/plain txt; text/css css; application/pdf pdf;
            application/vnd.openxmlformats-officedocument.wordprocessingml.document docx; }}
    default_type application/octet-stream;
    sendfile on;
    etag on;
    if_modified_since exact;
    keepalive_requests 10000;
    server {{
{listen}
        root {root};
        index index.html;
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start listening")


@contextmanager
def static_server(root: Path, prefer: str = "auto", workers: int = 1,
                  addresses: Sequence[str] = ("127.0.0.1",)) -> Iterator[tuple[str, str]]:
    """Serve ``root`` on a free loopback port for the ``with`` block; yields (base URL on the first address, which
    server). More loopback ``addresses`` (127.0.0.2, ...) give distinct hosts on one port; they need nginx."""
    nginx = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)
    if prefer == "portal" or nginx is None:
        if list(addresses) != ["127.0.0.1"]:
            raise SystemExit("serving several loopback addresses needs nginx on PATH")
        with serve(root) as url:
            yield url, "policywatch.portal (threaded Python)"
        return
    with tempfile.TemporaryDirectory(prefix="bench-nginx-") as tmp:
        port = _free_port()
        user = "user root root;\n" if os.geteuid() == 0 else ""  # else workers run as nobody: may not read root
        conf = Path(tmp) / "nginx.conf"
        listen = "\n".join(f"        listen {address}:{port};" for address in addresses)
        conf.write_text(NGINX_CONF.format(user=user, workers=workers, tmp=tmp, port=port, listen=listen,
                                          root=root.resolve()))
        version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip()
        process = subprocess.Popen([nginx, "-p", tmp, "-c", str(conf), "-e", f"{tmp}/error.log"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(port, process, host=addresses[0])
            yield f"http://{addresses[0]}:{port}", f"{version.removeprefix('nginx version: ')} ({workers} worker)"
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
