"""An SMTP server's replies, read with a deadline and a line cap.

smtplib's timeout is per read of the socket, and a reply may have any number of lines: a server (broken, or
hostile) that sends its greeting a byte a second, or ``250-`` continuation lines for ever, holds `digest send`
(and serve's deliveries) for ever, and the endless reply grows in memory. :class:`SMTP` and :class:`SMTP_SSL` are
smtplib's, with each reply read within ``REPLY_SECONDS`` of asking for it (or twice the session's timeout, when
that is longer: an operator who gives a slow relay 5 minutes a read gets 10 a reply, RFC 5321's wait for the
answer to a message) and in at most ``REPLY_LINES`` lines;
past either, the connection is closed as lost (``SMTPServerDisconnected``), which policywatch.deliver.smtp
reports as it reports any lost connection: retried later, or in doubt once the message was handed over.
"""

from __future__ import annotations

import io
import smtplib
import socket
import time

REPLY_SECONDS = 60.0  # one reply, from asking for it to its last line, at least (smtplib's timeout bounds each read)
REPLY_LINES = 100  # lines of one reply: an EHLO reply has a dozen


class _Socket(io.RawIOBase):
    """A socket's reading end that gives up at a deadline: each read waits at most until then."""

    def __init__(self, sock: socket.socket, timeout: object) -> None:
        self.sock = sock
        self.timeout = timeout if isinstance(timeout, (int, float)) else None  # smtplib's default is a sentinel
        self.seconds = max(REPLY_SECONDS, 2 * (self.timeout or 0))  # for each reply
        self.deadline = float("inf")
        self.lines = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise self._late()
        self.sock.settimeout(remaining if self.timeout is None else min(self.timeout, remaining))
        try:
            return self.sock.recv_into(buffer)
        except TimeoutError:
            if time.monotonic() >= self.deadline:
                raise self._late() from None
            raise
        finally:
            self.sock.settimeout(self.timeout)

    def _late(self) -> TimeoutError:
        return TimeoutError(f"the reply took longer than {self.seconds:g} s")


class _Reply(io.BufferedReader):
    """smtplib's ``file``: lines of the replies, counted per reply."""

    raw: _Socket

    def readline(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        self.raw.lines += 1
        if self.raw.lines > REPLY_LINES:
            raise OSError(f"a reply of more than {REPLY_LINES} lines")
        return super().readline(size)


class _Bounded:
    """getreply, within the deadline and line cap, on whatever socket the session has now (STARTTLS replaces it)."""

    sock: socket.socket | None
    file: io.BufferedReader | None
    timeout: float | None

    def getreply(self) -> tuple[int, bytes]:
        if self.sock is not None and (not isinstance(self.file, _Reply) or self.file.raw.sock is not self.sock):
            self.file = _Reply(_Socket(self.sock, self.timeout))
        if isinstance(self.file, _Reply):
            self.file.raw.deadline = time.monotonic() + self.file.raw.seconds
            self.file.raw.lines = 0
        return super().getreply()  # type: ignore[misc]


class SMTP(_Bounded, smtplib.SMTP):
    """smtplib.SMTP, its replies bounded."""


class SMTP_SSL(_Bounded, smtplib.SMTP_SSL):
    """smtplib.SMTP_SSL, its replies bounded."""
