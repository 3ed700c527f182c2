"""One SMTP connection, reused across messages, that says exactly how each send ended.

``Mailer.send`` sorts every outcome into one of four: delivered; :class:`TemporaryFailure` (4xx, no
connection: try again later); :class:`PermanentFailure` (5xx for this recipient or message); or
:class:`InDoubt`. A message is in doubt only in the moment between handing over its final "." and hearing
the server's answer: before it the server has accepted nothing (an interrupted DATA is discarded), after
it the answer says. ``on_handover`` runs just before that moment, so the caller can record it first.
A 5xx that is not about the recipient (login, sender) raises :class:`SetupError`: nobody is to blame
but the configuration, so nothing is marked.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from policywatch.config import SmtpSettings


class TemporaryFailure(Exception):
    """Not delivered this time; worth retrying (4xx reply, refused or dropped connection, timeout)."""


class PermanentFailure(Exception):
    """The server refused this recipient or message for good (5xx)."""


class InDoubt(Exception):
    """The connection ended after the message was handed over, before the server answered."""


class SetupError(Exception):
    """The server refuses us, not a recipient: login, sender address, TLS. Fix the config."""


_LEADING_DOT = re.compile(rb"(?m)^\.")
# CRLF line ends, and header lines up to RFC 5322's hard limit of 998 characters: a long URL in
# List-Unsubscribe has no space to fold at, and folding it to 78 would turn it into an encoded word.
WIRE = SMTP.clone(max_line_length=998)


class Mailer:
    """SMTP with STARTTLS, SMTPS or plain transport; a context manager that closes its connection."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.connection: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.quit()
            except (smtplib.SMTPException, OSError):
                self.connection.close()
            self.connection = None

    def send(self, message: EmailMessage, on_handover: Callable[[], None] | None = None) -> str:
        """Send one message to its To address; returns the server's acceptance line."""
        sender = message["From"].addresses[0].addr_spec
        recipient = message["To"].addresses[0].addr_spec
        smtp = self._connect()
        try:
            self._expect(smtp.mail(sender, ["SMTPUTF8"] if _needs_smtputf8(sender, recipient, smtp) else []),
                         "sender", sender)
            self._expect(smtp.rcpt(recipient), "recipient", recipient)
            self._expect(smtp.docmd("DATA"), "data", recipient, ok=354)
            body = _LEADING_DOT.sub(b"..", message.as_bytes(policy=WIRE))
            smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self._drop()
            raise TemporaryFailure(f"connection lost: {_reason(e)}") from None
        if on_handover is not None:
            on_handover()
        try:
            smtp.send(b".\r\n")
            reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self._drop()
            raise InDoubt(f"connection lost before the server answered the message: {_reason(e)}") from None
        self._expect(reply, "message", recipient)
        return f"{reply[0]} {reply[1].decode('utf-8', 'replace')}"

    def _connect(self) -> smtplib.SMTP:
        if self.connection is not None:
            try:
                if self.connection.noop()[0] == 250:
                    return self.connection
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
        s = self.settings
        try:
            if s.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo_or_helo_if_needed()
            if s.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.username:
                password = s.password()
                if password is None:
                    raise SetupError(f"environment variable {s.password_env} is not set: the SMTP login needs it")
                smtp.login(s.username, password)
        except smtplib.SMTPAuthenticationError as e:
            raise SetupError(f"SMTP login as {s.username!r} refused: {_reason(e)}") from None
        except smtplib.SMTPNotSupportedError as e:
            raise SetupError(f"{s.host}:{s.port} does not support {s.security}: {e}") from None
        except ssl.SSLError as e:
            raise SetupError(f"TLS with {s.host}:{s.port} failed: {e}") from None
        except smtplib.SMTPResponseException as e:
            if 400 <= e.smtp_code < 500:
                raise TemporaryFailure(f"{s.host}:{s.port} answered {_reason(e)}") from None
            raise SetupError(f"{s.host}:{s.port} refused the session: {_reason(e)}") from None
        except (OSError, smtplib.SMTPException) as e:
            raise TemporaryFailure(f"cannot connect to {s.host}:{s.port}: {_reason(e)}") from None
        self.connection = smtp
        return smtp

    def _expect(self, reply: tuple[int, bytes], stage: str, who: str, ok: int | None = None) -> None:
        """Turn an unwanted reply into the right failure; the session is reset for the next message."""
        code, text = reply
        if (code == ok) if ok is not None else 200 <= code < 300:
            return
        reason = f"{code} {text.decode('utf-8', 'replace')}".strip()
        if code == -1:
            self._drop()
            raise TemporaryFailure(f"connection lost at {stage}: {reason}")
        self._reset()
        if 400 <= code < 500:
            raise TemporaryFailure(f"{stage} {who} deferred: {reason}")
        if stage == "sender":
            raise SetupError(f"sender {who} refused: {reason}")
        raise PermanentFailure(f"{stage} {who} refused: {reason}" if stage != "message" else f"refused: {reason}")

    def _reset(self) -> None:
        try:
            if self.connection is not None:
                self.connection.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


def _needs_smtputf8(sender: str, recipient: str, smtp: smtplib.SMTP) -> bool:
    return not (sender + recipient).isascii() and smtp.has_extn("smtputf8")


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return f"{error.smtp_code} {text}"
    return str(error) or type(error).__name__
