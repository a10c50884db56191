"""Who was in touch since the user's last message, outside the thread itself (DOMAIN.md R2; issue 18).

Pure. An answer does not always come as a tidy reply: the contact writes
back in a new thread ("Interview invitation"), a colleague or an agency
answers a forwarded copy, they send a calendar invitation, or the answer
lands in another of the user's accounts. Each ends the wait as surely as a
reply. After the user's last message in a thread, the wait ends with:

- a message from a person (never an automatic reply, a bounce, a receipt,
  a list or a no-reply sender) from someone the round was written to, or
  from an address the config gives as theirs (``contact``);
- the same from their organisation: their domain or one of its
  subdomains, never a free-mail domain, never the user's own
  (``organisation``);
- a message under the same subject after Re:/Fwd: and list tags, from
  anyone (``subject``);
- a message that quotes the user's, from anyone (``quote``: found by a
  search on the server before a draft is written);
- a calendar invitation they organise, or their answer to one the user
  sent, even when a calendar service sent it (``calendar``).

A contact who writes about something else entirely is a judgement call: it
counts by default (``other_topics``), and the report names the message
that counted, so a user who disagrees can say ``mail-followup resume``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache, lru_cache
from zoneinfo import ZoneInfo

from mail_followup.config import InTouchRules
from mail_followup.core.classify import Verdict, all_phrases, header_kind
from mail_followup.core.headers import Mail
from mail_followup.core.threads import FREE_MAIL, Thread, base_subject, is_noreply
from mail_followup.core.timing import WEEKDAY_NAMES

# Second-level labels under which a country's organisations register (acme.co.uk, firma.com.au).
_SECOND_LEVEL = frozenset("ac co com edu gov govt gv ltd mil ne net nic or org plc sch".split())
# Parents shared by unrelated tenants: there the whole domain is the organisation.
_SHARED_PARENTS = frozenset("onmicrosoft.com googlegroups.com github.io herokuapp.com".split())
RULES = ("contact", "alias", "organisation", "subject", "calendar", "quote")  # most specific first
# What the calendar rule accepts from the organiser, and from an attendee (RFC 5546 methods).
_ORGANISER_METHODS = frozenset({"REQUEST", "CANCEL", "ADD", "PUBLISH", "DECLINECOUNTER"})
_ATTENDEE_METHODS = frozenset({"REPLY", "COUNTER", "REFRESH"})


@lru_cache(maxsize=65536)
def organisation(domain: str) -> str:
    """The part of a domain an organisation registers: ``eu.acme.com`` and ``acme.com`` -> ``acme.com``,
    ``mail.acme.co.uk`` -> ``acme.co.uk``. A heuristic without the public suffix list; a mistake only joins
    or splits what counts as one organisation."""
    labels = domain.lower().strip(".").split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    parent = ".".join(labels[-keep:])
    return ".".join(labels) if parent in _SHARED_PARENTS else parent


def shared_by_strangers(domain: str) -> bool:
    """A free-mail domain: a message from the same one says nothing about who wrote it."""
    return domain in FREE_MAIL or organisation(domain) in FREE_MAIL


def subject_key(subject: str) -> int:
    """A stable 64-bit key of the subject without prefixes and list tags (0 for none): the same in every
    process, so the state can index it."""
    bare = base_subject(subject)
    if not bare:
        return 0
    return int.from_bytes(hashlib.blake2b(bare.encode("utf-8", "replace"), digest_size=8).digest(), "big",
                          signed=True) or 1


def calendar_hint(mail: Mail) -> bool:
    """Whether the headers say an invitation or a calendar answer may be inside: a calendar part at the top,
    or a subject that starts like one ("Invitation:", "Einladung:", "Accepted:"). (Outlook's meeting requests
    have neither, but come from the organiser, whom the contact and organisation rules know.)"""
    if mail.content_type.startswith("text/calendar"):
        return True
    return _calendar_subject().match(mail.subject.lower().lstrip()) is not None


@cache
def _calendar_subject() -> re.Pattern[str]:
    """One pattern for every language's calendar subjects: it runs on every message from someone else."""
    return re.compile("|".join(re.escape(p) for p in sorted({p for ph in all_phrases() for p in ph.calendar_subjects},
                                                             key=len, reverse=True)))


# Names a mail system signs its reports with, whatever the address (a relay may rewrite that).
_SYSTEM_NAMES = re.compile(r"\b(mail delivery (sub)?system|mailer[- ]daemon|postmaster|delivery status notification)\b",
                           re.IGNORECASE)


def written_by_a_person(mail: Mail) -> bool:
    """What the headers alone say: not automatic, not a bounce or a receipt, not a list, not a no-reply sender."""
    return (mail.sender is not None and not mail.bulk and not is_noreply(mail.sender.address)
            and not _SYSTEM_NAMES.search(mail.sender.name) and header_kind(mail) is None)


def can_count(mail: Mail) -> tuple[bool, bool] | None:
    """(written by a person, may carry a calendar) for a message from someone else, or None when it can end
    no wait: no sender, or automatic with no calendar in it. Asked of every such message a sync writes."""
    if mail.sender is None:
        return None
    human, calendar = written_by_a_person(mail), calendar_hint(mail)
    return (human, calendar) if human or calendar else None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from someone else, as the inbound index of the state holds it. The index keeps no name
    and no subject: they are empty here, but for the one message a report names (``Elsewhere.first``)."""

    account: str
    folder: str
    uid: int
    message_id: str
    address: str
    name: str
    organisation: str
    subject: str
    subject_key: int
    date: datetime
    human: bool  # the headers say a person wrote it
    replies: bool  # it answers some conversation (In-Reply-To or References)
    calendar: bool  # an invitation or a calendar answer may be inside

    @property
    def sender(self) -> str:
        return f"{self.name} <{self.address}>" if self.name else self.address


@dataclass(frozen=True)
class ContactSide:
    """Whom a thread's round waits on: the addresses written to (with their aliases), their organisations, and
    the subject."""

    addresses: frozenset[str]
    aliases: frozenset[str]  # addresses among them only because the config names them as someone's alias
    organisations: frozenset[str]
    subject_key: int

    @classmethod
    def of(cls, thread: Thread, own: Collection[str], aliases: Mapping[str, frozenset[str]]) -> ContactSide:
        written = {a.address for m in thread.waiting_on or (thread.first,) for a in m.everyone_written_to}
        people = written - set(own)
        more = {alias for address in people for alias in aliases.get(address, ())} - people - set(own)
        mine = {organisation(a.rpartition("@")[2]) for a in own}
        organisations = {organisation(a.rpartition("@")[2]) for a in people
                         if not shared_by_strangers(a.rpartition("@")[2])} - mine
        return cls(frozenset(people | more), frozenset(more), frozenset(organisations),
                   subject_key(thread.original.subject))


@dataclass(frozen=True, slots=True)
class Touch:
    """The message that ended the wait outside the thread, and the rule it met."""

    message: Inbound
    rule: str  # one of RULES
    account: str  # the account of the thread it ended

    def reason(self, tz: ZoneInfo) -> str:
        where = self.message.folder + ("" if self.message.account == self.account
                                       else f" of your account {self.message.account}")
        why = {
            "contact": "someone you wrote to", "alias": "another address of someone you wrote to",
            "organisation": "someone at their organisation", "subject": "a message under the same subject",
            "calendar": "a calendar invitation or answer of theirs", "quote": "a message quoting yours",
        }[self.rule]
        return (f"in touch since your last message ({why}): {self.message.sender} wrote on "
                f"{_moment(self.message.date, tz)} in {where}: \u201c{self.message.subject or '(no subject)'}\u201d; "
                f"if that was no answer to this, `mail-followup resume` lets the follow-ups go on")

    def as_report(self, tz: ZoneInfo) -> dict[str, str]:
        """The ``in_touch`` object of a thread's report (an extension of the JSON contract)."""
        return {"rule": self.rule, "account": self.message.account, "folder": self.message.folder,
                "message_id": self.message.message_id, "from": self.message.sender,
                "date": self.message.date.astimezone(tz).isoformat(timespec="seconds"),
                "subject": self.message.subject}


def first_touch(thread: Thread, side: ContactSide, candidates: Iterable[Inbound], verdicts: Mapping[str, Verdict],
                rules: InTouchRules, account: str, own: Collection[str], quoting: Collection[str] = (),
                resumed: datetime | None = None) -> Touch | None:
    """The earliest message among ``candidates`` that ends the wait of ``thread``, or None.

    ``candidates`` may hold more than could count (the index is asked
    broadly); ``verdicts`` says what bodies read so far said of them (by
    Message-ID), ``quoting`` which of them a server search found quoting
    the user's message, and ``resumed`` when the user said that mail up to
    then is no answer. Only a message dated after the user's last message
    in the thread counts, and none of the thread's own (an automatic reply
    in it stays one).
    """
    after = max(thread.last_user.date, resumed) if resumed is not None else thread.last_user.date
    inside = {m.message_id for m in thread.messages}
    own_set = set(own)
    found: list[Touch] = []
    for message in candidates:
        if message.date <= after or message.message_id in inside or message.address in own_set:
            continue
        if message.account != account and not rules.other_accounts:
            continue
        rule = _rule(message, verdicts.get(message.message_id), side, rules, quoting, own_set)
        if rule is not None:
            found.append(Touch(message, rule, account))
    if not found:
        return None
    return min(found, key=lambda t: (t.message.date, RULES.index(t.rule), t.message.message_id))


def _rule(message: Inbound, verdict: Verdict | None, side: ContactSide, rules: InTouchRules,
          quoting: Collection[str], own: set[str]) -> str | None:
    """The most specific rule ``message`` meets for ``side``, or None."""
    if rules.calendar and verdict is not None and verdict.calendar_method and \
            _calendar_theirs(verdict, side, rules, own):
        return "calendar"
    person = message.human and (verdict is None or verdict.kind in ("human", "stop"))
    if not person:
        return None
    on_topic = rules.other_topics or not message.replies
    if rules.contact and on_topic and message.address in side.addresses:
        return "alias" if message.address in side.aliases else "contact"
    if rules.organisation and on_topic and message.organisation in side.organisations and \
            message.address not in side.addresses:  # someone else there: the contact is the rule above's
        return "organisation"
    if rules.same_subject and side.subject_key and message.subject_key == side.subject_key:
        return "subject"
    if rules.quotes and message.message_id in quoting:
        return "quote"
    return None


def _calendar_theirs(verdict: Verdict, side: ContactSide, rules: InTouchRules, own: set[str]) -> bool:
    """An invitation their side organises, or an answer of theirs to one the user organises."""
    method = (verdict.calendar_method or "").upper()
    organiser = verdict.organiser or ""
    if method in _ORGANISER_METHODS and organiser and organiser not in own:
        return organiser in side.addresses or (
            rules.organisation and organisation(organiser.rpartition("@")[2]) in side.organisations)
    if method in _ATTENDEE_METHODS:
        return bool(set(verdict.attendees) & side.addresses) and (not organiser or organiser in own)
    return False


def touched_reports(reports: Iterable[tuple[str, Sequence[str], str]], arrivals: Iterable[Inbound],
                    verdicts: Mapping[str, Verdict], own: Collection[str],
                    aliases: Mapping[str, frozenset[str]]) -> set[str]:
    """The keys of the standing reports that new mail may have put in touch: ``reports`` are (key, the
    addresses written to, subject) of the reports still waiting for something, ``arrivals`` the index rows
    written since they were decided.

    It marks broadly (every rule, whatever the switches), so that a pass after
    new mail decides those threads again; the decision itself weighs the rules.
    """
    arrivals = list(arrivals)
    if not arrivals:
        return set()
    own_set = set(own)
    mine = {organisation(a.rpartition("@")[2]) for a in own_set}
    by_address: dict[str, set[str]] = {}
    by_organisation: dict[str, set[str]] = {}
    by_subject: dict[int, set[str]] = {}
    for key, addresses, subject in reports:
        for address in set(addresses) - own_set:
            for name in {address, *aliases.get(address, ())}:
                by_address.setdefault(name, set()).add(key)
            domain = address.rpartition("@")[2]
            if not shared_by_strangers(domain) and organisation(domain) not in mine:
                by_organisation.setdefault(organisation(domain), set()).add(key)
        if (found := subject_key(subject)):
            by_subject.setdefault(found, set()).add(key)
    keys: set[str] = set()
    for message in arrivals:
        people = {message.address}
        verdict = verdicts.get(message.message_id)
        if verdict is not None and verdict.calendar_method:
            people |= {a for a in (verdict.organiser, *verdict.attendees) if a}
        for person in people - own_set:
            keys |= by_address.get(person, set())
            keys |= by_organisation.get(organisation(person.rpartition("@")[2]), set())
        keys |= by_subject.get(message.subject_key, set())
    return keys


def _moment(when: datetime, tz: ZoneInfo) -> str:
    local = when.astimezone(tz) if when.tzinfo else when.replace(tzinfo=UTC).astimezone(tz)
    return f"{local:%Y-%m-%d} ({WEEKDAY_NAMES[local.weekday()][:3]}) at {local:%H:%M}"
