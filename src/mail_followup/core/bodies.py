"""The readable text of a fetched message, for quoting.

Real-world mail arrives in every charset and transfer encoding; mail-parser
copes with them. A message with only HTML is reduced to text with the tags
and scripts removed, so nothing active ever reaches a draft.
"""

from __future__ import annotations

import html
import logging
import re
import threading

log = logging.getLogger(__name__)

_DROP = re.compile(r"<(script|style|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BREAK = re.compile(r"<\s*(br|/p|/div|/li|/tr|/h\d)\b[^>]*>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")
MAX_READ_BYTES = 4 << 20  # of one message, for quoting
_reading = threading.local()  # the message being parsed in this thread, for mail-parser's complaints


class _Relay(logging.Handler):
    """mail-parser logs a broken header part at ERROR with no handler of its own, so it reached stderr
    (logging's last resort) without saying which message. Its complaints go to our log at DEBUG instead,
    named by account, folder and UID: the user cannot mend someone else's mail."""

    def emit(self, record: logging.LogRecord) -> None:
        log.debug("%s: mail-parser: %.200s", getattr(_reading, "where", "a message"), record.getMessage())


def _quiet_mailparser() -> None:
    logger = logging.getLogger("mailparser")
    if not any(isinstance(h, _Relay) for h in logger.handlers):
        logger.addHandler(_Relay())
        logger.propagate = False


def plain_text(raw: bytes) -> str:
    """Return the message's text; an empty string when it has none or cannot be parsed."""
    return read_body(raw)[0]


def read_body(raw: bytes, where: str = "a message") -> tuple[str, str | None]:
    """The message's text (from its HTML when it has no text part), and its HTML when it has some.

    The HTML is returned as received: whoever shows it must sanitize it. ``where`` names the message
    (account, folder and UID) in the warning a broken one gets.
    """
    import mailparser  # heavy: only a pass that composes needs it

    _quiet_mailparser()
    if len(raw) > MAX_READ_BYTES:
        # The quoted message is fetched whole; a draft quotes 120 lines and 200,000 characters of HTML at
        # most, so reading more only costs time and memory (a 50 MB body: seconds and hundreds of MB).
        log.info("a message of %d bytes: only its first %d are read for quoting", len(raw), MAX_READ_BYTES)
        raw = raw[:MAX_READ_BYTES]
    _reading.where = where
    try:
        parsed = mailparser.parse_from_bytes(raw)
    except Exception as exc:  # a broken message is reported by the caller, never fatal
        log.warning("%s: cannot parse its body (%s); quoting nothing", where, type(exc).__name__)
        return "", None
    finally:
        _reading.where = "a message"
    markup = "\n".join(parsed.text_html) if parsed.text_html else None
    if parsed.text_plain:
        text = "\n".join(parsed.text_plain)
    elif markup:
        text = html_to_text(markup)
    else:
        return "", None
    return _normalise(text), markup


def html_to_text(markup: str) -> str:
    text = _DROP.sub("", markup)
    text = _BREAK.sub("\n", text)
    return html.unescape(_TAG.sub("", text))


def _normalise(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)
