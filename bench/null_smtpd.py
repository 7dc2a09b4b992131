"""The ceiling of the stack: aiosmtpd with a handler that does nothing but say 250.

    python bench/null_smtpd.py PORT            # faxbounce's server class (FaxbounceSMTP)
    python bench/null_smtpd.py --stock PORT    # aiosmtpd's own SMTP class, as released

The default runs the same server class and limits as faxbounce, without storage: the difference to faxbounce
in bench/perf.py is the price of durability and classification. That ceiling moves with faxbounce's own work
on its SMTP class (the block DATA reader, the fast path readings); `--stock` is the fixed one, aiosmtpd as a
user who installs it gets it, and what issue #12's first figures were measured against.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class NullHandler:
    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        return "250 OK"


async def main(port: int, stock: bool) -> None:
    if stock:
        from aiosmtpd.smtp import SMTP as server_class
    else:
        from processor.receive.smtp import FaxbounceSMTP as server_class
    loop = asyncio.get_running_loop()
    handler = NullHandler()
    server = await loop.create_server(
        lambda: server_class(handler, hostname="null.bench", data_size_limit=32 * 1024 * 1024, loop=loop),
        host="127.0.0.1", port=port,
    )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stock", action="store_true", help="aiosmtpd's own SMTP class instead of faxbounce's")
    parser.add_argument("port", type=int)
    args = parser.parse_args()
    asyncio.run(main(args.port, args.stock))
