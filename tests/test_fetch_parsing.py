"""FETCH responses as imaplib hands them over, parsed without a server (byte literals, as imapclient tests)."""

from datetime import datetime, timedelta, timezone

from mail_followup.imap.responses import parse_fetch, uid_ranges

SECTION = b"BODY[HEADER.FIELDS (MESSAGE-ID FROM)]"
HEADERS = b"From: a@b.example\r\nMessage-ID: <x@y>\r\n\r\n"


def test_dovecot_shape_uid_before_the_literal() -> None:
    data = [(b'1 (UID 7 FLAGS (\\Seen $FollowUp) INTERNALDATE "25-Nov-2026 13:28:55 -0130" ' + SECTION + b" {44}",
             HEADERS), b")"]
    record = parse_fetch(data)[7]
    assert record[b"FLAGS"] == (b"\\Seen", b"$FollowUp")
    assert record[b"INTERNALDATE"] == datetime(2026, 11, 25, 13, 28, 55, tzinfo=timezone(-timedelta(hours=1, minutes=30)))
    assert record[SECTION] == HEADERS


def test_pymap_shape_uid_after_the_literal_and_several_responses() -> None:
    data = [(b'1 (FLAGS () INTERNALDATE "01-Dec-2026 09:00:00 +0100" ' + SECTION + b" {44}", HEADERS), b" UID 101)",
            (b'2 (FLAGS (\\Seen) INTERNALDATE "02-Dec-2026 09:00:00 +0100" ' + SECTION + b" {44}", HEADERS), b" UID 102)"]
    parsed = parse_fetch(data)
    assert sorted(parsed) == [101, 102] and parsed[101][b"FLAGS"] == () and parsed[102][SECTION] == HEADERS


def test_flag_changes_with_modseq_and_a_gmail_thread_id() -> None:
    data = [b"3 (UID 9 MODSEQ (12345) FLAGS (\\Seen))", b"4 (X-GM-THRID 1278455344230334865 UID 10 FLAGS ())"]
    parsed = parse_fetch(data)
    assert parsed[9] == {b"FLAGS": (b"\\Seen",), b"MODSEQ": 12345}
    assert parsed[10][b"X-GM-THRID"] == 1278455344230334865


def test_a_shape_it_does_not_know_goes_to_imapclients_parser() -> None:
    data = [b'1 (UID 5 BODY[HEADER.FIELDS (SUBJECT)] "Subject: hi")']  # a quoted string, not a literal
    assert parse_fetch(data)[5][b"BODY[HEADER.FIELDS (SUBJECT)]"] == b"Subject: hi"


def test_uid_ranges() -> None:
    assert uid_ranges([7, 1, 2, 3, 9, 10]) == "1:3,7,9:10"
    assert uid_ranges([5]) == "5"


def test_a_search_answer_for_a_million_messages_fits_in_one_line() -> None:
    """imaplib's default 1,000,000-byte line limit fails a SEARCH over 150,000 messages; found at 1M."""
    import imaplib

    import mail_followup.imap.connection  # noqa: F401  (it raises the limit)

    one_million_uids = len(" ".join(str(uid) for uid in range(1, 1_000_001)))
    assert imaplib._MAXLINE > one_million_uids
