"""A real SMTP server (aiosmtpd) on 127.0.0.1 for the delivery tests, with scriptable refusals and delays.

Like a real mail server it queues a message as soon as its DATA is complete, before answering 250 (so a
sender cut off while waiting for that answer has still delivered). ``refuse`` decides the reply to each
RCPT, ``delay`` holds back the answer to DATA, and ``arrivals`` counts the messages queued.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """The aiosmtpd handler: accepted messages, and the RCPTs it was asked for."""

    def __init__(self, refuse: Callable[[str, int], str | None] | None = None, delay: float = 0.0) -> None:
        self.refuse = refuse or (lambda address, attempt: None)
        self.delay = delay
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []  # each message's bytes as they came over the wire
        self.asked: Counter[str] = Counter()
        self.arrivals = 0  # DATA commands completed by a client, answered or not
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.asked[address] += 1
        reply = self.refuse(address, self.asked[address])
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        # Like a real MTA: queue the message as soon as its DATA is complete, then answer.
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.messages.append(message)
            self.raw.append(envelope.original_content)
        self.arrivals += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"

    def wait_for(self, condition: Callable[[], bool], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError("the mail server did not see what the test waited for")
            time.sleep(0.01)

    def received_by(self) -> Counter[str]:
        """How many messages each To address holds."""
        with self.lock:
            return Counter(m["To"].addresses[0].addr_spec for m in self.messages)


class MailServer:
    """Start/stop an aiosmtpd server on a fixed loopback port (so it can be down, then up again)."""

    def __init__(self, mailbox: Mailbox, port: int | None = None, **options: Any) -> None:
        """``options`` go to aiosmtpd: ``ssl_context`` (SMTPS), ``tls_context`` (STARTTLS), ``authenticator`` …"""
        self.mailbox, self.port, self.options = mailbox, port or free_port(), options
        self.controller: Controller | None = None

    def start(self) -> MailServer:
        # SMTPUTF8 on, like current servers; the sender only asks for it when an address needs it.
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=True,
                                     **self.options)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
