"""How long Dovecot takes to open a large Maildir folder read-only, before and after new mail. Run by hand:

    python benchmarks/dovecot_open.py 200000            # messages over INBOX, Sent and Archive
    python benchmarks/dovecot_open.py 200000 --very-dirty-syncs

Why it exists: at a million messages most of a pass after new mail was spent
waiting for EXAMINE (issue 23). This shows that it is the server's time, and
how it grows: an unchanged folder opens in milliseconds; once a message was
appended, every read-only EXAMINE of it costs time in proportion to the
folder's size, however often it is repeated, until a session opens it
read-write (and then only with `maildir_very_dirty_syncs = yes`). A client
that must not change the mailbox opens it read-only, so it cannot avoid this.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "benchmarks"), str(ROOT / "tests"), str(ROOT / "src")]

from imapclient import IMAPClient  # noqa: E402
from imapservers import DovecotServer  # noqa: E402
from tracking import arrive, bare_fetch, build_maildir  # noqa: E402


def open_both(server: DovecotServer, user: str, label: str, readonly: bool = True) -> None:
    with IMAPClient(server.host, port=server.port, ssl=False) as client:
        client.login(user, server.password)
        for folder in ("INBOX", "Sent"):
            start = time.perf_counter()
            found = client.select_folder(folder, readonly=readonly)
            took = time.perf_counter() - start
            print(f"{label:<34} {folder:<6} {found[b'EXISTS']:>8,} messages  {took * 1000:7.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int, nargs="?", default=200_000)
    parser.add_argument("--very-dirty-syncs", action="store_true", help="maildir_very_dirty_syncs = yes")
    args = parser.parse_args()
    config = DovecotServer._config
    if args.very_dirty_syncs:
        def tuned(self: DovecotServer) -> str:
            return config(self).replace("mail_location = maildir:~/Maildir",
                                        "mail_location = maildir:~/Maildir\nmaildir_very_dirty_syncs = yes")
        DovecotServer._config = tuned  # type: ignore[method-assign]
    with DovecotServer() as server:
        user = server.new_account().username
        build_maildir(server, user, args.messages * 7 // 10, args.messages - args.messages * 7 // 10, folders=3)
        bare_fetch(server, user)  # Dovecot indexes the new files
        open_both(server, user, "EXAMINE, indexed")
        open_both(server, user, "EXAMINE again")
        arrive(server, user, 10)  # APPEND 5 answers to INBOX and 5 messages to Sent
        for run in range(3):
            open_both(server, user, f"EXAMINE after APPEND, {run + 1}")
        open_both(server, user, "SELECT (read-write)", readonly=False)
        open_both(server, user, "EXAMINE after the read-write SELECT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
