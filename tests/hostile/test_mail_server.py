"""A mail server that is misconfigured, hostile or old: it refuses one recipient, refuses everyone, refuses us,
answers in several lines with markup in them, or lacks SMTPUTF8. Only a refusal that is shown to be about its
recipient marks a subscriber bouncing; a server that refuses everyone marks nobody and fails the run loudly,
and a later run with the server fixed delivers to everyone exactly once."""

from __future__ import annotations

from email import message_from_string, policy

import pytest
from aiosmtpd.controller import Controller

from policywatch.core.store import Store
from policywatch.deliver.send import REFUSALS_BEFORE_STOP
from tests.mailserver import Mailbox, MailServer
from tests.test_delivery import cli, deliveries, mail_config, send, subscribe  # noqa: F401 - a fixture

IDN_DOMAIN = "xn--fsqu00a.xn--fiqs8s"  # 例子.中国


class ScriptedMailbox(Mailbox):
    """A Mailbox that can refuse MAIL FROM or every message after its DATA, and keeps each envelope."""

    def __init__(self, *args, mail_reply: str | None = None, data_reply: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.mail_reply, self.data_reply = mail_reply, data_reply
        self.envelopes: list[tuple[bool, list[str], bytes]] = []  # (SMTPUTF8 asked, RCPT TOs, raw message)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply is not None:
            return self.data_reply
        self.envelopes.append((envelope.smtp_utf8, list(envelope.rcpt_tos), envelope.original_content))
        return await super().handle_DATA(server, session, envelope)


class OldMailServer(MailServer):
    """A server that does not offer SMTPUTF8."""

    def start(self) -> OldMailServer:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, enable_SMTPUTF8=False)
        self.controller.start()
        return self


def statuses(config) -> dict[str, str]:
    """Each subscriber's status, read from the store (what `subscribers list` shows)."""
    with Store(config.db) as store:
        return {s["email"]: s["status"] for s in store.subscribers()}


def error_line(result) -> str:
    """The one-line error a failed run ends with (progress lines come before it on stderr)."""
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    return last


def test_a_550_for_one_recipient_marks_only_that_one_and_the_others_get_their_mail(mail_config):  # noqa: F811 - the fixture imported above
    """The refused subscriber is first in line: held until the server accepts the next message, then marked.
    The server's reply comes in two lines with markup in it, and is shown as one line, as it was written."""
    def refuse(address: str, attempt: int) -> str | None:
        if address == "reader00@example.org":
            return "550-5.1.1 <reader00@example.org>: [bold]no such user[/bold]\r\n550 5.1.1 mailbox unavailable"
        return None

    with MailServer(Mailbox(refuse)) as server:
        config = mail_config(server.port)
        people = subscribe(config, 3)
        first = send(config)
        again = send(config)
        received = server.mailbox.received_by()

    assert received == {p: 1 for p in people[1:]}
    assert "2 sent, 0 already sent, 1 failed, 0 deferred, 0 in doubt, 0 skipped" in first.stdout
    [line] = [line for line in first.stdout.splitlines() if "reader00" in line]
    assert "[bold]no such user[/bold] 5.1.1 mailbox unavailable (marked bouncing)" in line
    assert statuses(config) == {people[0]: "bouncing"} | {p: "active" for p in people[1:]}
    # The next run skips the bouncing subscriber, and says so.
    assert "0 sent, 2 already sent, 0 failed, 0 deferred, 0 in doubt, 1 skipped (bouncing" in again.stdout


def test_a_server_refusing_every_recipient_marks_nobody_stops_and_a_fixed_server_then_delivers_once(mail_config):  # noqa: F811 - the fixture imported above
    broken = True

    def refuse(address: str, attempt: int) -> str | None:
        return f"554 5.7.1 <{address}>: Relay access denied" if broken else None

    count = REFUSALS_BEFORE_STOP + 2
    with MailServer(Mailbox(refuse)) as server:
        config = mail_config(server.port)
        people = subscribe(config, count)
        refused = send(config, check=False)
        assert len(server.mailbox.asked) == REFUSALS_BEFORE_STOP  # it stopped there: the rest were never asked
        assert server.mailbox.messages == []

    assert f"0 sent, 0 already sent, {REFUSALS_BEFORE_STOP} failed, 0 deferred" in refused.stdout
    assert "2 not tried" in refused.stdout
    assert f"refused the first {REFUSALS_BEFORE_STOP} recipients with the same reply" in error_line(refused)
    assert "nobody was marked bouncing" in error_line(refused)
    assert set(statuses(config).values()) == {"active"}
    log = deliveries(config)
    assert len(log) == REFUSALS_BEFORE_STOP and {row["status"] for row in log.values()} == {"failed"}

    broken = False
    mailbox = Mailbox(refuse)
    with MailServer(mailbox, server.port):
        fixed = send(config)
        assert "already sent" in send(config).stdout
    assert f"{count} sent, 0 already sent, 0 failed" in fixed.stdout
    assert mailbox.received_by() == {p: 1 for p in people}
    assert list(mailbox.asked)[:2] == people[-2:]  # the untried go first, those refused last time last
    assert set(statuses(config).values()) == {"active"}


@pytest.mark.parametrize(("stage", "reply", "says"), [
    ("mail", "500 5.5.1 Error: command not recognized", "sender digest@example.org refused: 500"),
    ("mail", "553 5.7.1 <digest@example.org>: Sender address rejected: not owned by user", "sender "),
    ("rcpt", "500 5.5.2 Error: bad syntax", "not about the recipient: 500 5.5.2"),
    ("rcpt", "530 5.7.0 Authentication required", "not about the recipient: 530"),
    ("data", "554 5.3.0 Mail system misconfigured", "not about the recipient: 554 5.3.0"),
    ("data", "554 Transaction failed", "no message was accepted and 3 recipient(s) were refused"),
])
def test_a_server_side_refusal_marks_nobody_fails_the_run_and_a_fixed_server_delivers_once(
    mail_config, stage, reply, says,  # noqa: F811 - the fixture imported above
):
    mailbox = ScriptedMailbox(lambda address, attempt: reply if stage == "rcpt" else None,
                              mail_reply=reply if stage == "mail" else None,
                              data_reply=reply if stage == "data" else None)
    with MailServer(mailbox) as server:
        config = mail_config(server.port)
        people = subscribe(config, 3)
        result = send(config, check=False)
        assert mailbox.messages == []
        if stage != "data":  # refused before any message: the run stopped at the first recipient
            assert sum(mailbox.asked.values()) <= 1

        assert "0 sent, 0 already sent" in result.stdout
        line = error_line(result)
        assert says in line and "nobody was marked" in line
        assert set(statuses(config).values()) == {"active"}

        mailbox.refuse = lambda address, attempt: None
        mailbox.mail_reply = mailbox.data_reply = None
        fixed = send(config)
        assert "3 sent, 0 already sent, 0 failed" in fixed.stdout
        assert "0 sent, 3 already sent" in send(config).stdout
    assert mailbox.received_by() == {p: 1 for p in people}


def test_idn_addresses_go_as_punycode_and_a_non_ascii_local_part_waits_for_a_server_with_smtputf8(mail_config):  # noqa: F811 - the fixture imported above
    """user@例子.中国 travels over any server as user@xn--…; 用户@例子.中国 needs SMTPUTF8. Without it that one
    delivery fails with the reason, nobody is marked, the others get their mail; with it, it goes out."""
    old = ScriptedMailbox()
    with OldMailServer(old) as server:
        config = mail_config(server.port)
        cli(config, "subscribers", "add", "用户@例子.中国", "--digest", "monthly", "--name", "用户")
        cli(config, "subscribers", "add", "user@例子.中国", "--digest", "monthly", "--name", "王 <五>")
        cli(config, "subscribers", "add", "li@example.org", "--digest", "monthly")
        without = send(config, check=False)

    assert without.returncode == 1  # one subscriber is left to send to
    assert "2 sent, 0 already sent, 1 failed, 0 deferred" in without.stdout
    [line] = [line for line in without.stdout.splitlines() if "用户@" in line]
    assert "needs SMTPUTF8" in line and "does not offer it" in line and "nobody marked" in line
    assert [(utf8, rcpts) for utf8, rcpts, _ in old.envelopes] == [
        (False, [f"user@{IDN_DOMAIN}"]), (False, ["li@example.org"])]
    raw = old.envelopes[0][2]
    assert raw.isascii() and f"<user@{IDN_DOMAIN}>" in raw.decode("ascii")  # the header is ASCII too
    assert deliveries(config)["用户@例子.中国"]["status"] == "failed"
    assert set(statuses(config).values()) == {"active"}

    current = ScriptedMailbox()
    with MailServer(current, server.port):
        with_utf8 = send(config)
    assert "1 sent, 2 already sent, 0 failed" in with_utf8.stdout
    [(utf8, rcpts, raw)] = current.envelopes
    assert utf8 and rcpts == [f"用户@{IDN_DOMAIN}"]
    message = message_from_string(raw.decode("utf-8"), policy=policy.default)
    assert message["To"].addresses[0].addr_spec == f"用户@{IDN_DOMAIN}"
    assert message["To"].addresses[0].display_name == "用户"
