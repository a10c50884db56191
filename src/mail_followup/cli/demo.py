"""`mail-followup demo`: the whole loop on sample mail, with nothing of yours involved.

It starts a private pymap IMAP server on 127.0.0.1, seeds threads in
English, German, Swedish and Norwegian that cover the cases that matter
(due, answered, answered without threading headers, an auto-reply only, an
out-of-office with a return date, bounced, not yet due, capped, a mailing
list), runs one real scan with a fixed date, prints the status and the
drafts, and stops.
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import TextIO

from imapclient import IMAPClient

ME = "kari@demo.example"
NOW = datetime.fromisoformat("2026-12-09T09:30:00+01:00")  # a Wednesday morning in Oslo

CONFIG = """\
state_dir: {state}
defaults:
  timezone: Europe/Oslo
  country: "NO"
accounts:
  - name: demo
    imap: {{host: 127.0.0.1, port: {port}, security: none, username: demo}}
    addresses: [{me}]
"""


def _mail(sender: str, to: str, subject: str, when: datetime, body: str, mid: str,
          reply_to: str | None = None, extra: dict[str, str] | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{mid}@demo.example>"
    if reply_to:
        msg["In-Reply-To"] = f"<{reply_to}@demo.example>"
        msg["References"] = f"<{reply_to}@demo.example>"
    for key, value in (extra or {}).items():
        msg[key] = value
    msg.set_content(body)
    return msg.as_bytes(policy=SMTP)


def _day(days_before: int, hour: int = 10) -> datetime:
    return (NOW - timedelta(days=days_before)).replace(hour=hour, minute=12)


def sample_mail() -> list[tuple[str, bytes, datetime]]:
    """(folder, message, date) for every sample message."""
    me = f"Kari Nordmann <{ME}>"
    items = [
        # Due: sent nine days ago in the afternoon (so its follow-up comes in a morning), nobody answered.
        ("Sent", _mail(me, "Kim Berg <kim@example.com>", "Coffee next week?", _day(9, 15),
                       "Hi Kim,\n\nWould you have time for a coffee next week? "
                       "I'd love to hear about your new team.\n\nKari", "coffee")),
        # Answered in the thread.
        ("Sent", _mail(me, "hr@acme.example", "Application: backend developer", _day(19),
                       "Hello,\n\nPlease find my application for the backend developer role attached.\n\nKari",
                       "application")),
        ("INBOX", _mail("Acme HR <hr@acme.example>", me, "Re: Application: backend developer", _day(16),
                        "Thank you, Kari! We'll be in touch.", "application-reply", reply_to="application")),
        # Answered by a client that drops threading headers: same subject, from the recipient.
        ("Sent", _mail(me, "Ola Hansen <ola@firma.example>", "Quote for the website", _day(12),
                       "Hi Ola,\n\nHere is the quote we talked about.\n\nKari", "quote")),
        ("Archive", _mail("Ola Hansen <ola@firma.example>", me, "SV: Quote for the website", _day(10),
                          "Looks good, let's talk on Monday.", "quote-reply")),
        # Only an out-of-office came back: still waiting, and due.
        ("Sent", _mail(me, "Sam Lee <sam@example.net>", "Speaking at our meetup", _day(12, 14),
                       "Hi Sam,\n\nWould you like to give a talk at our January meetup?\n\nKari", "meetup")),
        ("INBOX", _mail("Sam Lee <sam@example.net>", me, "Automatic reply: Speaking at our meetup", _day(12, 15),
                        "I am out of the office until December 2.", "meetup-ooo", reply_to="meetup",
                        extra={"Auto-Submitted": "auto-replied"})),
        # Answered outside the thread: the recruiter wrote back in a new thread, with a new subject.
        ("Sent", _mail(me, "jobs@nordic.example", "Application: UX designer", _day(14),
                       "Hello,\n\nI would like to apply for the UX designer position; my portfolio is attached.\n\n"
                       "Kari", "ux")),
        ("INBOX", _mail("Eva Holm <eva.holm@nordic.example>", me, "Interview invitation", _day(5),
                        "Hi Kari, thank you for your application. Could you come by on Friday at ten?", "ux-invite")),
        # Too recent: waiting.
        ("Sent", _mail(me, "Maria Nilsson <maria@example.se>", "Intro: Maria and Jonas", _day(2),
                       "Hi Maria,\n\nAs promised, meet Jonas, who is hiring designers.\n\nKari", "intro")),
        # Two follow-ups already sent: capped.
        ("Sent", _mail(me, "Lena Fischer <lena@werkstatt.example>", "Joint workshop idea", _day(37),
                       "Hi Lena,\n\nI have an idea for a joint workshop of our teams.\n\nKari", "partner")),
        ("Sent", _mail(me, "Lena Fischer <lena@werkstatt.example>", "Re: Joint workshop idea", _day(29),
                       "Hi Lena,\n\nJust checking in on the idea below.\n\nKari", "partner-2", reply_to="partner")),
        ("Sent", _mail(me, "Lena Fischer <lena@werkstatt.example>", "Re: Joint workshop idea", _day(21),
                       "Hi Lena,\n\nShould I stop following up on this?\n\nKari", "partner-3", reply_to="partner-2")),
        # German, due: the follow-up is written in German, in the Sie form of the original.
        ("Sent", _mail(me, "Jürgen Groß <juergen@firma.example.de>", "Bewerbung als Entwicklerin", _day(9, 15),
                       "Sehr geehrter Herr Groß,\n\nanbei sende ich Ihnen meine Bewerbungsunterlagen für die "
                       "ausgeschriebene Stelle. Über eine Rückmeldung von Ihnen würde ich mich sehr freuen.\n\n"
                       "Mit freundlichen Grüßen\nKari Nordmann", "bewerbung")),
        # Swedish, an out-of-office with a return date: waiting until after it.
        ("Sent", _mail(me, "Anna Lind <anna@exempel.se>", "Fika nästa vecka?", _day(9, 15),
                       "Hej Anna,\n\nhar du tid för en fika nästa vecka? Jag vill gärna höra hur det går med "
                       "projektet.\n\nHälsningar\nKari", "fika")),
        ("INBOX", _mail("Anna Lind <anna@exempel.se>", me, "Frånvaro: Fika nästa vecka?", _day(9, 16),
                        "Jag är på semester och tillbaka den 14 december.", "fika-ooo", reply_to="fika",
                        extra={"Auto-Submitted": "auto-replied"})),
        # Norwegian, bounced: the address does not exist; tracking ends.
        ("Sent", _mail(me, "Ola Nordmann <ola@feil.example.no>", "Søknad: rådgiver", _day(6, 15),
                       "Hei Ola,\n\nvedlagt er søknaden min på stillingen som rådgiver.\n\nMed vennlig hilsen\n"
                       "Kari", "soknad")),
        ("INBOX", _mail("Mail Delivery System <MAILER-DAEMON@mx.demo.example>", me,
                        "Undelivered Mail Returned to Sender", _day(6, 16),
                        "The mail to ola@feil.example.no could not be delivered: no such user.", "soknad-bounce",
                        extra={"X-Failed-Recipients": "ola@feil.example.no"})),
        # A mailing list expects no answer.
        ("Sent", _mail(me, "team@lists.example", "Minutes of Tuesday's meeting", _day(10),
                       "Minutes attached.", "minutes", extra={"List-Id": "<team.lists.example>"})),
    ]
    return [(folder, raw, _date_of(raw)) for folder, raw in items]


def _date_of(raw: bytes) -> datetime:
    from email import message_from_bytes
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(message_from_bytes(raw)["Date"])


def readable(raw: bytes) -> str:
    """A draft as a person reads it: the headers that matter, then the decoded text."""
    from email import message_from_bytes, policy

    msg = message_from_bytes(raw, policy=policy.default)
    names = ("From", "To", "Cc", "Subject", "Date", "In-Reply-To", "X-Mail-Followup-For", "X-Mail-Followup-Attempt")
    head = "".join(f"{n}: {msg[n]}\n" for n in names if msg[n] is not None)
    body = msg.get_body(("plain",))
    return head + "\n" + (body.get_content() if body is not None else "")


def seed(host: str, port: int, username: str, password: str) -> None:
    with IMAPClient(host, port=port, ssl=False) as client:
        client.login(username, password)
        for folder, raw, when in sample_mail():
            client.append(folder, raw, flags=(b"\\Seen",), msg_time=when)


def run_demo(out: TextIO) -> int:
    import os

    from mail_followup.cli.demo_server import PymapServer
    from mail_followup.config import load_config
    from mail_followup.imap.mailbox import Mailbox
    from mail_followup.service.report import table
    from mail_followup.service.scan import scan

    password = "demo-" + os.urandom(6).hex()
    with tempfile.TemporaryDirectory(prefix="mail-followup-demo-") as tmp, \
            PymapServer(username="demo", password=password) as server:
        out.write(f"Started a private IMAP server (pymap) on {server.host}:{server.port}; "
                  f"nothing leaves this machine.\n")
        seed(server.host, server.port, server.username, password)
        config_path = Path(tmp) / "config.yaml"
        config_path.write_text(CONFIG.format(state=Path(tmp) / "state", port=server.port, me=ME))
        config = load_config(config_path)
        out.write(f"Seeded {len(sample_mail())} messages. Scanning as if it were {NOW.isoformat()} (a Wednesday).\n\n")
        result = scan(config, NOW, secret=lambda _account: password)
        out.write(table([t for a in result.accounts for t in a.reports()], NOW, verbose=True))
        for error in (e for a in result.accounts for e in a.errors):
            out.write(f"error: {error}\n")
        account = config.accounts[0]
        with Mailbox.connect(account, lambda _a: password) as mailbox:
            drafts = mailbox.discover(account.folders).drafts
            mailbox.examine(drafts)
            found = mailbox.fetch_bodies(drafts, sorted(mailbox.client.search(["ALL"])), limit=None)
            out.write(f"\n{len(found)} draft(s) in {drafts}:\n")
            for uid in sorted(found):
                out.write("\n" + "-" * 72 + "\n" + readable(found[uid]))
        out.write("-" * 72 + "\nThe server is stopped and its mail is gone. Next: copy config.example.yaml "
                  "to ~/.config/mail-followup/config.yaml and run `mail-followup scan --dry-run`.\n")
        return 0 if result.ok else 1
