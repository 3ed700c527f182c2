"""One SMTP connection, reused across messages, that says exactly how each send ended.

``Mailer.send`` sorts every outcome into one of five: delivered; :class:`TemporaryFailure` (4xx, no
connection: try again later); :class:`PermanentFailure` (a 5xx to this recipient or message); :class:`InDoubt`;
or :class:`NotSendable` (this message cannot go through this server at all). A message is in doubt only in
the moment between handing over its final "." and hearing the server's answer: before it the server has
accepted nothing (an interrupted DATA is discarded), after it the answer says. ``on_handover`` runs just
before that moment, so the caller can record it first.

A 5xx that is not about the recipient raises :class:`SetupError`: nobody is to blame but the server or the
configuration, so nothing is marked. That is any refusal of the session, the login or the sender (MAIL
FROM), and at any stage the replies that say the server did not understand or will not serve us at all:
500-504 (syntax, command or sequence), 530/534/535/538 (authentication), and enhanced codes 5.3.x (mail
system) and 5.5.x (protocol). Whether a :class:`PermanentFailure` really means a dead mailbox is for the
caller to judge across the run (see :mod:`policywatch.deliver.send`).

Each message has one sender and one recipient, both taken from its From and To headers; domains there are
IDNA-encoded already (:func:`policywatch.core.addresses.header_address`). A non-ASCII local part is sent with
SMTPUTF8 when the server offers it (the message is then written as UTF-8, RFC 6531/6532); when it does not,
that message is :class:`NotSendable` and the connection stays usable for the next.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP
from typing import TYPE_CHECKING

from policywatch.core.addresses import needs_smtputf8
from policywatch.deliver import replies

if TYPE_CHECKING:
    from collections.abc import Callable

    from policywatch.core.config import SmtpSettings


class TemporaryFailure(Exception):
    """Not delivered this time; worth retrying (4xx reply, refused or dropped connection, timeout)."""


class PermanentFailure(Exception):
    """The server refused this recipient or message for good (5xx)."""


class InDoubt(Exception):
    """The connection ended after the message was handed over, before the server answered."""


class SetupError(Exception):
    """The server refuses us, not a recipient: login, sender address, TLS, commands it cannot serve."""


class NotSendable(Exception):
    """This message cannot go through this server (it needs SMTPUTF8, or an address cannot be written in a
    command); nothing was handed over, and it is nobody's bounce."""


_LEADING_DOT = re.compile(rb"(?m)^\.")
# CRLF line ends, and header lines up to RFC 5322's hard limit of 998 characters: a long URL in
# List-Unsubscribe has no space to fold at, and folding it to 78 would turn it into an encoded word.
WIRE = SMTP.clone(max_line_length=998)
WIRE_UTF8 = WIRE.clone(utf8=True)  # for SMTPUTF8: an address's non-ASCII local part written as it is
_SERVER_WIDE_CODES = frozenset({500, 501, 502, 503, 504, 530, 534, 535, 538})
_SERVER_WIDE_ENHANCED = re.compile(r"^5\.[35]\.\d{1,3}\b")


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
        sender, recipient = message["From"].addresses[0], message["To"].addresses[0]
        smtp = self._connect()
        utf8 = needs_smtputf8(sender, recipient)
        if utf8 and not smtp.has_extn("smtputf8"):
            raise NotSendable(f"{recipient.addr_spec} has a non-ASCII local part, which needs SMTPUTF8, and "
                              f"{self.settings.host}:{self.settings.port} does not offer it")
        try:
            self._expect(smtp.mail(sender.addr_spec, ["SMTPUTF8"] if utf8 else []), "sender", sender.addr_spec)
            self._expect(smtp.rcpt(recipient.addr_spec), "recipient", recipient.addr_spec)
            self._expect(smtp.docmd("DATA"), "data", recipient.addr_spec, ok=354)
            body = _LEADING_DOT.sub(b"..", message.as_bytes(policy=WIRE_UTF8 if utf8 else WIRE))
            smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self._drop()
            raise TemporaryFailure(f"connection lost: {_reason(e)}") from None
        except (ValueError, UnicodeError) as e:  # smtplib refuses to write the command or the message
            self._reset()
            raise NotSendable(f"cannot write the message to {recipient.addr_spec!r}: {e}") from None
        if on_handover is not None:
            on_handover()
        try:
            smtp.send(b".\r\n")
            reply = smtp.getreply()
        except (OSError, smtplib.SMTPServerDisconnected) as e:
            self._drop()
            raise InDoubt(f"connection lost before the server answered the message: {_reason(e)}") from None
        self._expect(reply, "message", recipient.addr_spec)
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
                smtp: smtplib.SMTP = replies.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = replies.SMTP(s.host, s.port, timeout=s.timeout)
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
        reason = one_line(f"{code} {text.decode('utf-8', 'replace')}")
        if code == -1:
            self._drop()
            raise TemporaryFailure(f"connection lost at {stage}: {reason}")
        self._reset()
        if 400 <= code < 500:
            raise TemporaryFailure(f"{stage} {who} deferred: {reason}")
        if stage == "sender":
            raise SetupError(f"sender {who} refused: {reason}")
        if code in _SERVER_WIDE_CODES or _SERVER_WIDE_ENHANCED.match(text.decode("utf-8", "replace")):
            command = {"recipient": "RCPT TO", "data": "DATA"}.get(stage, "message")
            raise SetupError(f"{self.settings.host}:{self.settings.port} answered the {command} for {who} with a "
                             f"reply that is not about the recipient: {reason}")
        raise PermanentFailure(f"{stage} {who} refused: {reason}" if stage != "message" else f"refused: {reason}")

    def _reset(self) -> None:
        try:
            if self.connection is not None:
                self.connection.rset()
        except (OSError, smtplib.SMTPException):
            self._drop()

    def discard(self) -> None:
        """Drop the connection without a goodbye (its state is unknown); the next send opens a new one."""
        self._drop()

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
        self.connection = None


def _reason(error: BaseException) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error.decode("utf-8", "replace") if isinstance(error.smtp_error, bytes) else error.smtp_error
        return one_line(f"{error.smtp_code} {text}")
    return one_line(str(error)) or type(error).__name__


def one_line(text: str) -> str:
    """A server's words as one printable line: multi-line replies joined, control characters dropped."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())
