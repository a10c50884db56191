from datetime import datetime, time, timedelta
from email import message_from_bytes, policy
from zoneinfo import ZoneInfo

from mail_followup.core.compose import Quoted, Sender, as_bytes, compose
from mail_followup.config import Settings
from mail_followup.core.headers import Addr, Mail
from mail_followup.core.policy import decide
from mail_followup.core.threads import build_threads
from mail_followup.core.timing import Calendar

OSLO = ZoneInfo("Europe/Oslo")
CAL = Calendar(OSLO, ((time(8, 0), time(17, 0)),), frozenset())
ME = Addr("Kari Nordmann", "me@example.org")
NOW = datetime(2026, 12, 9, 9, 30, tzinfo=OSLO)


def sent(mid: str, days_ago: int, subject: str = "Coffee next week?", refs: tuple[str, ...] = (),
         to: tuple[Addr, ...] = (Addr("Kim Berg", "kim@example.com"),), cc: tuple[Addr, ...] = ()) -> Mail:
    return Mail("Sent", 1, mid, refs[-1:], refs, ME, to, cc, subject, NOW - timedelta(days=days_ago))


def draft(mails: list[Mail], latest: str = "Would you like a coffee?", original: str | None = None, **kw):
    (thread,) = build_threads(mails, [ME.address])
    decision = decide(thread, Settings(timezone="Europe/Oslo"), CAL, NOW, drafted=())
    assert decision.state == "due"
    msg = compose(thread, decision, (ME.address, "alias@example.org"), NOW, Quoted(latest),
                  Quoted(original) if original is not None else None, **kw)
    return thread, decision, message_from_bytes(as_bytes(msg), policy=policy.default)


def test_headers_thread_the_draft_and_mark_it() -> None:
    mails = [sent("<a@x>", 20), sent("<b@x>", 10, "Re: Coffee next week?", ("<a@x>",))]
    _, _, msg = draft(mails, original="First text")
    assert msg["In-Reply-To"] == "<b@x>"
    assert msg["References"] == "<a@x> <b@x>"
    assert msg["Subject"] == "Re: Coffee next week?"
    assert msg["From"] == "Kari Nordmann <me@example.org>"
    assert msg["To"] == "Kim Berg <kim@example.com>"
    assert msg["X-Mail-Followup-For"] == "<a@x>"
    assert msg["X-Mail-Followup-Attempt"] == "2"
    assert msg["Date"] == "Wed, 09 Dec 2026 09:30:00 +0100"
    assert msg["Message-ID"].endswith("@example.org>")
    assert not msg.defects and all(not v.defects for v in msg.values() if hasattr(v, "defects"))


def test_the_user_is_never_a_recipient_and_prefixes_do_not_stack() -> None:
    to = (Addr("", "me@example.org"), Addr("Kim", "kim@example.com"))
    cc = (Addr("", "alias@example.org"), Addr("Ola", "ola@example.no"))
    _, _, msg = draft([sent("<a@x>", 10, "SV: Re: AW: Offer", to=to, cc=cc)])
    assert msg["To"] == "Kim <kim@example.com>" and msg["Cc"] == "Ola <ola@example.no>"
    assert msg["Subject"] == "Re: Offer"


def test_body_greets_by_first_name_and_quotes_latest_then_original() -> None:
    mails = [sent("<a@x>", 20), sent("<b@x>", 10, "Re: Coffee next week?", ("<a@x>",))]
    _, decision, msg = draft(mails, latest="Just checking in.", original="Would you like a coffee?\nKari")
    body = text_of(msg)
    assert body.startswith("Hi Kim,\n\n")
    assert "> Just checking in." in body
    assert ">> Would you like a coffee?\n>> Kari" in body
    assert body.index("Just checking in.") < body.index("Would you like a coffee?")
    assert "Kari Nordmann\n\nOn Sun, 29 Nov 2026 at 09:30, Kari Nordmann <me@example.org> wrote:" in body
    # the second follow-up is the last one allowed: it asks whether to stop (R11)
    assert decision.attempt_kind == "last" and "stop following up" in body


def test_a_latest_message_that_quotes_already_is_not_quoted_twice() -> None:
    mails = [sent("<a@x>", 20), sent("<b@x>", 10, "Re: Coffee next week?", ("<a@x>",))]
    _, _, msg = draft(mails, latest="Checking in.\n\n> Would you like a coffee?", original="Would you like a coffee?")
    assert text_of(msg).count("Would you like a coffee?") == 1


def test_long_originals_are_trimmed_visibly() -> None:
    _, _, msg = draft([sent("<a@x>", 10)], latest="\n".join(f"line {i}" for i in range(500)))
    body = text_of(msg)
    assert "line 119" in body and "line 120" not in body and "380 more lines not quoted" in body


def test_signature_and_name_from_the_config_win() -> None:
    _, _, msg = draft([sent("<a@x>", 10)], sender=Sender(name="K. N.", signature="Kari\n+47 400 00 000"))
    assert "Best regards,\nKari\n+47 400 00 000\n" in text_of(msg)


def test_several_recipients_get_a_neutral_greeting() -> None:
    to = (Addr("Kim Berg", "kim@example.com"), Addr("Ola", "ola@example.no"))
    _, _, msg = draft([sent("<a@x>", 10, to=to)])
    assert text_of(msg).startswith("Hi,\n")


def test_non_ascii_names_and_subjects_are_encoded() -> None:
    to = (Addr("Jørn Æsøy", "jorn@example.no"),)
    _, _, msg = draft([sent("<a@x>", 10, "Søknad: utvikler", to=to)])
    raw = as_bytes_of(msg)
    assert raw.isascii()
    assert msg["Subject"] == "Re: Søknad: utvikler" and str(msg["To"]) == "Jørn Æsøy <jorn@example.no>"
    assert text_of(msg).startswith("Hi Jørn,")


def text_of(msg) -> str:
    return msg.get_body(("plain",)).get_content().replace("\r\n", "\n")


def as_bytes_of(msg) -> bytes:
    return msg.as_bytes(policy=policy.SMTP)


def test_consecutive_attempts_read_differently() -> None:
    first = text_of(draft([sent("<a@x>", 20)])[2])
    second = draft([sent("<a@x>", 20), sent("<b@x>", 10, "Re: Coffee next week?", ("<a@x>",))])[2]
    assert first.split("\n\n")[1:3] != text_of(second).split("\n\n")[1:3]


def test_mail_parsers_complaints_name_the_message_in_our_log_and_never_reach_stderr(capfd, caplog) -> None:
    """mail-parser logs a broken encoded word at ERROR through logging's last resort (stderr), nameless."""
    import logging

    from mail_followup.core.bodies import read_body

    caplog.set_level(logging.DEBUG, logger="mail_followup")
    text, _ = read_body(b"From: a@b.example\r\nSubject: =?utf-8?b?A?=\r\n\r\nhello\r\n", "acct: INBOX UID 7")
    assert text.strip() == "hello"
    assert capfd.readouterr().err == ""
    assert any("acct: INBOX UID 7: mail-parser: Failed decoding header part" in r.getMessage()
               for r in caplog.records)
