"""The ceiling of the stack: aiosmtpd with a handler that does nothing but say 250.

    python bench/null_smtpd.py PORT

Same server class and limits as faxbounce (FaxbounceSMTP), no storage: the difference to faxbounce in
bench/perf.py is the price of durability and classification.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from processor.receive.smtp import FaxbounceSMTP


class NullHandler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    handler = NullHandler()
    server = await loop.create_server(
        lambda: FaxbounceSMTP(handler, hostname="null.bench", data_size_limit=32 * 1024 * 1024, loop=loop),
        host="127.0.0.1", port=port,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
