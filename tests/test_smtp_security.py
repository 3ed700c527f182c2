"""STARTTLS and SMTPS with a login, against aiosmtpd on 127.0.0.1 with a certificate made for the test."""

from __future__ import annotations

import ssl

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.mailserver import Mailbox, MailServer
from tests.test_delivery import deliveries, mail_config, send, subscribe  # noqa: F401 - mail_config is a fixture
from tests.tlscert import make_certificate

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (certificate file, key file)."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"digest", PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers a failure with 535


# On implicit TLS the transport is already encrypted; aiosmtpd's warning about AUTH without STARTTLS is moot.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_secure_transport_with_a_login_from_the_environment(security, mail_config, certificate, monkeypatch):  # noqa: F811
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    # aiosmtpd offers AUTH on implicit TLS only when told the transport is already secure.
    options = {"tls_context": context, "require_starttls": True} if security == "starttls" else {
        "ssl_context": context, "auth_require_tls": False}
    options |= {"authenticator": check_login, "auth_required": True}
    monkeypatch.setenv("POLICYWATCH_SMTP_PASSWORD", PASSWORD)
    with MailServer(Mailbox(), **options) as server:
        config = mail_config(server.port, security=security, username="digest", max_attempts=1)
        people = subscribe(config, 2)
        untrusted = send(config, check=False)  # the test's certificate is not trusted yet
        assert untrusted.returncode == 1 and untrusted.stderr.count("\n") == 1
        assert "certificate verify failed" in untrusted.stderr

    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])  # now it is
    mailbox = Mailbox()
    with MailServer(mailbox, **options) as server:
        config = mail_config(server.port, security=security, username="digest", max_attempts=1)
        monkeypatch.setenv("POLICYWATCH_SMTP_PASSWORD", "wrong")
        refused = send(config, check=False)
        assert refused.returncode == 1 and "SMTP login as 'digest' refused: 535" in refused.stderr
        monkeypatch.delenv("POLICYWATCH_SMTP_PASSWORD")
        unset = send(config, check=False)
        assert "POLICYWATCH_SMTP_PASSWORD is not set" in unset.stderr
        # None of that is the subscribers' fault: nobody is marked, and the real send reaches everyone.
        assert {row["status"] for row in deliveries(config).values()} == {"deferred"}

        monkeypatch.setenv("POLICYWATCH_SMTP_PASSWORD", PASSWORD)
        assert "2 sent" in send(config).stdout
    assert mailbox.received_by() == {p: 1 for p in people}
