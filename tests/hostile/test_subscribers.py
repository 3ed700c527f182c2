"""A subscriber who means harm, or an operator who slips: names that smuggle headers, addresses that cannot
be written, rows edited straight into state.db. Each is refused at the door, or fails alone at send time;
no one bad subscription ever stops the others."""

from __future__ import annotations

import json
import sqlite3

import pytest

from policywatch.core.store import Store
from tests.conftest import source_toml
from tests.mailserver import Mailbox, MailServer, free_port
from tests.test_delivery import cli, deliveries, mail_config, send, smtp_toml, subscribe  # noqa: F401 - a fixture
from tests.test_digest import CELL_TOPIC, digest_toml, with_digests


@pytest.fixture
def db_target(tmp_path):
    """state.db only: these tests write rows straight into the SQLite file, as an old release or a hand edit would."""
    return tmp_path / "state.db"

INJECTED = "Evil\r\nBcc: victim@example.org"


@pytest.fixture
def plain_config(write_config):
    """A config with a monthly digest and [smtp], and an empty state.db: enough for the subscriber commands."""
    base = write_config(source_toml("cell", "http://127.0.0.1:9/index.html"))
    config = with_digests(base, CELL_TOPIC, digest_toml("monthly"), smtp_toml(free_port()))
    with Store(config.db):
        pass
    return config


def listed(config) -> list[dict]:
    return json.loads(cli(config, "subscribers", "list", "--json").stdout)


def assert_one_line_refusal(result, *parts: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1 and "\r" not in result.stderr, result.stderr
    for part in parts:
        assert part in result.stderr, result.stderr


@pytest.mark.parametrize(("name", "what"), [
    (INJECTED, "line break (U+000D)"),
    ("Evil\nBcc: victim@example.org", "line break (U+000A)"),
    ("Evil\x0bBcc: victim@example.org", "line break (U+000B)"),
    ("Evil\x85Bcc: victim@example.org", "line break (U+0085)"),  # C1 next-line
    ("Evil\u2028Bcc: victim@example.org", "line break (U+2028)"),
    ("\x1b[31mRed\x1b[0m", "control character (U+001B)"),  # a terminal escape
    ("Del\x7f", "control character (U+007F)"),
    ("gro\u202eputnI", "control character (U+202E)"),  # right-to-left override
    ("名" * 101, "101 characters long (at most 100)"),
])
def test_a_name_that_is_not_one_line_of_text_is_refused_on_the_command_line(plain_config, name, what):
    result = cli(plain_config, "subscribers", "add", "x@example.org", "--digest", "monthly", "--name", name,
                 check=False)
    assert_one_line_refusal(result, "name ", what)
    assert listed(plain_config) == []


def test_ordinary_names_and_idn_addresses_are_accepted_and_stored_normalised(plain_config):
    cli(plain_config, "subscribers", "add", "li@example.org", "--digest", "monthly", "--name", '李雷 "<研究部>", 上海')
    cli(plain_config, "subscribers", "add", "用户@例子.中国", "--digest", "monthly", "--name", "  用户  ")
    cli(plain_config, "subscribers", "add", "User@例子.中国", "--digest", "monthly")
    cli(plain_config, "subscribers", "add", "markup@example.org", "--digest", "monthly", "--name", "[/red] [b]X")
    assert [(s["email"], s["name"]) for s in listed(plain_config)] == [
        ("li@example.org", '李雷 "<研究部>", 上海'), ("用户@例子.中国", "用户"), ("User@例子.中国", None),
        ("markup@example.org", "[/red] [b]X")]
    table = cli(plain_config, "subscribers", "list").stdout
    assert "[/red] [b]X" in table  # shown as written: a name is never terminal markup


@pytest.mark.parametrize(("address", "what"), [
    ("x@example.org\r\nBcc: victim@example.org", "invalid characters"),
    ("Evil <x@example.org>", "display name"),
    ('"a b"@example.org', "Quoting"),
    ("x@[127.0.0.1]", "bracketed IP"),
    ("x@exa mple.org", "invalid characters"),
])
def test_an_address_that_cannot_be_written_into_a_message_is_refused(plain_config, address, what):
    result = cli(plain_config, "subscribers", "add", address, "--digest", "monthly", check=False)
    assert_one_line_refusal(result, "is not a valid email address", what)
    assert listed(plain_config) == []


@pytest.mark.parametrize(("rows", "where", "what"), [
    # A quoted name over two lines: row 3 of the sheet, starting on line 3 of the file.
    ('ok@example.org,好\n"bad@example.org","Evil\r\nBcc: victim@example.org"\nlast@example.org,后\n',
     "people.csv:3: row 3: name ", "line break (U+000D)"),
    # After a row whose quoted address cell spans two lines, the bad row starts on line 4 but is row 3.
    ('"ok@example.org\n",好\nbad@example.org,"a\x00b"\n', "people.csv:4: row 3: name ",
     "control character (U+0000)"),
    ('ok@example.org,好\n"bad@example.org\r\nBcc: victim@example.org",坏\n', "people.csv:3: row 3: ",
     "is not a valid email address"),
])
def test_one_bad_row_in_a_csv_imports_nothing_and_names_the_row_and_field(plain_config, tmp_path, rows, where, what):
    csv = tmp_path / "people.csv"
    csv.write_bytes(("email,name\n" + rows).encode("utf-8"))
    result = cli(plain_config, "subscribers", "import", str(csv), "--digest", "monthly", check=False)
    assert_one_line_refusal(result, where, what)
    assert listed(plain_config) == []


def test_rows_written_straight_into_state_db_fail_alone_and_the_others_get_their_mail(mail_config):  # noqa: F811 - the fixture imported above
    """An old state.db, or one edited by hand: each bad row is logged failed with its reason, nobody is marked
    bouncing, no header is smuggled into anyone's message, and everyone else gets exactly one copy."""
    with MailServer(Mailbox()) as server:
        config = mail_config(server.port)
        people = subscribe(config, 3)
        bad = {  # (email, name, language, topics, regions) → what the send log must say
            ("evil@example.org", INJECTED, None, None, None): "line break (U+000D)",
            ("x@example.org\r\nBcc: victim@example.org", None, None, None, None): "not a valid email address",
            ("escape@example.org", "\x1b]0;owned\x07", None, None, None): "control character (U+001B)",
            (b"blob@example.org", None, None, None, None): "not text",  # a BLOB, not TEXT
            ("lang@example.org", None, "klingon", None, None): "language 'klingon'",
            ("topics@example.org", None, None, "{not json", None): "not a JSON list",
            ("regions@example.org", None, None, None, "[1, 2]"): "not a JSON list",
        }
        with sqlite3.connect(config.db) as db:
            for email, name, language, topics, regions in bad:
                cursor = db.execute("INSERT INTO subscribers (email, name, language, status, created_at) "
                                    "VALUES (?, ?, ?, 'active', '2023-01-01')", [email, name, language])
                db.execute("INSERT INTO subscriptions (subscriber_id, digest, topics, regions) VALUES (?, ?, ?, ?)",
                           [cursor.lastrowid, "monthly", topics, regions])
        db.close()

        first = send(config, check=False)
        again = send(config, check=False)
        received, asked = server.mailbox.received_by(), set(server.mailbox.asked)

    assert received == {p: 1 for p in people}
    assert asked == set(people)  # no bad address ever reached the server, not even as an RCPT
    assert all(m["Bcc"] is None and m["To"].addresses[0].addr_spec in people for m in server.mailbox.messages)
    assert first.returncode == 1 and again.returncode == 1  # someone is left to fix, and it says so
    assert f"3 sent, 0 already sent, {len(bad)} failed, 0 deferred" in first.stdout
    assert f"0 sent, 3 already sent, {len(bad)} failed, 0 deferred" in again.stdout
    assert not any(line.startswith("Bcc") for line in first.stdout.splitlines() + first.stderr.splitlines())
    log = deliveries(config)
    for (email, *_), reason in bad.items():
        row = log[str(email)]
        assert row["status"] == "failed" and "stored subscriber cannot be mailed" in row["error"], row
        assert reason in row["error"], row["error"]
    with Store(config.db) as store:
        assert {s["status"] for s in store.subscribers()} == {"active"}  # nobody is marked bouncing
    table = cli(config, "subscribers", "list").stdout
    assert "\r" not in table and "\x1b" not in table and "\\x1b]0;owned" in table  # shown, escaped
