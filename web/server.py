"""Run the app with uvicorn on a socket bound beforehand, so a port already taken is one line, not a traceback.

Behind a reverse proxy on the same machine, uvicorn believes the proxy's X-Forwarded-For and X-Forwarded-Proto
(from 127.0.0.1 only; FORWARDED_ALLOW_IPS in the environment names other proxies): the rate limits then count the
real client, and the form cookie is marked Secure over https. Its access log is off, since the app's addresses
carry tokens; the proxy logs requests (see deploy/nginx-policywatch.conf, which leaves query strings out).
"""

from __future__ import annotations

import signal
import socket
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (OSError when it cannot be had)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def server(app: ASGIApp, log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for the app; ``.run(sockets=[…])`` serves until SIGTERM or Ctrl-C (or ``should_exit``)."""
    return uvicorn.Server(uvicorn.Config(app, lifespan="off", access_log=False, server_header=False,
                                         proxy_headers=True, log_level=log_level, timeout_graceful_shutdown=10))


def run(app: ASGIApp, sock: socket.socket) -> None:
    """Serve ``app`` on ``sock`` until SIGTERM or Ctrl-C, then return: requests in progress finish first.

    uvicorn hands a stop signal back to the handler it found once it has shut down; that handler is set here to do
    nothing, so the command ends as a finished one (exit 0), not killed by the signal it was asked to stop with.
    """
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda signum, frame: None)
    server(app).run(sockets=[sock])
