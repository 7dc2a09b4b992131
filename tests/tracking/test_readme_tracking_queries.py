"""The README's tracking queries are part of the public SQL interface: they run on both backends."""

from __future__ import annotations

from docsql import ROOT, sql_queries
from sqlalchemy.engine import Engine
from submissionfactory import result, submission

from processor.config import Settings
from processor.run.pipeline import process_message
from processor.store.inbound import Envelope, RawStore

README = ROOT / "README.md"


def test_readme_tracking_queries_run(engine: Engine) -> None:
    store = RawStore(engine)
    mails = [
        (submission(["03-5555-0101", "06-5555-0202"], "見積書 /b",
                    message_id="<20261120101000.1234@example.co.jp>"), "taro@example.co.jp"),
        (result("03-5555-0101", "3912", "FAX番号が使用不可です", subject="見積書"), ""),
        (result("03-5555-0101", "3912", "FAX番号が使用不可です", subject="見積書"), ""),
        (result("092-555-0505", "0"), ""),
    ]
    for raw, sender in mails:
        process_message(engine, store.put(raw, Envelope(sender, ("copy@faxbounce.test",))).id, Settings())
    answers: dict[str, list[tuple[object, ...]]] = {}
    with engine.connect() as connection:
        for query in sql_queries(README, "### Tracking queries", engine.dialect.name):
            answers[query.splitlines()[0]] = [tuple(r) for r in connection.exec_driver_sql(query)]
    assert len(answers) == 6
    list_send = answers["-- Every fax one mail (a list send) produced, and how sure each match is"]
    assert list_send == [("+81355550101", "failed", "invalid_number", "number_subject", "medium"),
                         ("+81655550202", "submitted", None, None, None)]
    assert answers["-- Numbers to check before the next send"][0][:3] == ("+81355550101", 2, "invalid_number")
    unmatched = answers["-- Results that matched no submission (no BCC copy seen)"]
    assert sorted(r[1] for r in unmatched) == ["+81355550101", "+81925550505"]
