"""The new settings sections: strict keys, documented defaults, environment variables."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from processor.config import (
    AlertSettings,
    DeliverySettings,
    DisplaySettings,
    NumberSettings,
    OutboundSettings,
    load_settings,
)
from processor.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = {"delivery": DeliverySettings, "outbound": OutboundSettings, "alerts": AlertSettings,
            "numbers": NumberSettings, "display": DisplaySettings}
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _key(field: dataclasses.Field[object]) -> str:
    return str(field.metadata.get("key", field.name))


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_shipped_file_and_readme_document_every_key_with_its_default(section: str) -> None:
    shipped = tomllib.loads((ROOT / "config" / "faxbounce.toml").read_text(encoding="utf-8"))[section]
    defaults = SECTIONS[section]()
    assert set(shipped) == {_key(f) for f in dataclasses.fields(defaults)}
    for field in dataclasses.fields(defaults):
        value = shipped[_key(field)]
        assert (tuple(value) if isinstance(value, list) else value) == getattr(defaults, field.name), field.name
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in shipped:
        assert f"`{section}.{key}`" in readme, f"{section}.{key}"


def test_webhooks_tables(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(f'[[webhooks]]\nurl = "https://a.example/h"\nsecret = "{SECRET}"\n'
                    f'[[webhooks]]\nurl = "http://127.0.0.1:8080/h"\nsecret = "{SECRET}"\nevents = ["fax.failed"]\n'
                    "timeout = 3\n")
    first, second = load_settings(path, environ={}).webhooks
    assert (first.url, first.events, first.timeout) == ("https://a.example/h", (), 10.0)
    assert (second.events, second.timeout) == (("fax.failed",), 3.0)


BAD = [
    (f'[[webhooks]]\nurl = "https://a.example/h"\nsecrt = "{SECRET}"\n',
     "webhooks[0].secrt: unknown key (did you mean 'secret'?)"),
    ('[[webhooks]]\nurl = "https://a.example/h"\nsecret = "hunter2"\n', "webhooks[0].secret: must be 'whsec_'"),
    ('[[webhooks]]\nurl = "https://a.example/h"\nsecret = "whsec_AAAA"\n', "at least 24 bytes"),
    (f'[[webhooks]]\nurl = "ftp://a.example/h"\nsecret = "{SECRET}"\n', "webhooks[0].url"),
    (f'[[webhooks]]\nurl = "https://a.example/h"\nsecret = "{SECRET}"\nevents = ["fax.faild"]\n',
     "did you mean 'fax.failed'"),
    ('[webhooks]\nurl = "x"\n', "must be written as [[webhooks]] tables"),
    (f'[[webhooks]]\nurl = "https://a.example/h"\nsecret = "{SECRET}"\n' * 2, "webhooks[1].url: https://a.example/h is "
     "configured twice"),
    ('[outbound]\nrelay = "mail.example.com"\nfrom = "f@example.com"\n', "outbound.relay: must be host:port"),
    ('[outbound]\nrelay = "mail.example.com:25"\n', "outbound.from"),
    ('[outbound]\nrelay = "mail.example.com:25"\nfrom = "f@example.com"\nusername = "u"\n', "outbound.username"),
    ('[alerts]\ndigest_to = ["ops@example.com"]\n', "alerts.digest_to: faxbounce needs a relay"),
    ('[alerts]\ndigest_at = "8:30pm"\n', "alerts.digest_at"),
    ('[alerts]\nlang = "fr"\n', "alerts.lang"),
    ('[numbers]\nstop_after = 1\ncheck_after = 2\n', "numbers.stop_after"),
    ('[numbers]\ndecay_dayz = 3\n', "did you mean 'decay_days'"),
    ('[display]\ntimezone = "Tokyo"\n', "display.timezone"),
    ('[delivery]\nfirst_retry = 0\n', "delivery.first_retry"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_wrong_settings_name_themselves(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "f.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(path, environ={})


def test_environment() -> None:
    settings = load_settings(environ={
        "FAXBOUNCE_OUTBOUND_RELAY": "[::1]:2525", "FAXBOUNCE_OUTBOUND_FROM": "f@x.example",
        "FAXBOUNCE_ALERTS_DIGEST_TO": "ops@x.example, boss@x.example", "FAXBOUNCE_DISPLAY_TIMEZONE": "UTC"})
    assert (settings.outbound.relay, settings.outbound.sender) == ("[::1]:2525", "f@x.example")
    assert settings.alerts.digest_to == ("ops@x.example", "boss@x.example")
    assert settings.display.timezone == "UTC"
