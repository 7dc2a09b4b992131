"""A lean asyncio SMTP load generator, run in its own process by bench/perf.py.

Each session sends EHLO once, then MAIL/RCPT/DATA per message, and records the time from the final dot to
the reply: the acceptance latency the issue measures. Closed loop (each session sends its next mail as soon
as it has the reply) or open loop (`rate`: arrivals paced at a fixed rate across sessions).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["LoadResult", "run_load"]


@dataclass
class LoadResult:
    sent: int = 0
    acked: int = 0
    temporary: int = 0
    permanent: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    """Seconds from the final dot to the reply, for acknowledged mails."""
    started: float = 0.0
    finished: float = 0.0

    @property
    def rate(self) -> float:
        return self.acked / (self.finished - self.started) if self.finished > self.started else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def _reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("connection closed")
        if line[3:4] != b"-":
            return int(line[:3])


async def _session(host: str, port: int, messages: list[bytes], result: LoadResult,
                   pace: Callable[[], asyncio.Future[None] | None]) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    try:
        if await _reply(reader) != 220:
            result.errors += len(messages)
            return
        writer.write(b"EHLO load.bench\r\n")
        await _reply(reader)
        for body in messages:
            waiter = pace()
            if waiter is not None:
                await waiter
            result.sent += 1
            # SIZE as an MTA declares it (Postfix does whenever the server offers SIZE): faxbounce books what
            # a transfer declares, and the whole smtp.max_message_size for one that declares nothing.
            writer.write(b"MAIL FROM:<> SIZE=%d\r\n" % len(body))
            code = await _reply(reader)
            writer.write(b"RCPT TO:<fax-results@faxbounce.test>\r\n")
            code = max(code, await _reply(reader))
            writer.write(b"DATA\r\n")
            if await _reply(reader) != 354 or code >= 400:
                result.errors += 1
                writer.write(b"RSET\r\n")
                await _reply(reader)
                continue
            writer.write(body)
            writer.write(b".\r\n")
            await writer.drain()
            started = time.perf_counter()
            code = await _reply(reader)
            if code == 250:
                result.acked += 1
                result.latencies.append(time.perf_counter() - started)
            elif code < 500:
                result.temporary += 1
            else:
                result.permanent += 1
        writer.write(b"QUIT\r\n")
        await writer.drain()
    except (OSError, ConnectionError, ValueError):
        result.errors += 1
    finally:
        writer.close()


async def _run(host: str, port: int, bodies: list[bytes], sessions: int, rate: float | None) -> LoadResult:
    result = LoadResult()
    loop = asyncio.get_running_loop()
    next_slot = [loop.time()]

    def pace() -> asyncio.Future[None] | None:
        if rate is None:
            return None
        slot = next_slot[0] = max(next_slot[0] + 1 / rate, loop.time())
        return asyncio.ensure_future(asyncio.sleep(max(0.0, slot - loop.time())))

    shares = [bodies[i::sessions] for i in range(sessions)]
    result.started = time.perf_counter()
    await asyncio.gather(*(_session(host, port, share, result, pace) for share in shares if share))
    result.finished = time.perf_counter()
    return result


def run_load(host: str, port: int, bodies: list[bytes], sessions: int, rate: float | None = None) -> LoadResult:
    """Send every body once (dot-stuffed, CRLF, without the final dot) over `sessions` sessions."""
    return asyncio.run(_run(host, port, bodies, sessions, rate))
