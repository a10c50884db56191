"""Conversations assembled from indexed headers, and who spoke last.

Pure: a list of ``Mail`` in, a list of ``Thread`` out. The costliest mistake
this product can make is to follow up on mail that was answered, so every
doubt leans towards "answered": a message joins a thread through Message-ID,
In-Reply-To and References, and also, for clients that drop those headers,
when it comes from someone the user wrote to, later, under the same subject.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mail_followup.headers import Mail

# Reply and forward prefixes in the languages we speak, stacked or not:
# "Re: AW: SV:" and "Re[2]:" all reduce to the bare subject.
_PREFIX = re.compile(r"^\s*(?:(?:re|aw|sv|vs|antw|fwd?|wg|vb)\s*(?:\[\d+\]|\(\d+\))?\s*:\s*)+", re.IGNORECASE)
_NOREPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer-daemon|postmaster|bounces?)([+\-_.@]|$)", re.I)


def base_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, case-folded, for comparison."""
    return " ".join(_PREFIX.sub("", subject).split()).casefold()


def display_subject(subject: str) -> str:
    """The subject without reply/forward prefixes, as written."""
    return " ".join(_PREFIX.sub("", subject).split())


@dataclass(frozen=True)
class Thread:
    """One conversation that the user took part in.

    ``key`` is the Message-ID of the first message the user sent in it.
    ``waiting_on`` holds the user's messages since the last human answer (the
    original of this round first, then the follow-ups already sent); it is
    empty when someone else spoke last. ``ignored`` says why the thread
    expects no answer, if it does not.
    """

    key: str
    messages: tuple[Mail, ...]
    first: Mail
    waiting_on: tuple[Mail, ...]
    answer: Mail | None
    ignored: str | None

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


def build_threads(mails: Iterable[Mail], own: Iterable[str]) -> list[Thread]:
    """Group ``mails`` into conversations and keep those the user took part in.

    ``own`` are the user's addresses. The same message seen in two folders
    (Sent and INBOX, say) counts once.
    """
    own_set = {a.lower() for a in own}
    by_id: dict[str, Mail] = {}
    for mail in mails:
        kept = by_id.get(mail.message_id)
        # Prefer a copy still on the server, then the one whose sender is the user (the one in Sent).
        if kept is None or _rank(mail, own_set) > _rank(kept, own_set):
            by_id[mail.message_id] = mail

    links = _UnionFind()
    for mail in by_id.values():
        links.add(mail.message_id)
        for ref in mail.in_reply_to + mail.references:
            links.union(mail.message_id, ref)
    _link_by_subject(by_id.values(), own_set, links)

    groups: dict[str, list[Mail]] = {}
    for mail in by_id.values():
        groups.setdefault(links.find(mail.message_id), []).append(mail)

    threads = []
    for members in groups.values():
        members.sort(key=lambda m: (m.date, m.uid))
        thread = _thread(tuple(members), own_set)
        if thread is not None:
            threads.append(thread)
    threads.sort(key=lambda t: (t.first.date, t.key))
    return threads


def _thread(members: tuple[Mail, ...], own: set[str]) -> Thread | None:
    sent = [m for m in members if _is_own(m, own)]
    if not sent:
        return None
    humans = [m for m in members if _is_own(m, own) or not m.auto_reply]
    last = humans[-1]
    if not _is_own(last, own):
        return Thread(sent[0].message_id, members, sent[0], (), last, None)
    round_start = 0
    for i, mail in enumerate(humans):
        if not _is_own(mail, own):
            round_start = i + 1
    waiting = tuple(humans[round_start:])
    return Thread(sent[0].message_id, members, sent[0], waiting, None, _ignore_reason(waiting[0], own))


def _ignore_reason(original: Mail, own: set[str]) -> str | None:
    """Why this message expects no answer, or None (DOMAIN.md R4, first version)."""
    if original.bulk:
        return "sent to a mailing list or as bulk mail (List-Id or Precedence)"
    others = [a for a in original.recipients if a.address not in own]
    if not others:
        return "sent only to your own addresses"
    if all(_NOREPLY.match(a.address) for a in others):
        return "sent only to no-reply addresses"
    if "$NoFollowUp" in original.flags:
        return "marked $NoFollowUp"
    return None


def _link_by_subject(mails: Iterable[Mail], own: set[str], links: "_UnionFind") -> None:
    """Join an answer that lost its threading headers to the user's message it answers.

    It must come from someone the user wrote to, later, under the same subject.
    """
    sent_by_subject: dict[str, list[Mail]] = {}
    inbound = []
    for mail in mails:
        if _is_own(mail, own):
            sent_by_subject.setdefault(base_subject(mail.subject), []).append(mail)
        elif not mail.in_reply_to and not mail.references:
            inbound.append(mail)
    for mail in inbound:
        if mail.sender is None:
            continue
        for sent in sent_by_subject.get(base_subject(mail.subject), ()):
            if sent.date < mail.date and mail.sender.address in {a.address for a in sent.recipients}:
                links.union(mail.message_id, sent.message_id)


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
