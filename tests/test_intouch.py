"""The "in touch" rule of issue 18 in the pure core, and held as a property over random mailboxes.

The worst failure this product can make is a follow-up to someone who
answered. Here: table-driven cases of each rule and switch of
``intouch.first_touch``, and hypothesis over random mailboxes of two
accounts, run through the real state (the inbound index) and decision:
whenever a person on the contact's side wrote after the user's last
message, in whatever thread or account, no thread is due, drafted or
waiting; automatic mail alone never counts; and after new mail, the
standing reports it changes are among those a pass decides again.
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from mail_followup.state import inbound
from mail_followup.core.classify import Verdict, calendar_facts, quotable_runs
from mail_followup.config import Account, Folders, Imap, InTouchRules, Settings
from mail_followup.service.elsewhere import Elsewhere, inbound_floor
from mail_followup.core.headers import Addr, Mail
from mail_followup.core.intouch import ContactSide, Inbound, first_touch, organisation, subject_key, touched_reports
from mail_followup.service.deciding import Calendars, decide_thread
from mail_followup.state.index import FolderCursor
from mail_followup.state.store import Store
from mail_followup.core.threads import build_threads
from mail_followup.service.window import active_threads

NOW = datetime(2026, 12, 9, 9, 30, tzinfo=timezone(timedelta(hours=1)))
ME = Addr("Me", "me@example.org")
KIM = Addr("Kim", "kim@acme.example")


def sent(mid: str, to: tuple[Addr, ...], when: datetime, subject: str = "Coffee?") -> Mail:
    return Mail("Sent", 1, mid, sender=ME, to=to, subject=subject, date=when)


def message(sender: str, when: datetime, subject: str = "Hello", account: str = "a", mid: str = "<in@x>",
            human: bool = True, replies: bool = False, calendar: bool = False, name: str = "") -> Inbound:
    return Inbound(account, "INBOX", 7, mid, sender, name, organisation(sender.rpartition("@")[2]), subject,
                   subject_key(subject), when, human, replies, calendar)


def waiting_thread(to: tuple[Addr, ...] = (KIM,), subject: str = "Coffee?"):
    (thread,) = build_threads([sent("<coffee@x>", to, NOW - timedelta(days=8), subject)], [ME.address])
    return thread


def touch(candidates, rules: InTouchRules = InTouchRules(), verdicts=None, resumed=None, quoting=(),
          aliases=None, to: tuple[Addr, ...] = (KIM,), account: str = "a"):
    thread = waiting_thread(to)
    side = ContactSide.of(thread, [ME.address], aliases or {})
    return first_touch(thread, side, candidates, verdicts or {}, rules, account, [ME.address], quoting, resumed)


AFTER = NOW - timedelta(days=3)
BEFORE = NOW - timedelta(days=9)


@pytest.mark.parametrize(("domain", "expected"), [
    ("acme.com", "acme.com"), ("eu.acme.com", "acme.com"), ("mail.eu.acme.com", "acme.com"),
    ("acme.co.uk", "acme.co.uk"), ("hr.acme.co.uk", "acme.co.uk"), ("firma.no", "firma.no"),
    ("contoso.onmicrosoft.com", "contoso.onmicrosoft.com"), ("ACME.Com.", "acme.com"),
])
def test_the_organisation_of_a_domain(domain: str, expected: str) -> None:
    assert organisation(domain) == expected


def test_subject_keys_ignore_prefixes_and_case_and_are_the_same_in_every_process() -> None:
    assert subject_key("Re: AW: Coffee?") == subject_key("coffee?") == subject_key("Fwd: [team] COFFEE?") != 0
    assert subject_key("") == subject_key("Re:") == 0
    # blake2b of the bare subject, not Python's hash(), which differs from process to process
    assert subject_key("Coffee?") == int.from_bytes(hashlib.blake2b(b"coffee?", digest_size=8).digest(), "big",
                                                    signed=True)


@pytest.mark.parametrize(("candidate", "rule"), [
    (message("kim@acme.example", AFTER, "Something else"), "contact"),
    (message("anna@acme.example", AFTER, "Something else"), "organisation"),
    (message("anna@eu.acme.example", AFTER, "Something else"), "organisation"),
    (message("agent@agency.example", AFTER, "Re: Fwd: Coffee?"), "subject"),
    (message("kim@acme.example", BEFORE, "Something else"), None),  # before the user's message
    (message("kim@acme.example", AFTER, human=False), None),  # automatic
    (message("stranger@other.example", AFTER, "Something else"), None),
    (message("me@example.org", AFTER, "Re: Coffee?"), None),  # the user
])
def test_each_rule(candidate: Inbound, rule: str | None) -> None:
    found = touch([candidate])
    assert (found.rule if found else None) == rule


def test_a_free_mail_domain_and_the_users_own_are_nobodys_organisation() -> None:
    assert touch([message("someone@gmail.com", AFTER)], to=(Addr("", "kim@gmail.com"),)) is None
    colleague = (Addr("", "bob@example.org"),)  # a colleague of the user's
    assert touch([message("alice@example.org", AFTER)], to=colleague) is None
    assert touch([message("bob@example.org", AFTER)], to=colleague).rule == "contact"


def test_each_switch_turns_its_rule_off() -> None:
    assert touch([message("kim@acme.example", AFTER)], InTouchRules(contact=False)) is None
    assert touch([message("anna@acme.example", AFTER)], InTouchRules(contact=False)).rule == "organisation"
    assert touch([message("anna@acme.example", AFTER)], InTouchRules(organisation=False)) is None
    assert touch([message("x@y.example", AFTER, "Re: Coffee?")], InTouchRules(same_subject=False)) is None
    assert touch([message("x@y.example", AFTER, mid="<q@x>")], InTouchRules(quotes=False), quoting={"<q@x>"}) is None
    assert touch([message("x@y.example", AFTER, mid="<q@x>")], quoting={"<q@x>"}).rule == "quote"
    assert touch([message("kim@acme.example", AFTER, account="b")], InTouchRules(other_accounts=False)) is None
    assert touch([message("kim@acme.example", AFTER, account="b")]).message.account == "b"


def test_other_topics_off_counts_only_what_starts_a_conversation() -> None:
    rules = InTouchRules(other_topics=False)
    assert touch([message("kim@acme.example", AFTER, "Re: Slides", replies=True)], rules) is None
    assert touch([message("kim@acme.example", AFTER, "Next week")], rules).rule == "contact"
    assert touch([message("x@y.example", AFTER, "Re: Coffee?", replies=True)], rules).rule == "subject"


def test_an_alias_from_the_config_is_the_same_person() -> None:
    aliases = {"kim@acme.example": frozenset({"kim@acme.example", "kim.berg@gmail.com"}),
               "kim.berg@gmail.com": frozenset({"kim@acme.example", "kim.berg@gmail.com"})}
    assert touch([message("kim.berg@gmail.com", AFTER)], aliases=aliases).rule == "alias"
    assert touch([message("kim.berg@gmail.com", AFTER)]) is None


def test_resuming_sets_aside_what_came_before() -> None:
    early, late = message("kim@acme.example", AFTER, mid="<1@x>"), message("kim@acme.example", NOW, mid="<2@x>")
    assert touch([early], resumed=AFTER + timedelta(hours=1)) is None
    assert touch([early, late], resumed=AFTER + timedelta(hours=1)).message.message_id == "<2@x>"


def test_the_earliest_counts_and_a_body_can_take_the_person_away() -> None:
    first, second = message("anna@acme.example", AFTER, mid="<1@x>"), message("kim@acme.example", NOW, mid="<2@x>")
    assert touch([second, first]).message.message_id == "<1@x>"
    out_of_office = {"<1@x>": Verdict("auto", "an out-of-office")}
    assert touch([second, first], verdicts=out_of_office).message.message_id == "<2@x>"


@pytest.mark.parametrize(("method", "organiser", "attendees", "counts"), [
    ("REQUEST", "kim@acme.example", (), True),  # their invitation
    ("REQUEST", "hr@acme.example", (), True),  # their organisation's
    ("CANCEL", "kim@acme.example", (), True),
    ("REQUEST", "me@example.org", (), False),  # the user's own invitation, sent back
    ("REPLY", "me@example.org", ("kim@acme.example",), True),  # their answer to the user's invitation
    ("REPLY", "me@example.org", ("room@acme.example",), False),  # a room of theirs that accepts by itself
    ("REQUEST", "someone@elsewhere.example", (), False),
])
def test_a_calendar_invitation_or_answer(method: str, organiser: str, attendees: tuple[str, ...],
                                        counts: bool) -> None:
    invite = message("no-reply@calendar.example", AFTER, "Invitation: Lunch", human=False, calendar=True, mid="<c@x>")
    verdict = Verdict("auto", "marked automatic", calendar_method=method, organiser=organiser, attendees=attendees)
    found = touch([invite], verdicts={"<c@x>": verdict})
    assert (found is not None and found.rule == "calendar") == counts
    assert touch([invite], InTouchRules(calendar=False), verdicts={"<c@x>": verdict}) is None


def test_the_index_row_of_a_message(tmp_path: Path) -> None:
    def row(sender: str, subject: str = "Hello", **more: object) -> Inbound | None:
        """What the inbound index holds of the message, through the store's own writing."""
        with Store(tmp_path / str(len(list(tmp_path.iterdir())))) as store:  # a state of its own
            inbound.prepare(store, "a", [ME.address], NOW - timedelta(days=60))
            mail = Mail("INBOX", 1, "<m@x>", sender=Addr(str(more.pop("name", "")), sender), subject=subject,
                        date=NOW, **more)  # type: ignore[arg-type]
            store.apply_sync("a", "INBOX", FolderCursor(1, 2, 1), [mail], (), False)
            found = inbound.arrivals(store.db, ["a"], 0)
        return found[0] if found else None

    assert row("kim@acme.example").human
    assert row("no-reply@acme.example") is None
    assert row("kim@acme.example", auto_reply=True) is None
    assert row("kim@acme.example", bulk=True) is None
    assert row("kim@acme.example", "Automatic reply: Coffee") is None
    assert row("kim@acme.example", content_type="multipart/report; disposition-notification") is None
    assert row("x@acme.example", name="Mail Delivery Subsystem") is None
    assert row("kim@acme.example", content_type="multipart/report; delivery-status") is None
    invite = row("no-reply@calendar.example", "Invitation: Coffee @ Thu", auto_reply=True)
    assert invite is not None and invite.calendar and not invite.human
    ics = row("kim@acme.example", "Coffee", content_type="text/calendar; request")
    assert ics is not None and ics.calendar and ics.human


def test_what_a_calendar_part_says() -> None:
    msg = EmailMessage()
    msg.set_content("Invited.")
    msg.add_attachment(b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nORGANIZER:mailto:Me@Example.org\r\n"
                       b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:kim@acme.example\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:"
                       b"mailto:ola@acme.example\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", maintype="text",
                       subtype="calendar")
    assert calendar_facts(msg) == ("REPLY", "me@example.org", ("kim@acme.example",))
    plain = EmailMessage()
    plain.set_content("No calendar here.")
    assert calendar_facts(plain) is None
    broken = EmailMessage()
    broken.add_attachment(b"BEGIN:VCALENDAR\r\nnot a calendar", maintype="text", subtype="calendar")
    assert calendar_facts(broken) is None


def test_the_runs_a_quote_is_searched_for() -> None:
    text = ("Hi Kim,\n\nWould you have time for a coffee next week? I'd love to hear about it.\n"
            "Short line.\n\nKari")
    (run,) = quotable_runs(text)
    assert len(run.split()) == 5 and run in text
    german = "Sehr geehrter Herr Groß,\n\nkönnten Sie mir bitte sagen, ob die Größe für Straßen zulässig ist?\n"
    (run,) = quotable_runs(german)
    assert run in german and "," not in run
    assert quotable_runs("Thanks!") == ()


def test_a_new_message_marks_the_standing_reports_it_may_end() -> None:
    reports = [("<a@x>", ["kim@acme.example"], "Coffee?"), ("<b@x>", ["ola@firma.example"], "Offer"),
               ("<c@x>", ["bob@gmail.com"], "Hello"), ("<d@x>", ["amy@example.org"], "Plans")]
    own = ["me@example.org"]

    def marked(*arrivals: Inbound, verdicts=None) -> set[str]:
        return touched_reports(reports, arrivals, verdicts or {}, own, {})

    assert marked(message("anna@acme.example", NOW, "News")) == {"<a@x>"}
    assert marked(message("x@y.example", NOW, "Re: Offer")) == {"<b@x>"}
    assert marked(message("eve@gmail.com", NOW, "News")) == set()  # free mail: no organisation
    assert marked(message("bob@gmail.com", NOW, "News")) == {"<c@x>"}
    assert marked(message("ann@example.org", NOW, "News")) == set()  # the user's own organisation
    invite = message("no-reply@cal.example", NOW, "Invitation: Call", human=False, calendar=True, mid="<i@x>")
    assert marked(invite, verdicts={"<i@x>": Verdict("auto", "x", calendar_method="REQUEST",
                                                     organiser="ola@firma.example")}) == {"<b@x>"}


# --- the property: over random mailboxes, through the state ------------------------------------------

ORGS = ["acme.example", "beta.example", "gamma.example", "gmail.com"]
SUBJECTS = ["Coffee?", "Offer", "Your application", "Plans", "Invoice"]


def _account(name: str, address: str, rules: InTouchRules) -> Account:
    return Account(name, Imap(host="imap.example", username=address), (address,), Folders(),
                   Settings(timezone="Europe/Oslo", country=None, in_touch=rules))


def random_mailbox(seed: int) -> tuple[dict[str, list[Mail]], list[Mail]]:
    """(messages of account "a" and "b" by folder, every message from someone else), dated around NOW."""
    rng = random.Random(seed)
    people = [Addr(f"P{i}", f"p{i}@{rng.choice(ORGS)}") for i in range(6)]
    boxes: dict[str, list[Mail]] = {"a/Sent": [], "a/INBOX": [], "b/Sent": [], "b/INBOX": []}
    count = 0

    def put(box: str, sender: Addr, to: tuple[Addr, ...], subject: str, when: datetime, **more: object) -> Mail:
        nonlocal count
        count += 1
        mail = Mail(box.split("/")[1], len(boxes[box]) + 1, f"<m{count}@x>", sender=sender, to=to, subject=subject,
                    date=when, **more)  # type: ignore[arg-type]
        boxes[box].append(mail)
        return mail

    mine = []
    for _ in range(rng.randint(1, 5)):
        to = tuple(rng.sample(people, rng.choice([1, 1, 2])))
        mine.append(put("a/Sent", ME, to, rng.choice(SUBJECTS), NOW - timedelta(days=rng.uniform(1, 30))))
        if rng.random() < 0.3:  # a follow-up already sent
            first = mine[-1]
            mine.append(put("a/Sent", ME, to, "Re: " + first.subject, first.date + timedelta(days=rng.uniform(1, 8)),
                            in_reply_to=(first.message_id,), references=(first.message_id,)))
    for _ in range(rng.randint(0, 8)):
        sender = rng.choice([*people, Addr("Z", f"z@{rng.choice(ORGS)}"), Addr("N", "no-reply@acme.example")])
        box = rng.choice(["a/INBOX", "b/INBOX"])
        when = NOW - timedelta(days=rng.uniform(0, 35))
        subject = rng.choice([*SUBJECTS, "Something else", "Re: " + rng.choice(SUBJECTS)])
        kind = rng.random()
        more: dict[str, object] = {}
        if kind < 0.15:
            more["auto_reply"] = True
        elif kind < 0.25:
            more["bulk"] = True
        elif kind < 0.3:
            more["content_type"] = "multipart/report; disposition-notification"
        elif kind < 0.45 and mine:  # a reply in some thread of the user's
            parent = rng.choice(mine)
            more.update(in_reply_to=(parent.message_id,), references=(parent.message_id,))
        put(box, sender, (ME,), subject, when, **more)
    return boxes, [m for key, mails in boxes.items() if key.endswith("INBOX") for m in mails]


def stored(tmp: Path, boxes: dict[str, list[Mail]], accounts: list[Account], now: datetime = NOW) -> Store:
    store = Store(tmp)
    for account in accounts:
        inbound.prepare(store, account.name, account.addresses, inbound_floor(accounts, now))
    for key, mails in boxes.items():
        name, folder = key.split("/")
        store.apply_sync(name, folder, FolderCursor(1, len(mails) + 1, len(mails)), mails, (), False)
    with store.transaction() as db:  # both accounts have been read once
        db.executemany("INSERT OR REPLACE INTO passes VALUES (?,?,1,NULL,?,NULL,NULL,NULL)",
                       [(a.name, now.isoformat(), now.isoformat()) for a in accounts])
    return store


def decisions(store: Store, account: Account, everyone: list[Account], now: datetime) -> dict[str, object]:
    since, lookback = now - timedelta(days=365), now - timedelta(days=60)
    threads, _, _ = active_threads(store, account.name, account.addresses, since, lookback, {},
                                   _rules_of(account))
    elsewhere = Elsewhere(store, account, everyone)
    calendars = Calendars(account.settings, account.addresses)
    return {t.key: (t, decide_thread(t, account, calendars, now, {}, {}, {}, elsewhere, {})) for t in threads}


def _rules_of(account: Account):
    from mail_followup.service.deciding import tracking_rules

    return tracking_rules(account.settings)


def human_after(thread, others: list[Mail], own: set[str]) -> bool:
    """The oracle, by brute force: a person on the contact's side, or anyone under the same subject, wrote
    after the user's last message in the thread (free mail and the user's own domain are nobody's side)."""
    contacts = {a.address for m in thread.waiting_on for a in m.everyone_written_to} - own
    organisations = {a.rpartition("@")[2] for a in contacts} - {"gmail.com", "example.org"}
    bare = thread.original.subject.removeprefix("Re: ").casefold()
    for m in others:
        if m.sender is None or m.sender.address in own or m.date <= thread.last_user.date:
            continue
        if m.auto_reply or m.bulk or m.content_type or m.sender.address.startswith("no-reply@"):
            continue
        if m.sender.address in contacts or m.sender.address.rpartition("@")[2] in organisations or \
                m.subject.removeprefix("Re: ").casefold() == bare:
            return True
    return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32), other_accounts=st.booleans())
def test_no_thread_waits_on_someone_who_was_in_touch(tmp_path_factory, seed: int, other_accounts: bool) -> None:
    boxes, others = random_mailbox(seed)
    rules = InTouchRules(other_accounts=other_accounts)
    accounts = [_account("a", ME.address, rules), _account("b", "me2@example.org", rules)]
    own = {ME.address, "me2@example.org"}
    with stored(tmp_path_factory.mktemp("state"), boxes, accounts) as store:
        decided = decisions(store, accounts[0], accounts, NOW)
    seen = others if other_accounts else [m for m in others if m in boxes["a/INBOX"]]
    for thread, decision in decided.values():
        if thread.waiting_on and human_after(thread, seen, own):
            assert decision.state not in ("due", "drafted", "waiting", "snoozed", "call"), decision.reasons
        if decision.touch is not None:  # and whatever counted is no automatic mail
            assert decision.touch.message.human or decision.touch.rule == "calendar"
            assert decision.touch.message.date > thread.last_user.date


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32))
def test_mail_that_arrives_later_marks_every_standing_report_it_ends(tmp_path_factory, seed: int) -> None:
    """After a pass, new mail arrives in either account; the reports whose decision it turns to "in touch"
    must be among those the next pass decides again: marked by the inbound index, or in a conversation the
    new mail joined (the header index marks those)."""
    boxes, _ = random_mailbox(seed)
    rng = random.Random(seed + 1)
    accounts = [_account("a", ME.address, InTouchRules()), _account("b", "me2@example.org", InTouchRules())]
    later = NOW + timedelta(days=1)
    with stored(tmp_path_factory.mktemp("state"), boxes, accounts) as store:
        before = decisions(store, accounts[0], accounts, NOW)
        seen = inbound.latest(store.db)
        sent_mail = boxes["a/Sent"]
        new: list[str] = []
        for i in range(rng.randint(1, 4)):
            box = rng.choice(["a/INBOX", "b/INBOX"])
            target = rng.choice(sent_mail)
            sender = rng.choice([*target.to, Addr("C", f"c@{target.to[0].address.rpartition('@')[2]}"),
                                 Addr("S", "s@stranger.example")])
            subject = rng.choice(["Re: " + target.subject, "Something new"])
            more = {"in_reply_to": (target.message_id,)} if rng.random() < 0.3 else {}
            mail = Mail(box.split("/")[1], 100 + i, f"<new{i}@x>", sender=sender, to=(ME,), subject=subject,
                        date=later - timedelta(hours=rng.uniform(0, 20)), **more)  # type: ignore[arg-type]
            name, folder = box.split("/")
            store.apply_sync(name, folder, FolderCursor(1, 200 + i, 100 + i), [mail], (), False)
            new.append(mail.message_id)
        open_before = {key for key, (_, d) in before.items() if d.state in inbound.OPEN_STATES}
        with store.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO threads (account, thread, report, updated_at, state) "
                           "VALUES ('a', ?, ?, '', ?)",
                           [(key, _report_json(t, d), d.state) for key, (t, d) in before.items()])
        marks = Elsewhere(store, accounts[0], accounts).marks(seen)
        after = decisions(store, accounts[0], accounts, later)
    for key in open_before:
        if key in after and after[key][1].touch is not None and before[key][1].touch is None:
            joined = any(m.message_id in new for m in after[key][0].messages)
            assert key in marks or joined, (key, after[key][1].reasons)


def _report_json(thread, decision) -> str:
    import json

    return json.dumps({"to": [a.address for a in thread.original.recipients if a.address != ME.address],
                       "subject": thread.subject, "state": decision.state})


def test_the_inbound_index_is_rebuilt_from_the_header_index_when_it_may_be_wrong(tmp_path: Path) -> None:
    """A state from before the index, or a write that did not know the account's addresses, is rebuilt from the
    header index (no mail is read again); so is one kept for other addresses or for a later start."""
    kim = Mail("INBOX", 1, "<k@x>", sender=KIM, to=(ME,), subject="New", date=NOW - timedelta(days=2))
    old = Mail("INBOX", 2, "<o@x>", sender=KIM, to=(ME,), subject="Old", date=NOW - timedelta(days=40))
    floor = NOW - timedelta(days=30)

    def indexed() -> list[str]:
        return sorted(m.message_id for m in inbound.arrivals(store.db, ["a"], 0))

    with Store(tmp_path) as store:
        store.apply_sync("a", "INBOX", FolderCursor(1, 3, 2), [kim, old], (), False)  # as an older version wrote
        assert indexed() == []
        inbound.prepare(store, "a", [ME.address], floor)
        assert indexed() == ["<k@x>"]  # the old one is before the start
        inbound.prepare(store, "a", [ME.address], floor - timedelta(days=20))  # an older start: rebuilt
        assert indexed() == ["<k@x>", "<o@x>"]
        inbound.prepare(store, "a", [ME.address], floor)  # a later start: the older rows go
        assert indexed() == ["<k@x>"]
        inbound.prepare(store, "a", [ME.address, KIM.address], floor)  # Kim's address is now the user's own
        assert indexed() == []
        inbound.prepare(store, "a", [ME.address], floor)
        seen = inbound.latest(store.db)
        new = Mail("INBOX", 3, "<n@x>", sender=KIM, to=(ME,), subject="Newer", date=NOW - timedelta(days=1))
        store.apply_sync("a", "INBOX", FolderCursor(1, 4, 3), [new], (), False)  # kept for these addresses
        assert [m.message_id for m in inbound.arrivals(store.db, ["a"], seen)] == ["<n@x>"]
        with store.transaction() as db:  # a body read later says something: the row is news again
            inbound.restamp(db, "a", ["<k@x>"])
        assert [m.message_id for m in inbound.arrivals(store.db, ["a"], seen)] == ["<n@x>", "<k@x>"]
