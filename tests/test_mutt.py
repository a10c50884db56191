"""A real mail client (neomutt) opens drafts in Dovecot's Drafts folder and
shows the decoded headers and body: RFC 2047 subjects and names,
quoted-printable and base64 bodies, text/plain out of multipart/alternative.

Skipped where neomutt is not installed, except in CI (CI=true), which
installs it (.ci/run) and so fails instead.
"""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid


from imapservers import ImapAccount
from mutt import neomutt_read

SUBJECT = "Re: Søknad – Bewerbung för tjänsten"
FROM = "Åse Øvrebø <ase@example.org>"
TO = "Jürgen Groß <juergen@example.de>"
BODY = "Hei Jürgen,\n\ntakk for søknaden – vi hører fra oss innen fredag.\n\nÅse\n"
PLAIN = "Hej igen,\n\n> quoted line\n\nVi återkommer på måndag.\n"
HTML = "<p>Hej igen,</p><blockquote>quoted line</blockquote><p>HTML-only text</p>"


def _draft(subject: str, date: str) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = FROM
    msg["To"] = TO
    msg["Subject"] = subject
    msg["Date"] = date
    msg["Message-ID"] = make_msgid(domain="example.org")
    return msg


def _shown(text: str) -> tuple[dict[str, str], str]:
    """(headers by lower-case name, unfolded; body) of one neomutt text."""
    head, sep, body = text.partition("\n\n")
    assert sep, f"no blank line after the headers: {text!r}"
    headers: dict[str, str] = {}
    for field in re.split(r"\n(?![ \t])", head):
        name, _, value = field.partition(":")
        headers[name.strip().lower()] = " ".join(value.split())
    return headers, body


def test_neomutt_shows_drafts_decoded(neomutt_installed: str, dovecot_account: ImapAccount) -> None:
    qp = _draft(SUBJECT, "Mon, 01 Jan 2024 10:00:00 +0100")
    qp.set_content(BODY, cte="quoted-printable")
    alternative = _draft("Re: " + SUBJECT, "Mon, 01 Jan 2024 11:00:00 +0100")
    alternative.set_content(PLAIN, cte="base64")
    alternative.add_alternative(HTML, subtype="html")
    raws = [qp.as_bytes(), alternative.as_bytes()]
    # Nothing readable in the raw bytes: neomutt has to decode it all.
    assert b"=?utf-8?" in raws[0] and b"=C3=B8" in raws[0] and "søknaden".encode() not in raws[0]
    assert b"quoted line" not in raws[1].split(b"text/html")[0]
    for raw in raws:
        dovecot_account.append("Drafts", raw, flags=[b"\\Draft"])

    texts = neomutt_read(
        dovecot_account.host, dovecot_account.port,
        dovecot_account.username, dovecot_account.password, "Drafts",
    )

    assert len(texts) == 2, texts
    (h1, body1), (h2, body2) = (_shown(t) for t in texts)
    assert h1["subject"] == SUBJECT
    assert h1["from"] == FROM and h1["to"] == TO
    assert h1["date"] == "Mon, 01 Jan 2024 10:00:00 +0100"
    assert "takk for søknaden – vi hører fra oss innen fredag." in body1
    assert body1.splitlines()[0] == "Hei Jürgen,"

    assert h2["subject"] == "Re: " + SUBJECT
    assert h2["from"] == FROM and h2["to"] == TO
    assert h2["date"] == "Mon, 01 Jan 2024 11:00:00 +0100"
    assert "> quoted line" in body2.splitlines()
    assert "Vi återkommer på måndag." in body2
    assert "HTML-only" not in body2 and "<p>" not in body2  # text/plain chosen

    # Opened read-only: the drafts are not marked \Seen.
    assert [flags for _uid, flags, _raw in dovecot_account.messages("Drafts")] == [(b"\\Draft",)] * 2


def test_neomutt_empty_folder(neomutt_installed: str, dovecot_account: ImapAccount) -> None:
    assert neomutt_read(
        dovecot_account.host, dovecot_account.port,
        dovecot_account.username, dovecot_account.password, "Drafts",
    ) == []


def test_neomutt_reads_the_drafts_the_product_writes(dovecot_account: ImapAccount, neomutt_installed: str,
                                                     tmp_path, monkeypatch, capsys) -> None:
    """The whole way: a pass writes drafts, in English and in German with an HTML original; neomutt shows
    the subject, the new text and the quote of each."""
    from scenario import ME, WEDNESDAY, at, by_subject, scan_json, seed, write_config

    monkeypatch.setenv("MF_TEST_PASSWORD", dovecot_account.password)
    seed(dovecot_account)
    german = EmailMessage()
    german["From"], german["To"] = f"Kari <{ME}>", "Jürgen Groß <juergen@gross-gmbh.de>"
    german["Subject"], german["Message-ID"] = "Bewerbung für die Stelle", "<bewerbung@example.org>"
    german["Date"] = "Tue, 01 Dec 2026 15:00:00 +0100"
    german.set_content("Sehr geehrter Herr Groß,\n\nanbei meine Unterlagen. Über eine Rückmeldung von Ihnen "
                       "würde ich mich sehr freuen.\n\nMit freundlichen Grüßen\nKari")
    german.add_alternative("<p>Sehr geehrter Herr Groß,</p><p>anbei meine Unterlagen.<script>x()</script></p>",
                           subtype="html")
    dovecot_account.append("Sent", german.as_bytes(policy=policy.SMTP), flags=(b"\\Seen",), when=at(WEDNESDAY))
    config = write_config(tmp_path, dovecot_account)
    code, report = scan_json(config, WEDNESDAY, capsys)
    assert code == 0, report["errors"]
    assert by_subject(report)["Bewerbung für die Stelle"]["language"] == "de"
    shown = neomutt_read(dovecot_account.host, dovecot_account.port, dovecot_account.username,
                         dovecot_account.password, "Drafts")
    assert len(shown) == 2, shown
    english = next(t for t in shown if "Coffee" in t)
    assert "Subject: Re: Coffee next week?" in english and "Hi Kim," in english
    assert "> Would you have time for a coffee next week?" in english
    german_shown = next(t for t in shown if "Bewerbung" in t)
    assert "Subject: Re: Bewerbung für die Stelle" in german_shown
    assert "Sehr geehrter Herr Groß," in german_shown and "Mit freundlichen Grüßen" in german_shown
    assert "schrieb Kari" in german_shown and "> anbei meine Unterlagen." in german_shown
    assert "<script" not in german_shown
