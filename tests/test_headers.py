from datetime import datetime, timezone

from mail_followup.headers import parse_header_block

WHEN = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_parses_threading_people_and_marks() -> None:
    raw = (
        b"Message-ID: <a@x.example>\r\n"
        b"In-Reply-To: <b@x.example>\r\n"
        b"References: <c@x.example>\r\n <b@x.example>\r\n"
        b"From: =?utf-8?q?J=C3=B8rn_Berg?= <Jorn@X.example>\r\n"
        b"To: Kim <kim@y.example>, other@z.example\r\n"
        b"Subject: =?iso-8859-1?q?Re:_S=F8knad?=\r\n"
        b"Date: Tue, 01 Dec 2026 10:00:00 +0100\r\n"
        b"Auto-Submitted: auto-replied\r\n\r\n"
    )
    mail = parse_header_block("INBOX", 7, raw, (b"\\Seen",), WHEN)
    assert mail.message_id == "<a@x.example>"
    assert mail.in_reply_to == ("<b@x.example>",)
    assert mail.references == ("<c@x.example>", "<b@x.example>")
    assert mail.sender is not None and mail.sender.name == "Jørn Berg" and mail.sender.address == "jorn@x.example"
    assert [a.address for a in mail.to] == ["kim@y.example", "other@z.example"]
    assert mail.subject == "Re: Søknad"
    assert mail.date == datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert mail.auto_reply and not mail.bulk
    assert mail.flags == frozenset({"\\Seen"})
    assert mail.problems == ()


def test_a_missing_message_id_gets_a_stable_key() -> None:
    raw = b"From: a@x.example\r\nSubject: hi\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n\r\n"
    one = parse_header_block("Sent", 1, raw)
    two = parse_header_block("Sent", 99, raw)
    assert one.message_id == two.message_id and one.message_id.endswith("@missing-message-id.mail-followup.invalid>")
    assert any("no Message-ID" in p for p in one.problems)


def test_broken_input_is_recorded_never_raised() -> None:
    raw = (
        b"Message-ID: <m@x.example>\r\nFrom: \xff\xfe <<<\r\nTo: ,,,@@\r\n"
        b"Subject: =?unknown-8bit?b?////?= \r\nDate: yesterday-ish\r\n\r\n"
    )
    mail = parse_header_block("INBOX", 3, raw, internaldate=WHEN)
    assert mail.date == WHEN  # falls back to the server's arrival time
    assert mail.sender is None or "@" in mail.sender.address
    assert mail.problems


def test_no_value_keeps_a_line_break() -> None:
    # An encoded newline must not survive into anything we might copy into a header.
    raw = b"Message-ID: <m@x.example>\r\nSubject: =?utf-8?q?Hi=0D=0ABcc:_evil@x.example?=\r\n\r\n"
    mail = parse_header_block("INBOX", 3, raw)
    assert "\n" not in mail.subject and "\r" not in mail.subject


def test_list_mail_is_bulk() -> None:
    raw = b"Message-ID: <m@x.example>\r\nList-Id: <team.lists.example>\r\n\r\n"
    assert parse_header_block("Sent", 1, raw).bulk
