"""The block-wise DATA reader against the rules of RFC 5321 written out line by line, on any byte stream."""

from __future__ import annotations

import asyncio
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from processor.receive.data import DataReader, DataRefusal, SpooledContent


def by_the_rules(stream: bytes, line_limit: int, size_limit: int | None) -> tuple[bytes | str, bytes]:
    """RFC 5321 4.1.1.4 and 4.5.2, one CRLF-ended line at a time: (content or "refused", what follows)."""
    lines: list[bytes] = []
    position, received, refused = 0, 0, False
    while True:
        end = stream.index(b"\r\n", position) + 2
        line, position = stream[position:end], end
        if line == b".\r\n":
            break
        received += len(line)
        refused = refused or len(line) > line_limit or bool(size_limit and received > size_limit)
        lines.append(line[1:] if line.startswith(b".") else line)
    return ("refused" if refused else b"".join(lines)), stream[position:]


async def _read(chunks: list[bytes], line_limit: int, size_limit: int | None,
                room: int | None = None) -> tuple[DataReader, bytes]:
    stream = asyncio.StreamReader(limit=1 << 20)
    reader = DataReader(stream, line_limit=line_limit, size_limit=size_limit,
                        cover=lambda size: room is None or size <= room)
    task = asyncio.create_task(reader.read())
    for chunk in chunks:
        stream.feed_data(chunk)
        await asyncio.sleep(0)  # the reader takes what has arrived: chunk borders are block borders
    await asyncio.wait_for(task, 2)  # a missed final dot would wait for ever
    stream.feed_eof()
    return reader, await stream.read()


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


pieces = st.sampled_from([b"\r", b"\n", b".", b"a", b"\r\n", b"\r\n.", b"..", b"\n.\n", b"\r.\r", b"xyz"])


@settings(max_examples=400, deadline=None)
@given(body=st.lists(pieces, max_size=40), after=st.lists(pieces, max_size=5), cuts=st.lists(st.integers(0, 400)),
       line_limit=st.integers(3, 12), size_limit=st.one_of(st.none(), st.integers(1, 60)))
def test_same_result_as_the_line_by_line_rules(body: list[bytes], after: list[bytes], cuts: list[int],
                                               line_limit: int, size_limit: int | None) -> None:
    stream = b"".join(body) + b"\r\n.\r\n" + b"".join(after)
    expected, rest = by_the_rules(stream, line_limit, size_limit)
    reader, left = asyncio.run(_read(_split(stream, cuts), line_limit, size_limit))
    assert left == rest  # pipelined commands after the final dot stay in the stream
    if expected == "refused":
        assert reader.refusal in (DataRefusal.LINE_TOO_LONG, DataRefusal.TOO_MUCH_DATA)
        assert len(reader.content) == 0
    else:
        assert reader.refusal is None
        assert reader.content.read() == expected


def test_the_data_commands_crlf_is_the_first_one() -> None:
    reader, left = asyncio.run(_read([b".\r\nQUIT\r\n"], 1000, None))
    assert (reader.content.read(), left) == (b"", b"QUIT\r\n")
    reader, left = asyncio.run(_read([b"..\r\n.\r\n"], 1000, None))
    assert (reader.content.read(), left) == (b".\r\n", b"")


def test_a_mail_of_empty_lines_costs_few_awaits() -> None:
    mail = b"\r\n" * 2_000_000 + b".\r\n"
    reader, _ = asyncio.run(_read(_split(mail, list(range(0, len(mail), 64 * 1024))), 1000, None))
    assert len(reader.content) == 4_000_000
    assert reader.blocks <= len(mail) // (64 * 1024) + 2  # one per block that arrived, not one per line


def test_what_the_budget_refuses_is_dropped_at_once() -> None:
    reader, _ = asyncio.run(_read([b"x" * 500 + b"\r\n", b"y" * 600 + b"\r\n", b".\r\n"], 1000, None, room=800))
    assert reader.refusal is DataRefusal.NO_MEMORY
    assert len(reader.content) == 0


def test_spooled_content_is_read_in_chunks_as_often_as_asked() -> None:
    content = SpooledContent(spool_after=10)
    content.write(b"0123456789")
    assert not content.spooled and list(content.chunks(4)) == [b"0123456789"]
    content.write(b"abcdefghij")
    assert content.spooled and len(content) == 20
    assert list(content.chunks(8)) == [b"01234567", b"89abcdef", b"ghij"]
    assert b"".join(content.chunks()) == b"0123456789abcdefghij"  # again, from the first byte
    content.discard()
    assert not content.spooled and len(content) == 0 and list(content.chunks()) == []
