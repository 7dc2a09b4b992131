"""MAIL FROM and RCPT TO paths: the fast reading of plain `<local@domain>` gives what aiosmtpd's parser gives."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from processor.receive.smtp import FaxbounceSMTP


def _session(local_part_limit: int = 0) -> FaxbounceSMTP:
    # Only `local_part_limit` is read by either method; a session without a connection is enough.
    protocol = FaxbounceSMTP.__new__(FaxbounceSMTP)
    protocol.local_part_limit = local_part_limit
    return protocol


def _outcome(method: Callable[[str], object], arg: str) -> object:
    try:
        return method(arg)
    except Exception as exc:  # noqa: BLE001 - the stdlib's parser fails on some inputs ("1@[>"): so must we
        return type(exc)


def _both(arg: str, local_part_limit: int = 0) -> tuple[object, object]:
    protocol = _session(local_part_limit)
    return _outcome(protocol._getaddr, arg), _outcome(lambda text: SMTP._getaddr(protocol, text), arg)


PATHS = [
    "<noreply@fax.tc>", "<noreply@fax.tc> SIZE=2048", "<noreply@fax.tc>  SIZE=1 BODY=8BITMIME",
    "<a.b+tag@x-y.example.co.jp>", "<A!#$%&'*+/=?^_`{|}~-z@EXAMPLE.JP>", "<a@b>\tSIZE=1",
    "<a@b> (comment) SIZE=1", "<a@b>   ", "<a@b> ", "<>", "<> SIZE=1", "a@b.example",
    "a@b.example SIZE=1",
    " <a@b.example>", '<"quoted local"@b.example>', "<a..b@c>", "<.a@b>", "<a.@b>", "<@route:a@b>",
    "<a@[192.0.2.1]>", "<ü@b.example>", "<a@ü.example>", "<a@b.example", "<a@b.example>x", "<a@-b.example>",
    "<a@b..example>", "<a@b.>", "", "<a b@c>", "<a@b c>", "<a(c)@b>", "<a@b>(c)", "<a@b> SIZE=1 (c)",
]


@pytest.mark.parametrize("arg", PATHS)
def test_plain_and_odd_paths_read_as_aiosmtpd_reads_them(arg: str) -> None:
    fast, reference = _both(arg)
    assert fast == reference


def test_the_local_part_limit_still_applies() -> None:
    long_local = "x" * 65
    assert _both(f"<{long_local}@b.example>", local_part_limit=64) == ((None, None), (None, None))
    assert _both(f"<{'x' * 64}@b.example>", local_part_limit=64)[0] == (f"{'x' * 64}@b.example", "")


def test_the_fast_reading_replaces_aiosmtpd_s_own() -> None:
    """aiosmtpd's method is private: if a release renamed it, the override would silently stop applying."""
    assert callable(SMTP._getaddr) and FaxbounceSMTP._getaddr is not SMTP._getaddr
    assert _session()._getaddr("<a@b.example> SIZE=1") == ("a@b.example", "SIZE=1")


_PIECE = st.text(alphabet="ab.-+@<>() \t\"[]:ü1", max_size=12)


@settings(max_examples=400, deadline=None)
@given(local=_PIECE, domain=_PIECE, rest=_PIECE, lead=st.sampled_from(["", " ", "<"]))
def test_generated_paths_read_the_same(local: str, domain: str, rest: str, lead: str) -> None:
    fast, reference = _both(f"{lead}{local}@{domain}>{rest}")
    assert fast == reference or (isinstance(reference, type) and fast == (None, None))


@settings(max_examples=300, deadline=None)
@given(rest=st.text(alphabet="SIZE=1 \t()<>@a", max_size=12), lead=st.sampled_from(["", " ", "<"]))
def test_generated_null_paths_read_the_same(rest: str, lead: str) -> None:
    fast, reference = _both(f"{lead}<>{rest}")
    assert fast == reference or (isinstance(reference, type) and fast == (None, None))


def test_the_null_path_is_read_without_aiosmtpd_s_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast reading must take `<>` itself: bounces, most of what the daemon receives, come from it."""

    def parser_used(*_args: object) -> None:
        raise AssertionError("aiosmtpd's parser was used")

    monkeypatch.setattr(SMTP, "_getaddr", parser_used)
    assert _session()._getaddr("<> SIZE=2048") == ("<>", " SIZE=2048")


@pytest.mark.parametrize("arg", ["1@[>", "<a@[>"])
def test_a_path_the_stdlib_parser_crashes_on_is_a_syntax_error(arg: str) -> None:
    fast, reference = _both(arg)
    assert reference is AttributeError  # aiosmtpd alone: the session would get 451 and an ERROR line
    assert fast == (None, None)  # faxbounce: 553, as for any malformed path
