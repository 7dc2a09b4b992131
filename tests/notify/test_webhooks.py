"""Webhooks over real HTTP: the outbox written with the result, signed deliveries, retries, giving up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from standardwebhooks import Webhook
from submissionfactory import result, submission
from webhookreceiver import Received, webhook_receiver

from processor.cli import main
from processor.config import DeliverySettings, Settings, TrackingSettings, WebhookSettings, load_settings
from processor.notify.dispatch import Dispatcher, retry_delay
from processor.run.pipeline import classify_bytes, process_message
from processor.store.db import create_db_engine, session_scope
from processor.store.inbound import Envelope, RawStore
from processor.store.notify import enqueue_no_result, list_deliveries, retry_deliveries
from processor.store.tracking import sweep

SECRET = "whsec_" + base64.b64encode(b"faxbounce-test-secret-0123456789").decode()


def settings_for(*urls: str, events: tuple[str, ...] = (), **delivery: float) -> Settings:
    return Settings(webhooks=tuple(WebhookSettings(url=u, secret=SECRET, events=events, timeout=2.0) for u in urls),
                    delivery=DeliverySettings(**delivery))


def store(engine: Engine, raw: bytes, settings: Settings, mail_from: str = "") -> int:
    stored = RawStore(engine).put(raw, Envelope(mail_from, ("copy@faxbounce.test",)))
    process_message(engine, stored.id, settings)
    return stored.id


def outbox(engine: Engine) -> list[sa.Row]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text("SELECT * FROM notify_outbox ORDER BY id")))


def _instant(value: object) -> object:
    if isinstance(value, str) and value[:4].isdigit() and "T" in value:
        return datetime.fromisoformat(value)
    return value


def verify_by_hand(request: Received) -> None:
    """The Standard Webhooks signature, computed from the spec's words, not with the library that signed."""
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert request.headers["webhook-signature"] == f"v1,{expected}"
    assert request.headers["content-type"] == "application/json"


def test_a_failed_fax_reaches_the_receiver_signed_with_the_classify_json_keys(engine: Engine) -> None:
    with webhook_receiver() as receiver:
        settings = settings_for(receiver.url)
        copy = submission(["06-5555-0202"], "見積書送付の件 /b")
        store(engine, copy, settings, mail_from="taro@example.co.jp")
        raw = result("06-5555-0202", "3912", "FAX番号が使用不可です", subject="見積書送付の件")
        mail_id = store(engine, raw, settings)
        rows = outbox(engine)
        assert [(r.channel, r.event_type, r.state, r.target) for r in rows] == [
            ("webhook", "fax.failed", "pending", receiver.url)]
        assert Dispatcher(settings).run_once(engine) == 1
        assert len(receiver.requests) == 1
    request = receiver.requests[0]
    verify_by_hand(request)
    document = Webhook(SECRET).verify(request.body, request.headers)  # and as a receiver would, with the library
    assert request.headers["webhook-id"] == rows[0].event_id
    assert document["type"] == "fax.failed"
    data = document["data"]
    _, classification = classify_bytes(raw, tracking=TrackingSettings())
    contract = classification.results[0].to_json()
    # Exactly the keys and values of classify --json; times are the same instants, given in UTC.
    assert {k: _instant(data[k]) for k in contract} == {k: _instant(v) for k, v in contract.items()}
    assert data["occurred_at"].endswith("+00:00")
    assert (data["mail_id"], data["state"], data["forwarded"]) == (mail_id, "failed", False)
    assert data["submission"]["mailbox"] == "taro@example.co.jp"
    assert data["submission"]["subject"] == "見積書送付の件 /b"
    assert data["number"]["verdict"] == "check" and data["number"]["national"] == "06-5555-0202"
    assert [r.state for r in outbox(engine)] == ["delivered"]


def test_retries_keep_the_id_and_the_first_comes_within_30_seconds(engine: Engine) -> None:
    with webhook_receiver(answers=[500, 503]) as receiver:
        settings = settings_for(receiver.url)
        store(engine, result("045-555-0303", "6017", "話中"), settings)
        dispatcher = Dispatcher(settings)
        before = datetime.now(UTC)
        assert dispatcher.run_once(engine) == 0
        (row,) = outbox(engine)
        assert (row.state, row.attempts) == ("pending", 1)
        assert "HTTP 500" in row.last_error
        next_at = row.next_attempt_at if isinstance(row.next_attempt_at, datetime) else datetime.fromisoformat(
            str(row.next_attempt_at))
        wait = next_at.replace(tzinfo=UTC) - before
        assert timedelta(seconds=0) < wait <= timedelta(seconds=30)
        assert dispatcher.run_once(engine) == 0  # not due yet: nothing is sent
        assert len(receiver.requests) == 1
        later = datetime.now(UTC) + timedelta(hours=1)
        assert dispatcher.run_once(engine, now=later) == 0  # 503
        assert dispatcher.run_once(engine, now=later + timedelta(hours=3)) == 1
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {row.event_id}
    for request in receiver.requests:
        verify_by_hand(request)
    assert [(r.state, r.attempts) for r in outbox(engine)] == [("delivered", 3)]


def test_backoff_doubles_up_to_the_cap() -> None:
    settings = Settings(delivery=DeliverySettings(first_retry=15, max_retry_interval=3600))
    delays = [retry_delay(settings, n, jitter=1.0).total_seconds() for n in range(1, 11)]
    assert delays == [15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert retry_delay(settings, 1).total_seconds() <= 16.5  # jitter stays within 10 %


def test_gives_up_after_the_horizon_then_retry_sends_it(engine: Engine) -> None:
    with webhook_receiver(default=500) as receiver:
        settings = settings_for(receiver.url, give_up_after=1.0, first_retry=0.01)
        store(engine, result("045-555-0303", "6017", "話中"), settings)
        dispatcher = Dispatcher(settings)
        with session_scope(engine) as session:
            session.execute(sa.text("UPDATE notify_outbox SET created_at = :t"),
                            {"t": (datetime.now(UTC) - timedelta(seconds=5)).replace(tzinfo=None)})
        assert dispatcher.run_once(engine) == 0
        (row,) = outbox(engine)
        assert (row.state, row.attempts) == ("failed", 1)
        with session_scope(engine) as session:
            assert [d.id for d in list_deliveries(session, "failed")] == [row.id]
            assert retry_deliveries(session, datetime.now(UTC), failed=True) == 1
        receiver.default = 200
        assert dispatcher.run_once(engine) == 1
    assert [r.state for r in outbox(engine)] == ["delivered"]
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_refused_slow_and_redirecting_receivers_are_failures(engine: Engine) -> None:
    with webhook_receiver() as receiver:
        dead_url = receiver.url
    with webhook_receiver(delay=3.0) as slow, webhook_receiver(default=302) as moved:
        settings = settings_for(dead_url, slow.url, moved.url)
        store(engine, result("045-555-0303", "6017", "話中"), settings)
        assert Dispatcher(settings).run_once(engine) == 0
    errors = {r.target: r.last_error for r in outbox(engine)}
    assert "refused" in errors[dead_url].lower()
    assert "timed out after 2s" in errors[slow.url]
    assert errors[moved.url].startswith("HTTP 302")
    assert {r.state for r in outbox(engine)} == {"pending"}


def test_events_are_never_invented_reprocessing_adds_nothing(engine: Engine) -> None:
    settings = settings_for("http://127.0.0.1:9/unused")
    mail_id = store(engine, result("045-555-0303", "6017", "話中"), settings)
    store(engine, b"From: a@example.com\r\nSubject: hello\r\n\r\nnot a fax\r\n", settings)  # unrelated: no event
    first = [(r.event_id, r.event_type) for r in outbox(engine)]
    assert [t for _, t in first] == ["fax.failed"]
    process_message(engine, mail_id, settings)
    process_message(engine, mail_id, settings)
    assert [(r.event_id, r.event_type) for r in outbox(engine)] == first


def test_one_fax_told_twice_is_one_event(engine: Engine) -> None:
    """A result mail and a second notification of the same transaction: one fax, one event."""
    settings = settings_for("http://127.0.0.1:9/unused")
    when = datetime.now(UTC) - timedelta(minutes=5)
    store(engine, result("045-555-0303", "3912", "FAX番号が使用不可です", transaction_id="71000001", when=when),
          settings)
    store(engine, result("045-555-0303", "3912", "FAX番号が使用不可です", transaction_id="71000001", when=when,
                         subject="再送"), settings)
    assert [r.event_type for r in outbox(engine)] == ["fax.failed"]


def test_old_results_make_no_events(engine: Engine) -> None:
    settings = settings_for("http://127.0.0.1:9/unused")
    store(engine, result("045-555-0303", "6017", "話中", when=datetime.now(UTC) - timedelta(days=10)), settings)
    assert outbox(engine) == []


def test_endpoint_event_filter_and_no_endpoints(engine: Engine) -> None:
    settings = settings_for("http://127.0.0.1:9/a", events=("fax.delivered",))
    store(engine, result("045-555-0303", "6017", "話中"), settings)
    store(engine, result("03-5555-0101", "0"), settings)
    assert [r.event_type for r in outbox(engine)] == ["fax.delivered"]
    store(engine, result("06-5555-0202", "0"), Settings())
    assert len(outbox(engine)) == 1


def test_sweep_writes_no_result_events(engine: Engine) -> None:
    settings = settings_for("http://127.0.0.1:9/unused")
    sent = datetime.now(UTC) - timedelta(minutes=30)
    store(engine, submission(["011-555-0404"], "請求書", when=sent, sender="hanako@example.co.jp"), settings)
    assert outbox(engine) == []
    later = datetime.now(UTC) + timedelta(hours=1)
    for _ in range(2):  # the second sweep finds nothing more to say
        with session_scope(engine) as session:
            sweep(session, settings.tracking, later, on_swept=lambda s, ids: enqueue_no_result(s, ids, settings))
    (row,) = outbox(engine)
    body = json.loads(row.body)
    assert (row.event_type, body["type"], body["data"]["state"]) == ("fax.no_result", "fax.no_result", "no_result")
    assert body["data"]["submission"]["mailbox"] == "hanako@example.co.jp"
    assert body["data"]["fax_number"] == "+81115550404"
    # A copy that arrives after its timeout is no_result at once, and says so too.
    store(engine, submission(["011-555-0505"], "請求書", when=datetime.now(UTC) - timedelta(hours=3)), settings)
    assert [r.event_type for r in outbox(engine)] == ["fax.no_result", "fax.no_result"]


@pytest.mark.parametrize("event", ["fax.failed"])
def test_unreachable_endpoint_does_not_block_another(engine: Engine, event: str) -> None:
    with webhook_receiver() as good:
        settings = settings_for("http://127.0.0.1:9/dead", good.url)
        for number in ("045-555-0303", "06-5555-0202", "03-5555-0101"):
            store(engine, result(number, "6017", "話中"), settings)
        assert Dispatcher(settings).run_once(engine) == 3
    assert len(good.requests) == 3
    assert all(json.loads(r.body)["type"] == event for r in good.requests)


def test_the_readme_receiver_snippet_verifies_a_real_delivery(engine: Engine) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Webhooks"):readme.index("### Mail to people")]
    snippet = next(block for block in section.split("```python\n")[1:] if "compare_digest" in block).split("```")[0]
    with webhook_receiver() as receiver:
        settings = settings_for(receiver.url)
        store(engine, result("045-555-0303", "6017", "話中"), settings)
        assert Dispatcher(settings).run_once(engine) == 1
    request = receiver.requests[0]
    exec(snippet, {"secret": SECRET, "headers": request.headers, "body": request.body})  # passes: no exception
    with pytest.raises(AssertionError):
        exec(snippet, {"secret": SECRET, "headers": request.headers, "body": request.body + b" "})


def test_webhooks_commands(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FAXBOUNCE_DATABASE_URL", db_url)
    monkeypatch.delenv("FAXBOUNCE_CONFIG", raising=False)
    assert main(["migrate"]) == 0
    assert main(["webhooks", "test"]) == 2
    assert "no [[webhooks]] endpoint is configured" in capsys.readouterr().err
    with webhook_receiver(default=500) as receiver:
        config = tmp_path / "f.toml"
        config.write_text(f'[[webhooks]]\nurl = "{receiver.url}"\nsecret = "{SECRET}"\n[delivery]\ngive_up_after = 1\n')
        assert main(["--config", str(config), "webhooks", "test"]) == 1
        assert "FAIL" in capsys.readouterr().out
        receiver.default = 204
        assert main(["--config", str(config), "webhooks", "test"]) == 0
        assert f"ok    {receiver.url}  HTTP 204" in capsys.readouterr().out
        test_event = receiver.requests[-1]
        verify_by_hand(test_event)
        assert json.loads(test_event.body)["type"] == "faxbounce.test"
        settings = load_settings(config, environ={"FAXBOUNCE_DATABASE_URL": db_url})
        engine = create_db_engine(db_url)
        store(engine, result("045-555-0303", "6017", "話中\x1b[31m"), settings)
        with session_scope(engine) as session:
            session.execute(sa.text("UPDATE notify_outbox SET created_at = :t"),
                            {"t": (datetime.now(UTC) - timedelta(seconds=5)).replace(tzinfo=None)})
        receiver.default = 500
        assert Dispatcher(settings).run_once(engine) == 0
        capsys.readouterr()
        assert main(["--config", str(config), "webhooks", "list", "--state", "failed"]) == 0
        listed = capsys.readouterr().out
        assert "failed" in listed and "fax.failed" in listed and "HTTP 500" in listed and "\x1b" not in listed
        assert main(["--config", str(config), "webhooks", "retry", "999"]) == 1
        assert main(["--config", str(config), "webhooks", "retry", "--failed"]) == 0
        receiver.default = 204
        assert Dispatcher(settings).run_once(engine) == 1
        capsys.readouterr()
        assert main(["--config", str(config), "webhooks", "list", "--json"]) == 0
        (document,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert (document["state"], document["type"], document["attempts"]) == ("delivered", "fax.failed", 2)
        engine.dispose()


def test_a_mail_of_kind_unrecognized_makes_one_event(engine: Engine) -> None:
    """The kind comes from the accuracy work (a notification no detector read); the event is keyed on the mail."""
    from processor.store.models import InboundMessage
    from processor.store.notify import enqueue_events

    settings = settings_for("http://127.0.0.1:9/unused")
    mail_id = store(engine, b"From: InterFAX <support@interfax.co.jp>\r\nSubject: FAX\r\n\r\n?\r\n", settings)
    for _ in range(2):  # the second time finds the event already written
        with session_scope(engine) as session:
            message = session.get_one(InboundMessage, mail_id)
            message.kind = "unrecognized"
            enqueue_events(session, message, settings)
    (row,) = outbox(engine)
    document = json.loads(row.body)
    assert (document["type"], document["data"]["mail_id"], document["data"]["subject"]) == (
        "fax.unrecognized", mail_id, "FAX")
