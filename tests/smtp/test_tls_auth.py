"""STARTTLS and AUTH for exposed deployments: AUTH only after TLS, hashed credentials, plaintext refusable."""

from __future__ import annotations

import smtplib
import socket
import ssl
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from processor.config import Settings, SmtpSettings
from processor.receive.auth import CredentialAuthenticator, hash_password, verify_password
from processor.receive.smtp import FaxbounceSMTP, GroupCommitter, SinkHandler
from processor.run.daemon import tls_context
from processor.store.db import create_db_engine, migrate
from processor.store.inbound import RawStore

MAIL = b"Subject: t\r\n\r\nbody\r\n"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return str(cert), str(key)


class _Controller(Controller):
    def __init__(self, handler: SinkHandler, **smtp_kwargs: object) -> None:
        self.smtp_kwargs = smtp_kwargs
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        super().__init__(handler, hostname="127.0.0.1", port=port)

    def factory(self) -> FaxbounceSMTP:
        return FaxbounceSMTP(self.handler, hostname="localhost", **self.smtp_kwargs)


@pytest.fixture
def server(tmp_path: Path, certificate: tuple[str, str], request: pytest.FixtureRequest) -> Iterator[_Controller]:
    cert, key = certificate
    settings = Settings(smtp=SmtpSettings(tls_cert=cert, tls_key=key))
    options = dict(tls_context=tls_context(settings), **request.param)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'tls.sqlite3'}")  # the SMTP layer, not storage, is tested
    migrate(engine)
    with ThreadPoolExecutor(2) as executor:
        controller = _Controller(SinkHandler(GroupCommitter(RawStore(engine), executor)), **options)
        controller.start()
        try:
            yield controller
        finally:
            controller.stop()


def _client(controller: _Controller) -> smtplib.SMTP:
    return smtplib.SMTP(controller.hostname, controller.port, timeout=10)


def _insecure() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def test_password_hashes() -> None:
    hashed = hash_password("s3cret")
    assert hashed.startswith("scrypt$") and "s3cret" not in hashed
    assert verify_password(b"s3cret", hashed)
    assert not verify_password(b"wrong", hashed)
    assert not verify_password(b"s3cret", "scrypt$garbage")


AUTH = {"auth_required": True, "auth_require_tls": True,
        "authenticator": CredentialAuthenticator([f"fax:{hash_password('s3cret')}"])}


@pytest.mark.parametrize("server", [AUTH], indirect=True)
def test_auth_only_after_starttls_and_with_the_right_password(server: _Controller) -> None:
    with _client(server) as client:
        client.ehlo()
        assert not client.has_extn("auth")  # never offered in clear text
        assert client.mail("a@example.com")[0] == 530
        client.starttls(context=_insecure())
        client.ehlo()
        assert client.has_extn("auth")
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login("fax", "wrong")
        client.login("fax", "s3cret")
        assert client.sendmail("a@example.com", ["b@example.com"], MAIL) == {}


@pytest.mark.parametrize("server", [{"require_starttls": True}], indirect=True)
def test_require_tls_refuses_plaintext_mail(server: _Controller) -> None:
    with _client(server) as client:
        client.ehlo()
        assert client.mail("a@example.com")[0] == 530
        client.starttls(context=_insecure())
        client.ehlo()
        assert client.sendmail("a@example.com", ["b@example.com"], MAIL) == {}


def test_tls_settings_are_checked(tmp_path: Path) -> None:
    from processor.config import load_settings
    from processor.errors import ConfigError

    with pytest.raises(ConfigError, match=r"smtp\.tls_cert"):
        load_settings(environ={"FAXBOUNCE_SMTP_TLS_CERT": str(tmp_path / "missing.pem"),
                               "FAXBOUNCE_SMTP_TLS_KEY": str(tmp_path / "missing.key")})
    with pytest.raises(ConfigError, match=r"smtp\.auth_users"):
        load_settings(environ={"FAXBOUNCE_SMTP_AUTH_USERS": "fax:plaintext"})
    with pytest.raises(ConfigError, match=r"smtp\.require_tls"):
        load_settings(environ={"FAXBOUNCE_SMTP_REQUIRE_TLS": "true"})
