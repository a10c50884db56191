"""Building test messages: raw RFC 5322 bytes and parsed ``Mail`` records."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mail_followup.core.headers import Addr, Mail

ME = "me@example.org"


def raw_mail(
    sender: str,
    to: str,
    subject: str,
    when: datetime,
    mid: str,
    body: str = "Hello.\n",
    in_reply_to: str | None = None,
    extra: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = mid
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for key, value in (extra or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def mail(
    mid: str,
    sender: str,
    to: tuple[str, ...],
    when: datetime,
    subject: str = "Coffee next week?",
    in_reply_to: tuple[str, ...] = (),
    folder: str = "Sent",
    uid: int = 1,
    **kw: object,
) -> Mail:
    return Mail(
        folder=folder, uid=uid, message_id=mid, in_reply_to=in_reply_to, references=in_reply_to,
        sender=Addr("", sender), to=tuple(Addr("", a) for a in to), subject=subject, date=when, **kw,  # type: ignore[arg-type]
    )
