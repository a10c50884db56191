from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from mail_followup.core.headers import parse_header_block

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


def test_an_encoded_word_cannot_smuggle_in_an_address() -> None:
    raw = b"Message-ID: <m@x.example>\r\nFrom: =?utf-8?q?=3Cevil=40attacker.example=3E?= <real@y.example>\r\n\r\n"
    mail = parse_header_block("INBOX", 1, raw)
    assert mail.sender is not None and mail.sender.address == "real@y.example"
    assert mail.sender.name == "<evil@attacker.example>"  # kept as a name, never as an address


def test_quoted_names_with_commas_and_unusual_forms() -> None:
    raw = (b'Message-ID: <m@x.example>\r\nTo: "Berg, Kim" <Kim@X.example>, ola@y.example,\r\n'
           b" =?utf-8?q?J=C3=B8rn?= <jorn@z.example>\r\nCc: Group: a@b.example, c@d.example;\r\n\r\n")
    mail = parse_header_block("INBOX", 1, raw)
    assert [(a.name, a.address) for a in mail.to] == [
        ("Berg, Kim", "kim@x.example"), ("", "ola@y.example"), ("Jørn", "jorn@z.example")]
    assert [a.address for a in mail.cc] == ["a@b.example", "c@d.example"]  # the strict parser's job


NAMES = st.text(alphabet=st.characters(whitelist_categories=("L",), max_codepoint=0x17F), min_size=1, max_size=12)
LOCAL = st.from_regex(r"[a-z][a-z0-9.+_-]{0,10}[a-z0-9]", fullmatch=True).filter(lambda s: ".." not in s)
DOMAIN = st.from_regex(r"[a-z][a-z0-9-]{0,8}\.(example|org|no)", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.one_of(st.just(""), NAMES), LOCAL, DOMAIN, st.booleans()), min_size=1, max_size=4))
def test_the_fast_address_path_agrees_with_the_strict_parser(items) -> None:
    from email import policy

    from mail_followup.core.headers import _addresses

    parts = []
    for name, local, domain, quoted in items:
        address = f"{local}@{domain}"
        parts.append(address if not name else (f'"{name}" <{address}>' if quoted else f"{name} <{address}>"))
    value = ", ".join(parts)
    fast = _addresses(value, "To", [])
    strict = policy.default.header_factory("To", value).addresses
    assert [(a.name, a.address) for a in fast] == [(a.display_name, a.addr_spec.lower()) for a in strict]


@pytest.mark.parametrize("value", [
    "Tue, 01 Dec 2026 10:00:00 +0100", "1 Dec 2026 10:00 -0530", "Wed,  9 Dec 2026 23:59:59 +0000",
    "Mon, 31 Feb 2026 10:00:00 +0100", "Tue, 01 Dec 2026 10:00:00 GMT", "01 Dec 2026 10:00:00 +0100 (CET)",
])
def test_the_fast_date_path_agrees_with_the_email_package(value: str) -> None:
    from email.utils import parsedate_to_datetime

    from mail_followup.core.headers import _date

    try:
        expected = parsedate_to_datetime(value)
    except ValueError:
        expected = WHEN  # unreadable: the server's arrival time
    expected = expected if expected.tzinfo else expected.replace(tzinfo=timezone.utc)
    assert _date(value, WHEN, []) == expected


def test_encoded_words_beside_raw_utf8_are_decoded() -> None:
    """A subject with raw UTF-8 (RFC 6532) and an encoded word: both read, so a draft never says
    "Re: =?utf-8?q?...?=" and the answer's subject matches its original."""
    raw = ("Message-ID: <m@x.example>\r\nSubject: Re: =?utf-8?q?Caf=C3=A9?= på fredag\r\n"
           "From: =?iso-8859-1?q?J=F8rn?= Bjørnstad <jorn@x.example>\r\n\r\n").encode()
    mail = parse_header_block("INBOX", 1, raw)
    assert mail.subject == "Re: Café på fredag"
    assert mail.sender is not None and mail.sender.name == "Jørn Bjørnstad"
    broken = parse_header_block("INBOX", 2, "Message-ID: <n@x.example>\r\nSubject: Ø =?x-unknown?q?abc?=\r\n\r\n"
                                .encode())
    assert broken.subject == "Ø =?x-unknown?q?abc?="  # an unknown charset: kept as it came
