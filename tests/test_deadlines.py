"""Reading the date by which someone promised to come back ("we'll decide by Friday")."""

from __future__ import annotations

from datetime import date, datetime
from importlib import resources
from zoneinfo import ZoneInfo

import pytest
import yaml

from mail_followup.core.deadlines import PHRASE_MAX, Promise, promised_date

OSLO = ZoneInfo("Europe/Oslo")
SENT = datetime(2026, 12, 2, 10, 0, tzinfo=OSLO)  # a Wednesday, in ISO week 49

THIS_FRIDAY = date(2026, 12, 4)
NEXT_WEDNESDAY = date(2026, 12, 9)
NEXT_FRIDAY = date(2026, 12, 11)  # the Friday of next week
TWO_WEEKS = date(2026, 12, 16)
WEEK_51 = date(2026, 12, 18)  # the Friday of ISO week 51
MONTH_END = date(2026, 12, 31)

POSITIVE = [
    # English
    ("en", "We will get back to you by December 11.", NEXT_FRIDAY),
    ("en", "We expect to make a decision by Friday.", THIS_FRIDAY),
    ("en", "I'll let you know next week.", NEXT_FRIDAY),
    ("en", "You will hear from us within two weeks.", TWO_WEEKS),
    ("en", "We will get back to you by the end of next week.", NEXT_FRIDAY),
    ("en", "I'll get back to you by Wednesday.", NEXT_WEDNESDAY),
    ("en", "We'll let you know by the end of the month.", MONTH_END),
    ("en", "We will be in touch by 2026-12-11.", NEXT_FRIDAY),
    ("en", "We'll get back to you within 5 working days.", NEXT_WEDNESDAY),
    ("en", "We hope to make a decision by 8 January.", date(2027, 1, 8)),
    ("en", "I will get back to you this week.", THIS_FRIDAY),
    ("en", "By Friday we will let you know.", THIS_FRIDAY),
    ("en", "We will get back to you in week 51.", WEEK_51),
    ("en", "I'll let you know tomorrow.", date(2026, 12, 3)),
    ("en", "We will get back to you within a week or two.", TWO_WEEKS),
    ("en", "We'll get back to you next Friday.", NEXT_FRIDAY),
    ("en", "We will get back to you on Friday, December 11th.", NEXT_FRIDAY),
    ("en", "We'll let you know in January.", date(2027, 1, 31)),
    ("en", "We'll get back to you by 3 pm.", date(2026, 12, 2)),
    ("en", "We'll get back to you by noon.", date(2026, 12, 2)),  # read by dateparser
    ("en", "We will get back to you\nby Friday.", THIS_FRIDAY),
    ("en", "I was on holiday until Monday, but I will get back to you by Friday.", THIS_FRIDAY),
    ("en", "Please send us your documents, and we will get back to you within two weeks.", TWO_WEEKS),
    # German
    ("de", "Ich melde mich bis Freitag.", THIS_FRIDAY),
    ("de", "Wir melden uns bis zum 11. Dezember bei Ihnen.", NEXT_FRIDAY),
    ("de", "Sie hören bis Ende nächster Woche von uns.", NEXT_FRIDAY),
    ("de", "Wir melden uns innerhalb von zwei Wochen.", TWO_WEEKS),
    ("de", "Wir werden uns bis Freitag bei Ihnen melden.", THIS_FRIDAY),
    ("de", "Bis Freitag geben wir Ihnen Bescheid.", THIS_FRIDAY),
    ("de", "Ich gebe Ihnen nächste Woche Bescheid.", NEXT_FRIDAY),
    ("de", "Wir melden uns bis 11.12. Bitte schicken Sie uns bis Montag die Zeugnisse.", NEXT_FRIDAY),
    ("de", "Wir werden bis Ende des Monats entscheiden.", MONTH_END),
    ("de", "Ich melde mich diese Woche noch.", THIS_FRIDAY),
    ("de", "Wir melden uns in KW 51.", WEEK_51),
    ("de", "Wir melden uns bis Mittwoch.", NEXT_WEDNESDAY),
    ("de", "Wir melden uns spätestens am Freitag, den 11. Dezember.", NEXT_FRIDAY),
    ("de", "Wir werden Ihnen bis Ende der Woche Bescheid geben.", THIS_FRIDAY),
    ("de", "Wir kommen bis Freitag auf Sie zurück.", THIS_FRIDAY),
    ("de", "Sie erhalten bis 15 Uhr eine Antwort.", date(2026, 12, 2)),
    ("de", "Wir melden uns in vier Wochen.", date(2026, 12, 30)),
    # Swedish
    ("sv", "Vi återkommer nästa vecka.", NEXT_FRIDAY),
    ("sv", "Vi återkommer senast den 11 december.", NEXT_FRIDAY),
    ("sv", "Du får besked inom två veckor.", TWO_WEEKS),
    ("sv", "Jag hör av mig på fredag.", THIS_FRIDAY),
    ("sv", "Senast fredag återkommer vi.", THIS_FRIDAY),
    ("sv", "Vi återkommer i slutet av månaden.", MONTH_END),
    ("sv", "Vi återkommer under vecka 51.", WEEK_51),
    ("sv", "Vi räknar med att fatta beslut denna vecka.", THIS_FRIDAY),
    ("sv", "Vi återkommer med besked senast 11/12.", NEXT_FRIDAY),
    ("sv", "Vi ger dig besked i morgon.", date(2026, 12, 3)),
    ("sv", "Jag återkommer till dig den 11:e december.", NEXT_FRIDAY),
    ("sv", "Vi återkommer om två veckor.", TWO_WEEKS),
    ("sv", "Vi återkommer före jul.", date(2026, 12, 24)),
    ("sv", "Vi återkommer senast i slutet av nästa vecka.", NEXT_FRIDAY),
    # Norwegian (Bokmål)
    ("nb", "Jeg kommer tilbake til deg i løpet av neste uke.", NEXT_FRIDAY),
    ("nb", "Vi gir beskjed innen fredag.", THIS_FRIDAY),
    ("nb", "Du hører fra oss innen 15. desember.", date(2026, 12, 15)),
    ("nb", "Vi kommer tilbake til deg innen to uker.", TWO_WEEKS),
    ("nb", "Innen fredag gir vi deg beskjed.", THIS_FRIDAY),
    ("nb", "Du får svar innen utgangen av måneden.", MONTH_END),
    ("nb", "Vi gir beskjed i uke 51.", WEEK_51),
    ("nb", "Jeg tar kontakt med deg i morgen.", date(2026, 12, 3)),
    ("nb", "Vi kommer tilbake til deg innen 11.12.2026.", NEXT_FRIDAY),
    ("nb", "Vi gir deg beskjed denne uken.", THIS_FRIDAY),
    ("nb", "Vi tar en avgjørelse før jul.", date(2026, 12, 24)),
    ("nb", "Vi kommer tilbake til deg om en uke eller to.", TWO_WEEKS),
    ("nb", "Du får svar innen onsdag.", NEXT_WEDNESDAY),
    ("nb", "Vi gir beskjed innen kl. 15 i dag.", date(2026, 12, 2)),
]

NEGATIVE = [
    # English: no promise, a request to the user, a condition, no time, no cue
    ("en", "The interview is on Friday."),
    ("en", "I was on holiday until Monday."),
    ("en", "We met on 3 December."),
    ("en", "Please send your documents by Friday."),
    ("en", "We will get back to you."),
    ("en", "Thanks for your application!"),
    ("en", "Could you let us know by Friday?"),
    ("en", "We will get back to you once you have sent us your documents by Friday."),
    ("en", "If you send the documents by Friday we will get back to you."),
    ("en", "We will get back to you. The interview is on Friday."),
    ("en", "Unfortunately we cannot get back to you by Friday."),
    ("en", "We will get back to you as soon as possible."),
    ("en", "I'll get back to you in a bit."),  # dateparser would read "a" as 2 January
    # German
    ("de", "Das Gespräch war am Freitag."),
    ("de", "Ich war bis Montag im Urlaub."),
    ("de", "Wir haben uns am 3. Dezember getroffen."),
    ("de", "Bitte schicken Sie uns die Unterlagen bis Freitag."),
    ("de", "Wir melden uns."),
    ("de", "Vielen Dank für Ihre Bewerbung."),
    ("de", "Melden Sie sich bis Freitag."),
    ("de", "Könnten Sie uns bis Freitag Bescheid geben?"),
    ("de", "Wir melden uns, sobald Sie uns die Unterlagen bis Freitag geschickt haben."),
    ("de", "Wenn Sie die Unterlagen bis Freitag schicken, melden wir uns."),
    ("de", "Wir melden uns so schnell wie möglich."),
    ("de", "Wir melden uns bis zum 31.2."),  # no such day; dateparser would read a time of day
    # Swedish
    ("sv", "Vi ses på fredag!"),
    ("sv", "Jag var på semester till måndag."),
    ("sv", "Vi träffades den 3 december."),
    ("sv", "Skicka gärna dina betyg senast fredag."),
    ("sv", "Vi återkommer."),
    ("sv", "Tack för din ansökan."),
    ("sv", "Kan du ge besked senast fredag?"),
    ("sv", "Vi återkommer när du har skickat betygen senast fredag."),
    ("sv", "Intervjun är på fredag."),
    ("sv", "Vi återkommer om du skickar betygen senast fredag."),
    # Norwegian (Bokmål)
    ("nb", "Jeg er på ferie til mandag."),
    ("nb", "Intervjuet er på fredag."),
    ("nb", "Vi møttes 3. desember."),
    ("nb", "Send oss attestene innen fredag."),
    ("nb", "Vi kommer tilbake til deg."),
    ("nb", "Takk for søknaden din."),
    ("nb", "Kan du gi oss beskjed innen fredag?"),
    ("nb", "Vi kommer tilbake til deg når du har sendt attestene innen fredag."),
    ("nb", "Jeg kommer tilbake på mandag."),
    ("nb", "Vi ses på fredag."),
]


def _id(case: tuple[str, ...]) -> str:
    return f"{case[0]}: {case[1][:50]}"


@pytest.mark.parametrize("language, text, expected", POSITIVE, ids=[_id(c) for c in POSITIVE])
def test_reads_the_promised_day(language: str, text: str, expected: date) -> None:
    found = promised_date(text, SENT)
    assert found is not None
    assert (found.day, found.language) == (expected, language)
    assert 0 < len(found.phrase) <= PHRASE_MAX
    assert found.phrase in " ".join(text.split())


@pytest.mark.parametrize("language, text", NEGATIVE, ids=[_id(c) for c in NEGATIVE])
def test_reads_no_promise(language: str, text: str) -> None:
    assert promised_date(text, SENT) is None


def test_enough_cases_in_every_language() -> None:
    for code in _codes():
        assert sum(c[0] == code for c in POSITIVE) >= 8, code
        assert sum(c[0] == code for c in NEGATIVE) >= 6, code


def test_the_phrase_names_cue_and_time() -> None:
    english = promised_date("Thanks! We'll let you know by the end of next week. Best, Anna", SENT)
    assert english == Promise(NEXT_FRIDAY, "let you know by the end of next week", "en")
    german = promised_date("Wir melden uns bis zum 11.12.", SENT)
    assert german == Promise(NEXT_FRIDAY, "melden uns bis zum 11.12.", "de")


def test_a_date_out_of_range_is_skipped_and_the_next_one_read() -> None:
    text = "We'll get back to you by 5 January 2029, or at the latest next week."
    found = promised_date(text, SENT)
    assert found is not None and found.day == NEXT_FRIDAY


def test_the_first_promise_in_the_text_wins() -> None:
    text = "I'll let you know by Friday. The final decision will be made by 11 December."
    found = promised_date(text, SENT)
    assert found is not None and found.day == THIS_FRIDAY


@pytest.mark.parametrize("text, expected", [
    ("We will get back to you by 1 April.", date(2027, 4, 1)),  # 120 days after
    ("We will get back to you by 2 April.", None),
    ("We will get back to you by 1 December.", None),  # 1 December 2027
])
def test_a_promise_is_at_most_120_days_ahead(text: str, expected: date | None) -> None:
    found = promised_date(text, SENT)
    assert (found.day if found else None) == expected


def test_a_weekday_is_the_next_one_strictly_after_the_sent_day() -> None:
    friday = datetime(2026, 12, 4, 9, 0, tzinfo=OSLO)
    found = promised_date("I'll get back to you by Friday.", friday)
    assert found is not None and found.day == date(2026, 12, 11)


def test_days_count_from_the_senders_local_day() -> None:
    just_after_midnight = datetime(2026, 12, 3, 0, 30, tzinfo=OSLO)  # still 2 December in UTC
    found = promised_date("I'll let you know tomorrow.", just_after_midnight)
    assert found is not None and found.day == date(2026, 12, 4)


def test_every_data_file_has_the_same_keys() -> None:
    files = _data_files()
    assert set(files) >= {"en", "de", "sv", "nb"}
    reference = {key: type(value) for key, value in files["en"].items()}
    for code, data in files.items():
        assert {key: type(value) for key, value in data.items()} == reference, code
        assert len(data["weekdays"]) == 7 and len(data["months"]) == 12, code


def _data_files() -> dict[str, dict[str, object]]:
    folder = resources.files("mail_followup.core") / "phrases" / "deadlines"
    return {item.name.removesuffix(".yaml"): yaml.safe_load(item.read_text("utf-8"))
            for item in folder.iterdir() if item.name.endswith(".yaml")}


def _codes() -> list[str]:
    return sorted(_data_files())


def test_only_the_languages_whose_cue_was_found_have_their_patterns_compiled() -> None:
    """Compiling all four languages' patterns cost a fifth of a second in every pass that read an answer."""
    from mail_followup.core import deadlines

    deadlines._patterns_of.cache_clear()
    assert promised_date("Thanks, here is the answer.", datetime(2026, 11, 26, 9)) is None
    assert deadlines._patterns_of.cache_info().currsize == 0
    assert promised_date("Ich melde mich bis Freitag.", datetime(2026, 11, 26, 9)) is not None
    assert deadlines._patterns_of.cache_info().currsize == 1
