"""A throw-away Postfix configured by the snippets faxbounce ships (config/postfix/), for the integration test.

Private in every way: its own configuration directory (`postfix -c DIR`), queue and data directories under a
temporary directory, smtpd on an unprivileged port of 127.0.0.1, `inet_interfaces = loopback-only`, and
`default_transport = error`, so no mail can leave. The shipped files are used verbatim except for two
substitutions (their directory `/etc/postfix/` and faxbounce's port 2525); what only the test needs is
appended after them and says so. Postfix's master runs as root, so the test needs root (CI runs as root).
"""

from __future__ import annotations

import os
import shutil
import smtplib
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "postfix"
#: The map files the shipped main.cf names, and whether `postmap` must compile them.
MAPS = {"faxbounce_transport": True, "fax_result_bcc": True, "fax_submission_bcc.pcre": False}
SHIPPED_PORT = "[127.0.0.1]:2525"

#: The services a Postfix needs to receive and deliver by SMTP (pickup only answers `postqueue -f`; no local).
_MASTER_BASE = """\
# test-only services; the shipped faxbounce transport follows
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_unavailable() -> str | None:
    """Why the test cannot run here, or None."""
    if shutil.which("postfix") is None and not os.access("/usr/sbin/postfix", os.X_OK):
        return "Postfix is not installed (Debian package postfix; .ci/run installs it in CI)"
    if os.geteuid() != 0:
        return "Postfix's master must start as root"
    with tempfile.TemporaryDirectory() as empty:  # postconf needs a main.cf, and /etc/postfix may have none
        (Path(empty) / "main.cf").touch()
        maps = subprocess.run([_bin("postconf"), "-c", empty, "-m"], capture_output=True, text=True,
                              check=False).stdout.split()
    if "pcre" not in maps:
        return "Postfix has no pcre map type (Debian package postfix-pcre)"
    return None


def _bin(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


@dataclass
class Postfix:
    directory: Path
    port: int

    def send(self, raw: bytes, mail_from: str, rcpts: tuple[str, ...]) -> None:
        """Submit over SMTP as a mail client does: the envelope says who gets it, whatever the headers say."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            client.ehlo("client.example.co.jp")
            refused = client.sendmail(mail_from, list(rcpts), raw)
        assert not refused, refused

    def flush(self) -> None:
        """Deliver deferred mail now (`postqueue -f`), as an operator does after an outage."""
        self._run("postqueue", "-c", str(self.directory), "-f")

    def queued(self) -> str:
        return self._run("postqueue", "-c", str(self.directory), "-p")

    def log(self) -> str:
        path = self.directory / "maillog"
        return path.read_text(errors="replace") if path.exists() else "(no maillog)"

    def stop(self) -> None:
        self._run("postfix", "-c", str(self.directory), "stop", check=False)

    def _run(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([_bin(args[0]), *args[1:]], capture_output=True, text=True, timeout=30, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}: {result.stderr}\n{self.log()}")
        return result.stdout + result.stderr


def start_postfix(directory: Path, port: int, faxbounce_port: int, test_transport: dict[str, str]) -> Postfix:
    """Configure Postfix in `directory` from config/postfix/ plus `test_transport` (domain → transport) and
    start it; smtpd listens on 127.0.0.1:`port` and faxbounce is at 127.0.0.1:`faxbounce_port`."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o755)  # Postfix's daemons run as the postfix user
    (directory / "queue").mkdir(mode=0o755)
    (directory / "data").mkdir(mode=0o755)
    shutil.chown(directory / "data", "postfix")

    def shipped(name: str) -> str:
        return ((SHIPPED / name).read_text(encoding="utf-8")
                .replace("/etc/postfix/", f"{directory}/").replace(SHIPPED_PORT, f"[127.0.0.1]:{faxbounce_port}"))

    main_cf = shipped("main.cf")
    transport_line = next(line for line in main_cf.splitlines() if line.startswith("transport_maps"))
    # The test's own routes (fax.tc's stand-in, discarded mailboxes) come after the shipped map: same line.
    main_cf = main_cf.replace(transport_line, f"{transport_line}, texthash:{directory}/test_transport")
    (directory / "test_transport").write_text("".join(f"{d} {t}\n" for d, t in test_transport.items()))
    (directory / "main.cf").write_text(main_cf + f"""
# test-only: a private instance from which nothing can leave
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = {directory}/maillog
maillog_file_prefixes = {directory}
myhostname = mx.example.test
mydestination =
alias_maps =
alias_database =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = error:nothing leaves this test
local_transport = error:no local delivery in this test
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 2s
""")
    (directory / "master.cf").write_text(_MASTER_BASE.format(listen=f"127.0.0.1:{port}") + shipped("master.cf"))
    for name, compiled in MAPS.items():
        (directory / name).write_text(shipped(name))
        if compiled:
            subprocess.run([_bin("postmap"), "-c", str(directory), f"hash:{directory / name}"], check=True,
                           capture_output=True, timeout=30)
    postfix = Postfix(directory, port)
    postfix._run("postfix", "-c", str(directory), "start")
    deadline = time.monotonic() + 15
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
                client.noop()
            return postfix
        except OSError:
            if time.monotonic() > deadline:
                postfix.stop()
                raise AssertionError(f"Postfix did not listen on {port}:\n{postfix.log()}") from None
            time.sleep(0.1)
