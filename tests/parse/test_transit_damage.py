"""Damage done to mail in transit (issue #10, theme 5) and text kept as the mail says it (theme 10).

Relay folds: Postfix's `smtp_line_length_limit` (998) breaks a longer line by inserting CRLF + SPACE wherever
byte 998 falls. ISO-2022-JP: Japanese mailers leave 8-bit Shift_JIS or UTF-8 runs between escapes.
"""

from __future__ import annotations

from email.header import Header

import pytest

from processor.parse import parse_mail
from processor.parse.charset import decode_bytes, decode_header_value, fold_text, fold_with_offsets

HEAD = b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n" \
       b"Content-Transfer-Encoding: 8bit\r\n\r\n"


def postfix_fold(line: bytes, limit: int = 998) -> bytes:
    out, rest = [line[:limit]], line[limit:]
    while rest:
        out.append(b" " + rest[: limit - 1])
        rest = rest[limit - 1 :]
    return b"\r\n".join(out)


@pytest.mark.parametrize("length", [999, 1500, 2500, 4000])
@pytest.mark.parametrize("line_end", [b"\r\n", b"\n", b"\r"])
def test_relay_folds_are_joined_inside_a_character(length: int, line_end: bytes) -> None:
    text = ("送信結果" * 2000).encode()[:length - length % 3]
    raw = (HEAD + postfix_fold(text) + b"\r\n").replace(b"\r\n", line_end)
    mail = parse_mail(raw)
    assert mail.plain_text.strip() == text.decode()
    assert any(d.startswith("RelayFoldsJoined") for d in mail.defects)


def test_lines_below_the_limit_and_header_folds_stay() -> None:
    short = b"a" * 997
    raw = HEAD.replace(b"Subject: x\r\n", b"Subject: " + b"s" * 989 + b"\r\n t\r\n") + short + b"\r\n next\r\n"
    mail = parse_mail(raw)
    assert mail.plain_text == short.decode() + "\n next\n"
    assert mail.subject.endswith("s t")  # a header's fold is ordinary folding: unfolded with its space
    assert not any(d.startswith("RelayFoldsJoined") for d in mail.defects)


@pytest.mark.parametrize(("data", "label"), [
    ("送信結果: 3912\n件名: ".encode("cp932") + "見積書".encode("iso2022_jp") + "\n送信先".encode("cp932"),
     "shift_jis"),
    ("件名: ".encode() + "見積書".encode("iso2022_jp") + "\n送信結果: 3912\n送信先".encode(), "iso-2022-jp"),
    ("見積書".encode("iso2022_jp") + "\n送信結果: 3912\n送信先".encode("cp932"), None),
])
def test_8bit_runs_inside_iso2022jp_are_read(data: bytes, label: str | None) -> None:
    text = decode_bytes(data, label)
    assert "見積書" in text and "送信結果: 3912" in text and text.endswith("送信先")


def test_headers_decode_folded_for_matching_and_as_written_for_storing() -> None:
    encoded = Header("①見積書 ＡＢＣ ｶﾞｲ", "utf-8").encode()
    assert decode_header_value(encoded) == "1見積書 ABC ガイ"
    assert decode_header_value(encoded, fold=False) == "①見積書 ＡＢＣ ｶﾞｲ"


@pytest.mark.parametrize("text", ["件名：①見積書 ㈱サンプル ｶﾞｲﾄﾞ ３９１２－ＦＡＸ", "か\u3099き", "plain ascii", "",
                                  "𝐀𝐁c①\n②"])
def test_fold_map_cuts_the_original_of_every_folded_span(text: str) -> None:
    folded, fold_map = fold_with_offsets(text)
    assert folded == fold_text(text)
    assert text[fold_map.start(0) : fold_map.end(len(folded))] == text
    for start in range(len(folded)):
        for end in range(start + 1, len(folded) + 1):
            piece = text[fold_map.start(start) : fold_map.end(end)]
            assert folded[start:end] in fold_text(piece)  # the original covers what was matched
