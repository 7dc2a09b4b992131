"""The real daemon: a failed fax received over SMTP reaches a webhook receiver over HTTP, and is counted."""

from __future__ import annotations

import json
from pathlib import Path

from daemonctl import metric, start_daemon, wait_until
from sqlalchemy.engine import Engine
from submissionfactory import result
from webhookreceiver import webhook_receiver

from processor.config import load_settings

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_daemon_delivers_webhooks_and_counts_them(engine: Engine, db_url: str, tmp_path: Path) -> None:
    with webhook_receiver(answers=[500]) as receiver:
        config = tmp_path / "faxbounce.toml"
        config.write_text(f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n\n'
                          "[delivery]\ninterval = 0.2\nfirst_retry = 0.5\n", encoding="utf-8")
        assert load_settings(config, environ={}).webhooks[0].url == receiver.url
        daemon = start_daemon(db_url, tmp_path, ("--config", str(config)))
        try:
            code, reply = daemon.send(result("06-5555-0202", "3912", "FAX番号が使用不可です"))
            assert code == 250, reply
            assert wait_until(lambda: len(receiver.requests) >= 2, 30), daemon.log.read_text()
            text = wait_until(lambda: (m := daemon.metrics()) and metric(
                m, "faxbounce_notify_deliveries", channel="webhook", state="delivered") == 1 and m, 10)
            assert text, daemon.metrics()
            assert metric(text, "faxbounce_notify_deliveries", channel="webhook", state="failed") == 0
        finally:
            assert daemon.stop() == 0, daemon.log.read_text()
    first, second = receiver.requests[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]  # the retry after the 500
    assert json.loads(second.body)["data"]["fax_number"] == "+81655550202"
