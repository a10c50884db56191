"""``stop -``, ``snooze -`` and ``resume -``: the thread of the message a mail client pipes in.

A mail client pipes one message (neomutt's ``<pipe-message>``, aerc's
``:pipe -m``): the follow-up draft this program wrote, the user's own sent
message, or the contact's answer. Its headers name the thread (``core.piped``
says which and in what order); the threads the local state knows that hold
any of them are found in one read per account, and exactly one may: a
message that points at two threads is refused, never acted on twice.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from typing import BinaryIO

from mail_followup.cli.invocation import EXIT_FAILED, EXIT_USAGE
from mail_followup.cli.thread_commands import Found, holding
from mail_followup.config import Config
from mail_followup.core.piped import MAX_HEAD, Piped, head_end, piped_message, printable

log = logging.getLogger(__name__)

CHUNK = 1 << 16
NOT_A_PIPE = ("`-` reads one message on standard input: pipe it in from your mail client, e.g. in neomutt "
              "<pipe-message>mail-followup stop -<enter> (see the README), or mail-followup stop - < message.eml")


def read_head(stream: BinaryIO) -> bytes:
    """The header block of the message on ``stream``, holding no more of it than that (at most ``MAX_HEAD``).

    The rest is read and dropped: a mail client writing a large message into the pipe should not see it
    closed halfway.
    """
    data = bytearray()
    end = None
    while end is None and len(data) < MAX_HEAD:
        chunk = stream.read(CHUNK)
        if not chunk:
            return bytes(data)
        data += chunk
        end = head_end(data)
    while stream.read(CHUNK):
        pass
    return bytes(data[:end] if end is not None else data[:MAX_HEAD])


def piped_thread(config: Config, now: datetime, stream: BinaryIO | None = None) -> Found | int:
    """The one thread the message on ``stream`` (standard input by default) belongs to; or, when there is
    none or more than one, the exit code, after saying why on stderr in one line."""
    if stream is None:
        if sys.stdin is None or sys.stdin.isatty():
            return _fail(NOT_A_PIPE, EXIT_USAGE)
        stream = sys.stdin.buffer
    piped = piped_message(read_head(stream))
    if not piped.headers:
        return _fail(f"standard input holds no mail message; {NOT_A_PIPE}", EXIT_USAGE)
    if not piped.pointers:
        return _fail(f"{piped.named} has no Message-ID, In-Reply-To or References to find its thread by: pipe the "
                     "whole message with its headers (in mutt and neomutt: with pipe_decode unset)")
    found = holding(config, [message_id for _, message_id in piped.pointers], now)
    order = {message_id: n for n, (_, message_id) in enumerate(piped.pointers)}
    found.sort(key=lambda item: order[item[0]])  # stable: the accounts stay in the config's order
    threads: dict[tuple[str, str], tuple[str, Found]] = {}
    for message_id, one in found:
        threads.setdefault((one[0].name, one[1].key), (message_id, one))
    if not threads:
        return _fail(f"no thread this program follows contains {piped.named} (looked up by its {_headers(piped)} "
                     "in the local state); run `mail-followup scan` first if it is new")
    if len(threads) > 1:
        named = [_thread_named(piped, message_id, one, len(config.accounts) > 1)
                 for message_id, one in threads.values()]
        return _fail(f"{piped.named} points at {len(named)} threads: {', '.join(named[:-1])} and {named[-1]}; "
                     "nothing done: give the Message-ID of the one you mean instead of -")
    message_id, one = next(iter(threads.values()))
    log.info("the message is in the thread %s of account %s, by its %s %s", one[1].key, one[0].name,
             _header_of(piped, message_id), message_id)
    return one


def _thread_named(piped: Piped, message_id: str, found: Found, accounts: bool) -> str:
    account, thread, _ = found
    where = f"account {account.name}, " if accounts else ""
    return (f"{printable(thread.key)} (\u201c{printable(thread.subject)}\u201d, {where}by its "
            f"{_header_of(piped, message_id)})")


def _header_of(piped: Piped, message_id: str) -> str:
    return next(header for header, pointer in piped.pointers if pointer == message_id)


def _headers(piped: Piped) -> str:
    names = list(dict.fromkeys(header for header, _ in piped.pointers))
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"mail-followup: {message}", file=sys.stderr)
    return code
