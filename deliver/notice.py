"""One-off mails to one address (the subscription page's confirmation links), through :mod:`policywatch.deliver.smtp`.

Unlike a digest, such a mail has no send log: whoever asked for it can ask again. Temporary failures are retried
as the [smtp] table says (``max_attempts``, ``retry_delay`` doubled each time); any other failure is raised at once.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING

from policywatch.core.addresses import header_address, parse_mailbox
from policywatch.deliver.smtp import Mailer, TemporaryFailure

if TYPE_CHECKING:
    from collections.abc import Callable
    from zoneinfo import ZoneInfo

    from policywatch.core.config import SmtpSettings


def compose_notice(smtp: SmtpSettings, to: str, name: str | None, subject: str, text: str,
                   zone: ZoneInfo) -> EmailMessage:
    """A plain-text mail from the configured sender; the address and name are checked as every header's are."""
    sender = parse_mailbox(smtp.sender)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = header_address(to, name)
    message["Date"] = format_datetime(datetime.now(UTC).astimezone(zone))
    message["Message-ID"] = make_msgid(domain=sender.domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, charset="utf-8")
    return message


def send_notice(smtp: SmtpSettings, message: EmailMessage, sleep: Callable[[float], object] = time.sleep) -> None:
    """Send one message, retrying temporary failures; raises the last failure (policywatch.deliver.smtp's
    exceptions)."""
    with Mailer(smtp) as mailer:
        for attempt in range(smtp.max_attempts):
            try:
                mailer.send(message)
                return
            except TemporaryFailure:
                if attempt + 1 == smtp.max_attempts:
                    raise
                sleep(smtp.retry_delay * 2 ** attempt)
