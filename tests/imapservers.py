"""Real IMAP servers on 127.0.0.1 for the tests, and a handle on one account.

Two servers, because they differ where the application has to cope:

* Dovecot (system package): SPECIAL-USE, CONDSTORE, QRESYNC, UIDPLUS, MOVE;
  hierarchy delimiter "."; UIDs start at 1; STOREd keywords stick.
* pymap (see mail_followup.cli.demo_server): none of SPECIAL-USE, CONDSTORE,
  QRESYNC; delimiter "/"; UIDs start at 101; STOREd keywords are dropped.

DovecotServer runs Dovecot from its own config in a temp dir (nothing from
/etc/dovecot), as root (CI) or as a normal user. One instance serves a whole
test session; each test gets a fresh, empty mailbox by using a fresh user
name, since the static passdb/userdb accept any name.
"""

from __future__ import annotations

import grp
import itertools
import json
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from imapclient import IMAPClient

from mail_followup.cli.demo_server import (
    PymapServer,
    free_port,
    stop_process,
    tail,
    wait_for_imap_greeting,
)

DOVECOT = Path("/usr/sbin/dovecot")
DOVEADM = Path("/usr/bin/doveadm")

_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
_RECENT = b"\\Recent"


@dataclass
class ImapAccount:
    """One user on one running server, with helpers for arranging and asserting."""

    kind: str  # "dovecot" or "pymap"
    host: str
    port: int
    username: str
    password: str
    special_use: bool  # does the server flag Sent/Drafts/... via SPECIAL-USE?
    server: object  # DovecotServer or PymapServer

    def client(self) -> IMAPClient:
        """A logged-in plaintext client. The caller closes it (`with` works)."""
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        try:
            client.login(self.username, self.password)
        except BaseException:
            client.shutdown()
            raise
        return client

    def append(
        self,
        folder: str,
        raw: bytes,
        flags: Sequence[bytes | str] = (),
        when: datetime | None = None,
    ) -> int | None:
        """APPEND a message; return its UID from APPENDUID, or None without it."""
        with self.client() as client:
            response = client.append(folder, raw, flags=flags, msg_time=when)
        match = _APPENDUID.search(response)
        return int(match.group(2)) if match else None

    def messages(self, folder: str) -> list[tuple[int, tuple[bytes, ...], bytes]]:
        """(uid, flags, raw message) of every message in `folder`, by UID.

        Read-only (EXAMINE, BODY.PEEK), so it never sets \\Seen. Flags are
        sorted and \\Recent is left out: it depends on which session looked
        first, so it would only make assertions flaky.
        """
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            uids = client.search(["ALL"])
            if not uids:
                return []
            data = client.fetch(uids, ["FLAGS", "BODY.PEEK[]"])
        return sorted(
            (
                uid,
                tuple(sorted(f for f in item[b"FLAGS"] if f != _RECENT)),
                item[b"BODY[]"],
            )
            for uid, item in data.items()
        )

    def folder_names(self) -> list[str]:
        """All folder names as LIST reports them, sorted."""
        with self.client() as client:
            return sorted(name for _flags, _delim, name in client.list_folders())

    @classmethod
    def for_pymap(cls, server: PymapServer) -> ImapAccount:
        return cls(
            kind="pymap",
            host=server.host,
            port=server.port,
            username=server.username,
            password=server.password,
            special_use=False,
            server=server,
        )


class TokenIntrospection:
    """An OAuth2 token introspection endpoint (RFC 7662) on 127.0.0.1, for a Dovecot with an oauth2 passdb.

    Dovecot POSTs ``token=...``; the answer is ``{"active": true, "username": ...}``
    for a token given with ``grant`` and ``{"active": false}`` for any other
    (an expired or revoked one). ``asked`` counts the lookups.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.tokens: dict[str, str] = {}
        self.asked = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def grant(self, token: str, username: str) -> None:
        self.tokens[token] = username

    def revoke(self, token: str) -> None:
        self.tokens.pop(token, None)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the introspection endpoint is not running")
        return f"http://{self.host}:{self._server.server_address[1]}/introspect"

    def start(self) -> TokenIntrospection:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
                self._answer((form.get("token") or [""])[0])

            def do_GET(self) -> None:  # introspection_mode = auth or get
                auth = self.headers.get("Authorization", "")
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                self._answer(auth[7:] if auth.startswith("Bearer ") else (query.get("token") or [""])[0])

            def _answer(self, token: str) -> None:
                endpoint.asked += 1
                user = endpoint.tokens.get(token)
                body = json.dumps({"active": True, "username": user} if user else {"active": False}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # quiet: the test output is for the tests

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="token-introspection", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TokenIntrospection:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DovecotServer:
    """Dovecot from a private config in a temp dir, on 127.0.0.1 and a free port.

    How it runs as root, and why: Dovecot refuses mail processes with uid 0
    ("userdb returned 0 as uid", even with first_valid_uid = 0), so as root
    the mailboxes belong to `nobody`, and the internal/login processes use the
    `dovecot`/`dovenull` users that the Debian package creates. As a normal
    user, every process runs as that user (Dovecot's "rootless" mode): the
    internal and login user and group are set to ours. In both modes chroot
    is off for imap-login and anvil (a normal user cannot chroot; tests gain
    nothing from it). As root, the temp dir is made 0755 so `nobody` can reach
    its home below it: $TMPDIR itself must be reachable by `nobody` (/tmp is).
    """

    def __init__(
        self,
        password: str = "secret",
        *,
        host: str = "127.0.0.1",
        start_timeout: float = 15.0,
        oauth2_introspection_url: str | None = None,
        oauth2_mechanisms: str = "xoauth2 oauthbearer",
        quota: str | None = None,
    ) -> None:
        """With ``oauth2_introspection_url`` (see TokenIntrospection), the SASL
        ``oauth2_mechanisms`` check a bearer token there; PLAIN and LOGIN still take the password.
        With ``quota`` (e.g. "64K"), every user's mailbox is limited to that much storage by
        Dovecot's quota plugin, and an APPEND past it is refused with [OVERQUOTA]."""
        self.quota = quota
        if not re.fullmatch(r"[A-Za-z0-9._-]+", password):
            raise ValueError("keep the password plain: it goes into passdb args")
        self.oauth2_introspection_url = oauth2_introspection_url
        self.oauth2_mechanisms = oauth2_mechanisms
        self.host = host
        self.port = 0
        self.tls_port = 0  # implicit TLS (imaps); 0 when openssl is missing
        self.password = password
        self.start_timeout = start_timeout
        self._root: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._users = itertools.count(1)
        self._tls = False

    @staticmethod
    def available() -> bool:
        return DOVECOT.exists() and DOVEADM.exists()

    @property
    def root(self) -> Path:
        """The temp dir holding config, logs, sockets and mailboxes."""
        if self._root is None:
            raise RuntimeError("Dovecot not started")
        return self._root

    @property
    def config_path(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def log_path(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def cert_path(self) -> Path:
        """The self-signed certificate (for 127.0.0.1 and localhost) the server presents."""
        return self.root / "cert.pem"

    def _make_certificate(self) -> bool:
        """A throwaway self-signed certificate, so TLS and STARTTLS are tested for real."""
        openssl = shutil.which("openssl")
        if openssl is None:
            return False
        subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-keyout", str(self.root / "key.pem"), "-out", str(self.cert_path),
             "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
            check=True, capture_output=True, timeout=60,
        )
        return True

    @property
    def _stdout_path(self) -> Path:
        return self.root / "dovecot.stdout"

    def start(self) -> DovecotServer:
        if self._proc is not None:
            raise RuntimeError("Dovecot already started")
        self._root = Path(tempfile.mkdtemp(prefix="mf-dovecot-"))
        try:
            self._prepare_dirs()
            self._tls = self._make_certificate()
            self._start_process()
        except BaseException:
            self.stop()
            raise
        return self

    def _mail_ids(self) -> tuple[int, int]:
        """uid and gid that own the mailboxes."""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            return nobody.pw_uid, nobody.pw_gid
        return os.getuid(), os.getgid()

    def _prepare_dirs(self) -> None:
        uid, gid = self._mail_ids()
        # mkdtemp makes the dir 0700; the mail processes (nobody, as root) must
        # get through it to their homes. Nothing secret lives here.
        self.root.chmod(0o755)
        home = self.root / "home"
        home.mkdir()
        os.chown(home, uid, gid)
        if self.oauth2_introspection_url:
            # Every token is looked up (no tokeninfo step); `active` must be true.
            self.oauth2_args_path.write_text(
                f"introspection_url = {self.oauth2_introspection_url}\n"
                "introspection_mode = post\n"
                "force_introspection = yes\n"
                "username_attribute = username\n"
                "active_attribute = active\n"
                "active_value = true\n"
                "timeout_msecs = 5000\n"
            )

    @property
    def oauth2_args_path(self) -> Path:
        return self.root / "dovecot-oauth2.conf.ext"

    def _oauth2_config(self) -> tuple[str, str, str, str]:
        """(auth settings, static passdb mechanisms line, oauth2 passdb, anvil lines) for an oauth2 server."""
        if not self.oauth2_introspection_url:
            return "", "", "", ""
        settings = (f"auth_mechanisms = plain login {self.oauth2_mechanisms}\n"
                    "# A rejected token answers at once, not after the 2 s anti-guessing delay.\n"
                    "auth_failure_delay = 0\n")
        # The token goes through the passdbs like a password: keep each passdb to its mechanisms.
        passdb = (f"passdb {{\n  driver = oauth2\n  mechanisms = {self.oauth2_mechanisms}\n"
                  f"  args = {self.oauth2_args_path}\n}}\n")
        # No growing penalty (2, 4, 8 s) for the next attempt after a failure from this IP.
        anvil = "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n"
        return settings, "  mechanisms = plain login\n", passdb, anvil

    def _config(self) -> str:
        uid, gid = self._mail_ids()
        if os.geteuid() == 0:
            internal_user, internal_group, login_user = "dovecot", "dovecot", "dovenull"
        else:
            internal_user = pwd.getpwuid(os.getuid()).pw_name
            internal_group = grp.getgrgid(os.getgid()).gr_name
            login_user = internal_user
        root = self.root
        ssl = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{root}/key.pem" if self._tls else "ssl = no"
        mailboxes = "".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}\n"
            for name in ("Sent", "Drafts", "Archive", "Trash", "Junk")
        )
        oauth2_settings, static_mechanisms, oauth2_passdb, anvil = self._oauth2_config()
        # The maildir++ backend: usage is counted in each Maildir's `maildirsize`.
        quota = (f"mail_plugins = $mail_plugins quota\nplugin {{\n  quota = maildir:User quota\n"
                 f"  quota_rule = *:storage={self.quota}\n}}\n" if self.quota else "")
        return f"""\
# Generated by tests/imapservers.py for one test session.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = {self.host}
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
{oauth2_settings}default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = 1
mail_location = maildir:~/Maildir
# Indexing a folder of 600,000 messages (benchmarks/resources.py --scale 1000000) takes more than the
# default 256 MB per process.
default_vsz_limit = 4G
{quota}
# Any user name logs in with the one password: a fresh name, a fresh mailbox.
passdb {{
  driver = static
{static_mechanisms}  args = password={self.password}
}}
{oauth2_passdb}userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}

namespace inbox {{
  inbox = yes
{mailboxes}}}

protocol imap {{
  # Tests may hold several connections per user (default limit 10).
  mail_max_userip_connections = 100
}}

service imap-login {{
  chroot =
  inet_listener imap {{
    port = {self.port}
  }}
  inet_listener imaps {{
    port = {self.tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
{anvil}}}
"""

    def _start_process(self) -> None:
        for attempt in range(1, 4):
            self.port = free_port(self.host)
            self.tls_port = free_port(self.host) if self._tls else 0
            self.config_path.write_text(self._config())
            with open(self._stdout_path, "wb") as out:
                self._proc = subprocess.Popen(
                    [str(DOVECOT), "-F", "-c", str(self.config_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            try:
                ready = wait_for_imap_greeting(
                    self.host, self.port, self._proc, self.start_timeout
                )
            except TimeoutError as exc:
                raise RuntimeError(f"Dovecot did not answer: {exc}\n{self._logs()}") from None
            if ready:
                return
            self._proc = None
            logs = self._logs()
            if "Address already in use" in logs and attempt < 3:
                self.log_path.unlink(missing_ok=True)
                continue  # someone took the port between free_port() and bind
            raise RuntimeError(f"Dovecot exited during start-up:\n{logs}")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stop the server and start it again on the same port with the same mailboxes, as an
        upgrade or a reboot of the mail server would; ``down_seconds`` it is unreachable."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        time.sleep(down_seconds)
        with open(self._stdout_path, "ab") as out:
            self._proc = subprocess.Popen([str(DOVECOT), "-F", "-c", str(self.config_path)],
                                          stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        if not wait_for_imap_greeting(self.host, self.port, self._proc, self.start_timeout):
            raise RuntimeError(f"Dovecot did not come back:\n{self._logs()}")

    def _logs(self) -> str:
        return f"{tail(self._stdout_path, 10)}\n--- {self.log_path}:\n{tail(self.log_path)}"

    def stop(self) -> None:
        """SIGTERM the master (it stops its children) and remove the temp dir."""
        if self._proc is not None:
            stop_process(self._proc)
            self._proc = None
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None

    def doveadm(self, *args: str) -> str:
        """Run `doveadm -c CONFIG ARGS...` against this instance; return stdout.

        E.g. doveadm("mailbox", "update", "--uid-validity", "7", "-u", user, "INBOX").
        """
        result = subprocess.run(
            [str(DOVEADM), "-c", str(self.config_path), *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"doveadm {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stderr}{result.stdout}"
            )
        return result.stdout

    def new_account(self, username: str | None = None) -> ImapAccount:
        """An account with an empty mailbox: a user name never used before.

        Logs in and STATUSes every folder once. Dovecot lists the `auto`
        folders from the start but creates them (and fixes their
        UIDVALIDITY) only on first access; after this they are real.
        """
        if username is None:
            username = f"user{next(self._users)}-{uuid.uuid4().hex[:8]}"
        account = ImapAccount(
            kind="dovecot",
            host=self.host,
            port=self.port,
            username=username,
            password=self.password,
            special_use=True,
            server=self,
        )
        with account.client() as client:
            for _flags, _delim, name in client.list_folders():
                client.folder_status(name, [b"UIDVALIDITY"])
        return account

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"DovecotServer({self.host}:{self.port}, {self._root})"
