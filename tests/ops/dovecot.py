"""A throw-away dovecot IMAP server for the IMAP backfill test: own config, own maildirs, a free port.

Runs as the current user; as root, dovecot's own users (dovenull, dovecot) serve logins and mail, so the
directory must then not lie under a 0700 one (pass a fresh `tempfile.mkdtemp()`). The tests skip with a
reason when the dovecot binary is absent; CI installs Debian's dovecot-imapd (.ci/run).
"""

from __future__ import annotations

import grp
import imaplib
import mailbox
import os
import pwd
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

USER = "faxops"
PASSWORD = "s3cret-imap"


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
                                           if os.access(p, os.X_OK)), None)


@dataclass
class Dovecot:
    process: subprocess.Popen[bytes]
    port: int
    home: Path
    log: Path

    @property
    def maildir(self) -> Path:
        return self.home / "Maildir"

    def url(self, folder: str = "", password: bool = True) -> str:
        secret = f":{PASSWORD}" if password else ""
        return f"imap://{USER}{secret}@127.0.0.1:{self.port}/{folder}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def _existing_user(*names: str) -> str:
    for name in names:
        try:
            return pwd.getpwnam(name).pw_name
        except KeyError:
            continue
    raise RuntimeError(f"none of the users {names} exists")


def start_dovecot(binary: str, root: Path, port: int, mails: dict[str, list[bytes]]) -> Dovecot:
    """Start dovecot on 127.0.0.1:`port`; `mails` maps a folder ('' = INBOX) to the mails it holds."""
    uid, gid = os.getuid(), os.getgid()
    user, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    login_user = internal_user = auth_user = mail_user = user
    if uid == 0:  # dovecot runs neither its login, internal nor mail processes as root
        login_user = _existing_user("dovenull", "nobody")
        internal_user = mail_user = _existing_user("dovecot", "nobody")
        group = grp.getgrgid(pwd.getpwnam(internal_user).pw_gid).gr_name
        root.chmod(0o755)  # the mail process (not root) must reach the maildir; `root` is not under a 0700 dir
    home = root / "home"
    home.mkdir(parents=True)
    box = mailbox.Maildir(home / "Maildir", create=True)
    for folder, contents in mails.items():
        target = box if not folder else box.add_folder(folder)
        for raw in contents:
            target.add(raw)
    if mail_user != user:
        owner = pwd.getpwnam(mail_user)
        for path in [home, *home.rglob("*")]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
    (root / "run").mkdir()
    (root / "state").mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{home}::\n")
    log = root / "dovecot.log"
    config = root / "dovecot.conf"
    config.write_text(f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {log}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 0
first_valid_gid = 0
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {group}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={pwd.getpwnam(mail_user).pw_gid} home={home}
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {auth_user}
}}
service auth-worker {{
  user = {auth_user}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
""")
    out = (root / "dovecot.stdout").open("wb")
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=out, stderr=subprocess.STDOUT)
    server = Dovecot(process, port, home, log)
    deadline = time.monotonic() + 15
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"dovecot exited with {process.returncode}: "
                               f"{(root / 'dovecot.stdout').read_text()} {log.read_text() if log.exists() else ''}")
        try:
            client = imaplib.IMAP4("127.0.0.1", port, timeout=2)
        except (OSError, imaplib.IMAP4.error):
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError("dovecot did not listen within 15s") from None
            time.sleep(0.05)
            continue
        client.logout()
        return server
