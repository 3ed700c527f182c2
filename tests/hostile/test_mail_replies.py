"""A mail server whose replies never end: a greeting sent a byte at a time, an EHLO answered with continuation lines
for ever, or the answer to a handed-over message trickling in. Each is a lost connection within the reply deadline
(policywatch.deliver.replies), never a `digest send` held for ever or an endless reply kept in memory, and the
message is reported as what it is: not sent (retried later), or in doubt once it was handed over."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage

import pytest

from policywatch.core.config import SmtpSettings
from policywatch.deliver import replies
from policywatch.deliver.smtp import InDoubt, Mailer, TemporaryFailure


@contextmanager
def scripted_server(misbehave: str) -> Iterator[int]:
    """A one-connection SMTP server on 127.0.0.1 that follows the protocol except where ``misbehave`` says:
    "greeting" (a byte every 0.2 s), "ehlo" (250- lines as fast as they are read) or "final" (the reply to the
    message's final dot, a byte every 0.2 s). Yields its port; stops when the client hangs up or the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def trickle(conn: socket.socket, line: bytes) -> None:
        for byte in line * 1000:
            if done.wait(0.2):
                return
            conn.sendall(bytes([byte]))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            try:
                if misbehave == "greeting":
                    return trickle(conn, b"220 mail.example.org ready\r\n")
                conn.sendall(b"220 mail.example.org ready\r\n")
                while not done.is_set() and (line := lines.readline()):
                    command = line[:4].upper()
                    if command == b"EHLO" and misbehave == "ehlo":
                        while not done.is_set():
                            conn.sendall(b"250-PIPELINING\r\n" * 1000)
                    elif command == b"DATA":
                        conn.sendall(b"354 go ahead\r\n")
                        while lines.readline() not in (b".\r\n", b""):
                            pass
                        if misbehave == "final":
                            return trickle(conn, b"250 queued as 1\r\n")
                        conn.sendall(b"250 queued as 1\r\n")
                    elif command == b"QUIT":
                        conn.sendall(b"221 bye\r\n")
                        return
                    else:
                        conn.sendall(b"250 ok\r\n")
            except OSError:  # the client hung up: what these tests expect of it
                return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        listener.close()
        thread.join(10)


def message() -> EmailMessage:
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "digest@example.org", "li@example.org", "12月份行业政策及动态汇总"
    mail.set_content("正文")
    return mail


@pytest.fixture
def short_replies(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(replies, "REPLY_SECONDS", 1.0)
    return 1.0


@pytest.mark.parametrize(("misbehave", "failure", "reason"), [
    ("greeting", TemporaryFailure, "the reply took longer than 1.6 s"),  # twice the 0.8 s timeout: the longer
    ("ehlo", TemporaryFailure, "a reply of more than 100 lines"),
    ("final", InDoubt, "connection lost before the server answered the message"),
])
def test_a_reply_that_never_ends_is_a_lost_connection_within_the_deadline(short_replies, misbehave, failure, reason):
    with scripted_server(misbehave) as port, Mailer(SmtpSettings("digest@example.org", port=port,
                                                                 timeout=0.8)) as mailer:
        started = time.monotonic()
        tracemalloc.start()
        try:
            with pytest.raises(failure) as raised:
                mailer.send(message())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert time.monotonic() - started < 1.6 + 2  # the deadline, not a read timeout that a trickle never meets
        assert reason in str(raised.value), raised.value
        assert peak < 4 << 20, peak  # an endless reply is not kept


def test_a_server_that_behaves_gets_the_message_through_the_bounded_replies(short_replies):
    with scripted_server("nothing") as port, Mailer(SmtpSettings("digest@example.org", port=port, timeout=4)) as mailer:
        assert mailer.send(message()) == "250 queued as 1"
        assert isinstance(mailer.connection, replies.SMTP)
