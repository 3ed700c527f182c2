"""Compose one digest email: multipart/alternative (plain text, then HTML with its chart as a related image).

Headers follow what mail clients and list tools expect: UTF-8 encoded words for Chinese subjects and names,
a Message-ID that is the same for the same (digest, period, subscriber), List-Id, and List-Unsubscribe with
List-Unsubscribe-Post for one-click unsubscribing (RFC 8058).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

CHART_CID = "chart@policywatch"


def message_id(digest: str, period: str, subscriber_id: int, email: str, domain: str) -> str:
    """Stable per delivery, so a client that ever sees it twice can tell it is the same message."""
    key = hashlib.sha256(f"{digest}\n{period}\n{subscriber_id}\n{email.lower()}".encode()).hexdigest()[:20]
    return f"<{digest}.{period}.{key}@{domain}>"


def unsubscribe_links(sender: Address, token: str, url_template: str) -> list[str]:
    """The one-click https link (when configured), then a mailto: whose subject carries the token."""
    links = [url_template.replace("{token}", token)] if url_template else []
    return [*links, f"mailto:{sender.addr_spec}?subject={quote('unsubscribe ' + token)}"]


def compose(
    *, subject: str, sender: Address, to: Address, text: str, html: str, chart: bytes | None,
    message_id: str, list_id: str, unsubscribe: list[str], date: datetime,
) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = to
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message["List-Id"] = list_id
    message["List-Unsubscribe"] = ", ".join(f"<{link}>" for link in unsubscribe)
    if unsubscribe[0].startswith(("https://", "http://")):
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8")
    message.add_alternative(html, subtype="html", charset="utf-8")
    if chart is not None:
        html_part = message.get_payload()[1]
        html_part.add_related(chart, "image", "png", cid=f"<{CHART_CID}>", filename="chart.png",
                              disposition="inline")
    return message
