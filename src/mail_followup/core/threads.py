"""Conversations assembled from indexed headers, and who spoke last.

Pure: a list of ``Mail`` and what is known of their bodies (``Verdict``s) in,
a list of ``Thread`` out. The costliest mistake this product can make is to
follow up on mail that was answered, so every doubt leans towards
"answered": a message joins a thread through Message-ID, In-Reply-To and
References, through a server's own thread id (Gmail's X-GM-THRID), and, for
clients that drop those headers, when it comes later under the same subject
from someone the user wrote to or from their company's domain.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol, TypeVar

from mail_followup.core.classify import Verdict, all_phrases, header_kind
from mail_followup.core.headers import Mail
from mail_followup.core.keywords import FOLLOW_UP, NO_FOLLOW_UP, has_keyword

# Reply and forward prefixes in the languages we speak, stacked or not, and
# list tags: "Re: AW: [team] SV:" and "Re[2]:" all reduce to the bare subject.
_PREFIX = re.compile(
    r"^\s*(?:(?:(?:re|aw|sv|vs|antw|fwd?|wg|vb|tr)\s*(?:\[\d+\]|\(\d+\))?\s*:|\[[^\]]*\])\s*)+", re.IGNORECASE
)
_NOREPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|bounces?|notifications?)([+\-_.@]|$)", re.I
)
T = TypeVar("T")
BOUNCE_WINDOW = timedelta(days=7)  # a bounce that names no message belongs to mail sent shortly before it

# Domains shared by unrelated people: an answer from the same domain proves nothing there.
FREE_MAIL = frozenset("""
gmail.com googlemail.com outlook.com hotmail.com hotmail.co.uk hotmail.de hotmail.se hotmail.no live.com
live.se live.no live.de msn.com yahoo.com yahoo.co.uk yahoo.de yahoo.se yahoo.no ymail.com icloud.com me.com
mac.com aol.com gmx.de gmx.net gmx.at gmx.ch web.de t-online.de freenet.de posteo.de mailbox.org proton.me
protonmail.com pm.me fastmail.com fastmail.fm hey.com zoho.com mail.com yandex.com tutanota.com online.no
telia.com bredband.net spray.se outlook.de outlook.se outlook.no
""".split())


def base_subject(subject: str) -> str:
    """The subject without reply/forward prefixes and list tags, case-folded, for comparison."""
    return " ".join(_PREFIX.sub("", subject).split()).casefold()


def is_noreply(address: str) -> bool:
    """A sender no one reads: no-reply, do-not-reply, mailer-daemon, notifications and the like."""
    return bool(_NOREPLY.match(address))


def display_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, as written."""
    return " ".join(_PREFIX.sub("", subject).split())


@dataclass(frozen=True)
class TrackingRules:
    """The configurable parts of tracking (DOMAIN.md R2, R4)."""

    bulk_recipients: int = 10
    same_domain_answers: bool = True
    contacts: Mapping[str, str] = field(default_factory=dict)  # address or @domain -> "always" | "never"

    def contact_rule(self, addresses: Iterable[str]) -> tuple[str, str] | None:
        """The follow-up rule the config sets for any of ``addresses``: (rule, pattern); "never" wins."""
        found = []
        for address in addresses:
            for pattern, rule in self.contacts.items():
                if address_matches(address, pattern):
                    found.append((rule, pattern))
        found.sort(key=lambda item: item[0] != "never")
        return found[0] if found else None


def address_matches(address: str, pattern: str) -> bool:
    """``kim@example.com`` exactly, ``@example.com`` and its subdomains, or a glob (``hr@*``)."""
    address, pattern = address.lower(), pattern.lower()
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(address, pattern)
    if pattern.startswith("@"):
        domain = address.rpartition("@")[2]
        return domain == pattern[1:] or domain.endswith("." + pattern[1:])
    return address == pattern


def most_specific(address: str, patterns: Mapping[str, T]) -> tuple[str, T] | None:
    """The entry of ``patterns`` (address or @domain keys) that best describes ``address``:
    the address itself, else the longest matching domain."""
    hits = [(p, v) for p, v in patterns.items() if address_matches(address, p)]
    hits.sort(key=lambda item: (not item[0].startswith("@"), len(item[0])), reverse=True)
    return hits[0] if hits else None


@dataclass(frozen=True, slots=True)
class Thread:
    """One conversation that the user took part in.

    ``key`` is the Message-ID of the first message the user sent in it.
    ``waiting_on`` holds the user's messages since the last human answer (the
    original of this round first, then the follow-ups already sent); it is
    empty when someone else spoke last (``answer``). ``ignored`` says why the
    thread expects no answer, if it does not; a closing note is only a
    hint (``closing``), because a thank-you after an interview or a date
    they named still waits for their news.
    """

    key: str
    messages: tuple[Mail, ...]
    first: Mail
    waiting_on: tuple[Mail, ...]
    answer: Mail | None
    ignored: str | None
    stop: Mail | None = None  # the answer asks not to be followed up
    bounce: Mail | None = None  # a delivery failure of one of this round's messages
    auto_replies: tuple[Mail, ...] = ()  # automatic replies since the round began
    return_date: date | None = None  # the latest return date an out-of-office named
    forced: str | None = None  # why it is tracked whatever the heuristics say
    own_text: str | None = None  # the start of the round's original as written (None: not read yet)
    their_last: Mail | None = None  # their last answer before this round (where a promised date is read)
    promised: tuple[date, str] | None = None  # the day they said they would come back by, and their words
    closing: str | None = None  # why the round's original reads as a closing note (the policy weighs it)
    language: str | None = None  # the language the user wrote the round's original in, where known

    @property
    def last_user(self) -> Mail:
        return self.waiting_on[-1] if self.waiting_on else self.first

    @property
    def original(self) -> Mail:
        """The message this round of follow-ups is about."""
        return self.waiting_on[0] if self.waiting_on else self.first

    @property
    def followups_sent(self) -> int:
        return max(len(self.waiting_on) - 1, 0)

    @property
    def subject(self) -> str:
        return display_subject(self.original.subject)


def kind_of(mail: Mail, verdicts: Mapping[str, Verdict]) -> str:
    """``human``, ``auto``, ``bounce`` or ``stop``: from the body's verdict where known, else the headers."""
    verdict = verdicts.get(mail.message_id)
    if verdict is not None:
        return verdict.kind
    by_headers = header_kind(mail)
    return by_headers.kind if by_headers is not None else "human"


def build_threads(
    mails: Iterable[Mail],
    own: Iterable[str],
    verdicts: Mapping[str, Verdict] | None = None,
    rules: TrackingRules = TrackingRules(),
    active_since: datetime | None = None,
) -> list[Thread]:
    """Group ``mails`` into conversations and keep those the user took part in.

    ``own`` are the user's addresses; ``verdicts`` what the bodies said, by
    Message-ID. The same message seen in two folders counts once. With
    ``active_since``, only conversations with a message dated then or later
    are kept: a pass decides only threads whose latest message from the user
    is within lookback_days, and on a large mailbox most conversations are
    older (at 1,000,000 messages, half a million threads it need not build).
    """
    verdicts = verdicts or {}
    own_set = {a.lower() for a in own}
    by_id: dict[str, Mail] = {}
    for mail in mails:
        kept = by_id.get(mail.message_id)
        # Prefer a copy still on the server, then the one whose sender is the user; between equals the first
        # (the store gives the Sent folder's first, as it is read first).
        if kept is None or _rank(mail, own_set) > _rank(kept, own_set):
            by_id[mail.message_id] = mail

    links = _UnionFind()
    hints: dict[str, str] = {}
    for mail in by_id.values():
        links.add(mail.message_id)
        for ref in mail.in_reply_to + mail.references:
            links.union(mail.message_id, ref)
        if mail.thread_hint:
            links.union(mail.message_id, hints.setdefault(mail.thread_hint, mail.message_id))
    link_by_subject(by_id.values(), own_set, links, rules, verdicts)
    _link_bounces(by_id.values(), own_set, links, verdicts)

    active = None
    if active_since is not None:  # which conversations to build, before a list is made for any of them
        active = {links.find(m.message_id) for m in by_id.values() if m.date >= active_since}
    groups: dict[str, list[Mail]] = {}
    for mail in by_id.values():
        root = links.find(mail.message_id)
        if active is None or root in active:
            groups.setdefault(root, []).append(mail)
    del active

    threads = []
    for members in groups.values():
        members.sort(key=lambda m: (m.date, m.uid, m.folder, m.message_id))
        thread = _thread(tuple(members), own_set, verdicts, rules)
        if thread is not None:
            threads.append(thread)
    threads.sort(key=_thread_order)
    return threads


def rebuild(threads: list[Thread], changed: Collection[str], own: Iterable[str], verdicts: Mapping[str, Verdict],
            rules: TrackingRules = TrackingRules(), active_since: datetime | None = None) -> list[Thread]:
    """``threads`` again after the verdicts of the messages ``changed`` were learned, building anew only the
    conversations that hold one of them.

    A verdict that names no returned message and no failed address adds no
    link; it can only take one away (an answer that turns out to be a
    bounce), which splits a conversation within itself. So the others stay
    as they were, and a pass after a few new answers does not build 100,000
    conversations again (tests/test_window.py compares it with a full build).
    """
    affected = [t for t in threads if any(m.message_id in changed for m in t.messages)]
    if not affected:
        return threads
    keys = {t.key for t in affected}
    rebuilt = build_threads([m for t in affected for m in t.messages], own, verdicts, rules, active_since)
    kept = [t for t in threads if t.key not in keys] + rebuilt
    kept.sort(key=_thread_order)
    return kept


def _thread_order(thread: Thread) -> tuple[datetime, str]:
    """Threads by their first message, then key: ``build_threads`` and ``rebuild`` list them alike."""
    return thread.first.date, thread.key


def _thread(members: tuple[Mail, ...], own: set[str], verdicts: Mapping[str, Verdict],
            rules: TrackingRules) -> Thread | None:
    sent = [m for m in members if _is_own(m, own)]
    if not sent:
        return None
    kinds = {m.message_id: ("own" if _is_own(m, own) else kind_of(m, verdicts)) for m in members}
    humans = [m for m in members if kinds[m.message_id] in ("own", "human", "stop")]
    key = sent[0].message_id
    last = humans[-1]
    if kinds[last.message_id] != "own":
        stop = last if kinds[last.message_id] == "stop" else None
        return Thread(key, members, sent[0], (), last, None, stop=stop)
    round_start = max((i + 1 for i, m in enumerate(humans) if kinds[m.message_id] != "own"), default=0)
    waiting = tuple(humans[round_start:])
    since = waiting[0].date
    later = [m for m in members if m.date >= since]
    bounces = [m for m in later if kinds[m.message_id] == "bounce"]
    autos = tuple(m for m in later if kinds[m.message_id] == "auto")
    returns = [v.return_date for m in autos if (v := verdicts.get(m.message_id)) and v.return_date]
    their_last = humans[round_start - 1] if round_start else None
    forced, ignored = _tracking(waiting[0], own, verdicts, rules)
    own_verdict = verdicts.get(waiting[0].message_id)
    closing = own_verdict.reason if own_verdict is not None and own_verdict.kind == "closing" else None
    return Thread(key, members, sent[0], waiting, None, ignored, bounce=bounces[0] if bounces else None,
                  auto_replies=autos, return_date=max(returns) if returns else None, forced=forced,
                  own_text=own_verdict.excerpt if own_verdict else None, their_last=their_last,
                  promised=_promise(their_last, verdicts), closing=closing,
                  language=own_verdict.language if own_verdict else None)


def _promise(mail: Mail | None, verdicts: Mapping[str, Verdict]) -> tuple[date, str] | None:
    verdict = verdicts.get(mail.message_id) if mail is not None else None
    if verdict is None or verdict.promise_day is None:
        return None
    return verdict.promise_day, verdict.promise_phrase or ""


def _tracking(original: Mail, own: set[str], verdicts: Mapping[str, Verdict],
              rules: TrackingRules) -> tuple[str | None, str | None]:
    """(why it is tracked regardless, why it expects no answer) for the original of a round (DOMAIN.md R4)."""
    others = [a.address for a in original.everyone_written_to if a.address not in own]
    if not others:
        return None, "sent only to your own addresses"
    contact = rules.contact_rule(others)
    if contact and contact[0] == "never":
        return None, f"the config says never to follow up with {contact[1]}"
    if has_keyword(original.flags, NO_FOLLOW_UP):  # in any case: Thunderbird writes $nofollowup
        return None, "marked $NoFollowUp in your mail client"
    if has_keyword(original.flags, FOLLOW_UP):
        return "marked $FollowUp in your mail client", None
    if contact and contact[0] == "always":
        return f"the config says always to follow up with {contact[1]}", None
    if original.bulk:
        return None, "sent to a mailing list or as bulk mail (List-Id, List-Unsubscribe or Precedence)"
    if len(others) > rules.bulk_recipients:
        return None, f"sent to {len(others)} people (more than {rules.bulk_recipients}: a bulk send)"
    if all(_NOREPLY.match(a) for a in others):
        return None, "sent only to no-reply addresses"
    if _is_calendar_answer(original):
        return None, "a calendar answer (accepted, declined)"
    return None, None


def _is_calendar_answer(mail: Mail) -> bool:
    if mail.content_type.startswith("text/calendar"):
        return True
    subject = mail.subject.lower().lstrip()
    return any(subject.startswith(p) for ph in all_phrases() for p in ph.calendar_subjects)


def link_by_subject(
    mails: Iterable[Mail], own: set[str], links: _Links, rules: TrackingRules, verdicts: Mapping[str, Verdict]
) -> None:
    """Join an answer that lost its threading headers to the user's message it answers.

    It must come later, under the same subject, from someone the user wrote
    to, or (``same_domain_answers``) from that person's company domain.
    """
    mails = list(mails)
    inbound = [m for m in mails if not m.in_reply_to and not m.references and not _is_own(m, own)
               and m.sender is not None and kind_of(m, verdicts) != "bounce"]
    if not inbound:
        return
    # Only the subjects such answers have, not a table of every subject the user ever sent.
    subjects = {base_subject(m.subject) for m in inbound}
    sent_by_subject: dict[str, list[Mail]] = {}
    for mail in mails:
        if _is_own(mail, own):
            subject = base_subject(mail.subject)
            if subject in subjects:
                sent_by_subject.setdefault(subject, []).append(mail)
    for mail in inbound:
        if mail.sender is None:
            continue
        domain = mail.sender.address.rpartition("@")[2]
        for sent in sent_by_subject.get(base_subject(mail.subject), ()):
            if sent.date >= mail.date:
                continue
            written_to = {a.address for a in sent.everyone_written_to}
            domains = {a.rpartition("@")[2] for a in written_to} - FREE_MAIL
            if mail.sender.address in written_to or (rules.same_domain_answers and domain in domains):
                links.union(mail.message_id, sent.message_id)


def _link_bounces(mails: Iterable[Mail], own: set[str], links: _Links, verdicts: Mapping[str, Verdict]) -> None:
    """Join a bounce to the message it returns: by the Message-ID in the report, else by the failed address."""
    all_mail = list(mails)
    for mail in all_mail:
        if kind_of(mail, verdicts) != "bounce":
            continue
        refers, candidates = _bounce_targets(mail, all_mail, own, verdicts)
        for ref in refers:
            links.union(mail.message_id, ref)
        if candidates:
            links.union(mail.message_id, max(candidates, key=lambda m: (m.date, m.message_id)).message_id)


def _bounce_targets(bounce: Mail, mails: Iterable[Mail], own: set[str], verdicts: Mapping[str, Verdict]
                    ) -> tuple[tuple[str, ...], list[Mail]]:
    """(the Message-IDs the bounce's report names, else the user's messages of the week before it that were
    written to an address it says failed)."""
    verdict = verdicts.get(bounce.message_id)
    refers = verdict.refers_to if verdict else ()
    failed = set(verdict.failed if verdict else bounce.failed_recipients)
    if refers or not failed:
        return refers, []
    return refers, [m for m in mails if _is_own(m, own) and m.date <= bounce.date
                    and bounce.date - m.date <= BOUNCE_WINDOW
                    and failed & {a.address for a in m.everyone_written_to}]


def _rank(mail: Mail, own: set[str]) -> tuple[bool, bool]:
    return (not mail.gone, _is_own(mail, own))


def _is_own(mail: Mail, own: set[str]) -> bool:
    return mail.sender is not None and mail.sender.address in own


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, item: str) -> None:
        self.parent.setdefault(item, item)

    def find(self, item: str) -> str:
        self.add(item)
        root = item
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[item] != root:
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class _Links(Protocol):
    def union(self, a: str, b: str) -> None: ...
