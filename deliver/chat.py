"""One post to one chat group or webhook (an Apprise URL), and exactly how it ended.

``post`` sorts every outcome into three, as :mod:`policywatch.deliver.smtp` does for mail:

- *sent*: the service answered that it took the message.
- *failed*: nothing was delivered, so the post can be made again: the URL is not usable, no connection could be
  made (refused, no such host, a TLS failure, a connect timeout), or the service answered with an error.
- *in doubt*: the request may have reached the service and its answer was lost: the read timed out, the
  connection was dropped or reset after it was made, or the answer was too long or too slow to read
  (:mod:`policywatch.deliver.answers`). Like a mail cut off after its handover, the group most
  likely has it, so it is not posted again unless the operator asks.

Apprise reports a post as a bare success or failure; which failure it was is read from its log lines for that
one post (:mod:`policywatch.core.apprise_log`), and anything quoted from them has the URL's secrets taken out
(:func:`policywatch.core.notifyurl.redact`). The plugin is called directly, in this thread, so Apprise adds no retry
of its own: a retry after a read timeout would be a second post.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from policywatch.core import apprise_log, notifyurl
from policywatch.deliver.smtp import one_line

BUDGET = 3500  # bytes of title and text a post may take, below every service's own limit (Telegram: 4096)
_NOT_DELIVERED = re.compile(
    r"Failed to establish a new connection|Connection refused|NameResolution|Name or service not known|"
    r"nodename nor servname|getaddrinfo|No route to host|Network is unreachable|ConnectTimeout|connect timeout|"
    r"SSLError|SSL:|CERTIFICATE_VERIFY_FAILED|InvalidURL|MissingSchema", re.I)
_IN_DOUBT = re.compile(
    r"Read timed out|read timeout|RemoteDisconnected|Connection aborted|Connection reset|ChunkedEncodingError|"
    r"IncompleteRead|ProtocolError|timed out|answer not read", re.I)
_SERVICE_BYTES = {"wecombot": 2048}  # a WeCom group bot's text message: at most 2,048 bytes
_REASON_CHARS = 300
_WRAPPERS = (re.compile(r".*\(Caused by \w+\("), re.compile(r"\W*\w*HTTPS?Connection(?:Pool)?\([^)]*\):\s*"),
             re.compile(r"^[\"']?<[^>]*>:\s*"))


@dataclass(frozen=True)
class Outcome:
    status: str  # "sent", "failed" or "in doubt"
    reason: str = ""  # one line, with the URL's secrets taken out


def limit(url: str) -> int:
    """The bytes a post to ``url`` may take: :data:`BUDGET`, or less where the service takes less (what Apprise
    says of it, and what the service's own documentation says where older Apprise versions said more)."""
    plugin = notifyurl.instantiate(url)
    service = getattr(plugin, "body_maxlen", 0) or 0
    protocols = getattr(plugin, "secure_protocol", None) or ()
    known = [_SERVICE_BYTES[p] for p in ((protocols,) if isinstance(protocols, str) else protocols)
             if p in _SERVICE_BYTES]
    return min([BUDGET, *known, *([service] if service > 0 else [])])


def post(url: str, title: str, text: str) -> Outcome:
    """Post ``title`` and ``text`` (Markdown) to ``url``; see the module docstring for the outcomes."""
    from policywatch.deliver import answers  # requests, loaded as Apprise is: only when something is posted

    plugin = notifyurl.instantiate(url)
    if plugin is None:
        return Outcome("failed", f"{notifyurl.shown(url)}: {notifyurl.problem(url) or 'Apprise cannot use it'}")
    # A URL that gives a slow service longer to answer (its rto) gets as long to read the answer, twice over.
    seconds = max(answers.ANSWER_SECONDS, 2 * float(getattr(plugin, "socket_read_timeout", 0) or 0))
    with apprise_log.capture() as lines, answers.capped(seconds=seconds):
        try:
            sent = plugin.notify(body=text, title=title, body_format=notifyurl.apprise().NotifyFormat.MARKDOWN)
        except Exception as e:  # a plugin's own bug: where it stopped is unknown
            reason = f"{type(e).__name__}: {e}"
            return Outcome("in doubt", _quoted(reason, url))
    if sent:
        return Outcome("sent")
    # Judged on Apprise's warnings and the connection errors only: its debug lines quote the post itself, whose
    # scraped titles could say "Connection refused" or "Read timed out".
    warnings = [message for level, message in lines if level >= logging.WARNING]
    errors = [message.removeprefix("Socket Exception: ") for level, message in lines
              if level < logging.WARNING and message.startswith("Socket Exception")]
    said = "\n".join([*warnings, *errors])
    reason = _quoted("; ".join([*warnings[:2], *map(_innermost, errors[:1])]) or
                     "the service did not take the message", url)
    if _NOT_DELIVERED.search(said):
        return Outcome("failed", reason)
    if _IN_DOUBT.search(said):
        return Outcome("in doubt", reason)
    return Outcome("failed", reason)  # the service answered with an error, or the plugin refused to send


def _innermost(error: str) -> str:
    """What a requests error says, without its wrapping: "Failed to establish a new connection: [Errno 111]
    Connection refused" out of "HTTPConnectionPool(…): Max retries exceeded with url: … (Caused by …("…"))"."""
    for wrapper in _WRAPPERS:
        error = wrapper.sub("", error)
    while error.endswith((")", '"', "'")) and error.count("(") < error.count(")") + error.endswith(("'", '"')):
        error = error[:-1]
    return error


def _quoted(text: str, url: str) -> str:
    """A library's words as one short line that holds none of the URL's secrets."""
    line = one_line(notifyurl.redact(text, url))
    return line if len(line) <= _REASON_CHARS else line[:_REASON_CHARS - 1] + "…"
