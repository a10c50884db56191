"""A pass's last step: act on the decisions. Follow the drafts written before, write the due ones, report.

Plan, then apply: the due threads are written one by one, the oldest
first, at most ``max_drafts_per_pass``, each failure recorded without
stopping the rest. Before any APPEND the Drafts folder itself is searched
for the thread's marker, so a lost state or a crash mid-write can never
produce a second draft for the same attempt; copies that passes on two
states wrote at once are withdrawn (``drafts.deduplicate``). The weekly
review is written here too, once a week.
"""

from __future__ import annotations

import imaplib
import logging
import threading
from dataclasses import replace
from datetime import datetime
from email.policy import SMTP

from imapclient.exceptions import IMAPClientError

from mail_followup.config import Account
from mail_followup.core import bodies
from mail_followup.core.compose import Quoted, Sender, as_bytes, compose
from mail_followup.core.digest import HEADER_DIGEST, compose_digest, due_week, marker
from mail_followup.core.evidence import answers_by_sender
from mail_followup.core.headers import Mail
from mail_followup.core.language import choose_language
from mail_followup.core.policy import Decision, amended, left_for_next_pass, oldest_first
from mail_followup.core.templates import Templates, load_templates
from mail_followup.core.threads import Thread
from mail_followup.errors import MailFollowupError
from mail_followup.imap.drafts import FoundDraft
from mail_followup.imap.folders import FolderMap
from mail_followup.imap.mailbox import Mailbox
from mail_followup.service.decide import Decisions, Picture
from mail_followup.service.deciding import OUTSTANDING
from mail_followup.service.drafts import deduplicate, follow_drafts
from mail_followup.service.results import AccountResult, report, report_order
from mail_followup.state.ledger import DraftRecord
from mail_followup.state.store import Store

log = logging.getLogger(__name__)

READ_AHEAD = 2000  # at most so many due-looking threads have their bodies read in one round


def write(decisions: Decisions, result: AccountResult, dry_run: bool, cancel: threading.Event | None) -> None:
    """Carry the decisions out, and leave the pass's reports in ``result``."""
    picture = decisions.picture
    account, store, decided = picture.account, picture.store, picture.decided
    if not dry_run and decisions.following:
        _follow_up_on_drafts(picture)
    queue = oldest_first([(d, t.last_user.date) for t, d in decided.values()])
    # The earlier answers of the people the due-looking threads were written to, and no one else's
    # (a few MB less at a first pass's peak than an index of every answer in the mailbox).
    contacts = {a.address for d in queue for a in decided[d.thread_key][0].original.everyone_written_to}
    replies = answers_by_sender(store.replies_from(account.name, picture.since, contacts), contacts)
    limit = account.settings.max_drafts_per_pass
    for decision in _write_due(picture, queue, replies, result, dry_run, cancel):
        decided[decision.thread_key] = (decided[decision.thread_key][0], left_for_next_pass(decision, limit))
    if not dry_run and (result.written or decisions.following):  # another pass may have written the same drafts
        for key, lines in deduplicate(account, picture.mailbox, store, picture.folders).items():
            if key in decided:
                thread, decision = decided[key]
                decided[key] = (thread, replace(decision, reasons=decision.reasons + tuple(lines)))
    _report(decisions, result, dry_run)


def _follow_up_on_drafts(picture: Picture) -> None:
    """Look at what became of the drafts written before; decide their threads again where it changed."""
    account, store, decided = picture.account, picture.store, picture.decided
    notes = follow_drafts(account, picture.mailbox, store, picture.folders, decided, picture.ledger, picture.now)
    if notes:  # what happened to the drafts changes those threads' decisions
        picture.ledger = store.all_drafts(account.name)
        for key, lines in notes.items():
            thread = decided[key][0]
            decision = picture.decision_for(thread)
            decided[key] = (thread, replace(decision, reasons=decision.reasons + tuple(lines)))


def _write_due(picture: Picture, queue: list[Decision], replies: dict[str, list[Mail]], result: AccountResult,
               dry_run: bool, cancel: threading.Event | None) -> list[Decision]:
    """Write the due threads, oldest first, up to the limit; return the decisions left for the next pass."""
    account, mailbox, decided = picture.account, picture.mailbox, picture.decided
    limit, written, size = account.settings.max_drafts_per_pass, 0, 0
    while queue and written < limit:
        mailbox.check()
        # Read ahead of the places left, more each round: on a first pass most due-looking threads turn out
        # to wait once their own message is read, and a round trip per 25 of them would cost minutes.
        size = min(max(limit - written, size * 4), READ_AHEAD)
        batch, queue = picture.read_for(queue[:size], replies), queue[size:]
        due = [d for d in batch if d.state == "due"]
        places = limit - written
        queue = due[places:] + queue  # read already; still in order, ahead of the rest
        picture.unless_quoted([d.thread_key for d in due[:places]])  # right before writing
        ready = [decided[d.thread_key] for d in due[:places] if decided[d.thread_key][1].state == "due"]
        before = result.written
        for thread, decision in _write_batch(account, mailbox, picture.store, picture.folders, ready, picture.now,
                                             dry_run, result, cancel):
            decided[thread.key] = (thread, decision)
            # A draft found already in Drafts costs nothing; a write, a dry-run "due" or a failure counts.
            written += decision.state == "due"
        written += result.written - before
    return queue


def _report(decisions: Decisions, result: AccountResult, dry_run: bool) -> None:
    """Every thread's report into ``result``, and what the next pass needs to know of this one."""
    picture = decisions.picture
    account, store = picture.account, picture.store
    settled = decisions.settled
    ledger = store.all_drafts(account.name)
    for thread, decision in picture.decided.values():
        settled.append(report(account, thread, decision, ledger.get(thread.key, {}).get(decision.next_attempt)))
    settled.sort(key=report_order)
    result.threads = settled  # only now: a pass cut short keeps the last pass's reports (scan_account)
    if decisions.changes is not None:
        result.replaced, result.based_on = decisions.replaced | decisions.expired, decisions.changes.generation
    # A stop request read while writing came after the settled threads were decided: the next pass decides
    # them all again, with it.
    result.decide_all_next = len(store.stoplist(account.name)) > decisions.stops
    if not dry_run and any(r.state in OUTSTANDING for records in ledger.values() for r in records.values()):
        store.save_drafts_folder_status(account.name, picture.mailbox.folder_status(picture.folders.drafts))


def write_weekly_review(account: Account, mailbox: Mailbox, store: Store, result: AccountResult, now: datetime) -> None:
    """Put this week's review into INBOX, unread, once (R18): INBOX is searched first, so a lost state
    never writes a second one."""
    week = due_week(account.settings, now)
    if week is None or store.digest_written(account.name, week):
        return
    # A pass with nothing new has its reports in the state only, one that decided only what changed some
    # of them: read them now that they are needed.
    reports = result.threads
    if result.unchanged or result.replaced is not None:
        replaced = {str(r["message_id"]) for r in result.threads} | (result.replaced or set())
        reports = sorted([r for r in store.reports(account.name) if r["message_id"] not in replaced] + reports,
                         key=report_order)
    msg = compose_digest(account.name, account.addresses[0], account.settings.sender_name, reports,
                         account.settings, now, week)
    if not mailbox.has_header("INBOX", HEADER_DIGEST, marker(account.name, week)):
        mailbox.append_unread("INBOX", msg.as_bytes(policy=SMTP), now)
        log.info("%s: wrote the weekly review for %s into INBOX", account.name, week)
    store.record_digest(account.name, week, str(msg["Message-ID"]))


def _write_batch(
    account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, ready: list[tuple[Thread, Decision]],
    now: datetime, dry_run: bool, result: AccountResult, cancel: threading.Event | None = None,
) -> list[tuple[Thread, Decision]]:
    """Write the drafts of due threads; return each thread's decision as it stands afterwards.

    The Drafts folder itself is searched for this product's marker right
    before the APPENDs, so a lost state or a crash mid-write never gives a
    thread a second draft for one attempt (isync's way after a crash).
    """
    if not ready:
        return []
    try:
        # (A dry run does not create a missing Drafts folder: there is nothing in it to find.)
        existing = {} if folders.drafts_missing and dry_run else mailbox.drafts_by_thread(folders.drafts)
        missing = [t for t, d in ready if (t.key, d.next_attempt) not in existing]
        quoted = _quoted_bodies(mailbox, missing) if not dry_run else {}
    except IMAPClientError as exc:
        if isinstance(exc, imaplib.IMAP4.abort):
            raise
        message = f"account {account.name!r}: cannot prepare the drafts: {exc}"
        result.errors.append(message)
        log.error("%s", message)
        return [(t, amended(d, "due", "writing the draft failed; the next pass tries again")) for t, d in ready]
    templates = load_templates(account.settings.templates_dir)  # read and checked once per batch, not per draft
    done = []
    full: OverQuota | None = None
    for thread, decision in ready:
        if cancel is not None and cancel.is_set():  # the service is stopping: the write in flight was the last
            done.append((thread, amended(decision, "due", "the service stopped before writing it; the next pass does")))
            continue
        if full is None:
            try:
                done.append((thread, _write(account, mailbox, store, folders, thread, decision, now, dry_run, result,
                                            next(iter(existing.get((thread.key, decision.next_attempt), [])), None),
                                            quoted, templates)))
                continue
            except OverQuota as exc:
                full = exc
        done.append((thread, amended(decision, "due", "the mailbox is over its quota on the server; "
                                                      "the next pass tries again")))
    if full is not None:
        # One message for the whole batch: the cause is the account's, not any one thread's.
        waiting = sum(1 for _t, d in done if d.state == "due")
        message = (f"account {account.name!r}: the server refused the draft because the mailbox is over its "
                   f"quota ({full}); {waiting} draft(s) wait. Free some space (empty Trash, delete large "
                   f"mail): the next pass writes them.")
        result.errors.append(message)
        log.error("%s", message)
    return done


class OverQuota(Exception):
    """The server refused an APPEND for the mailbox's quota (RFC 5530 [OVERQUOTA]).

    Every other draft of the batch would be refused too, so the batch stops
    at the first one and the user gets one message instead of one per thread.
    """


def _over_quota(exc: IMAPClientError) -> bool:
    return "quota" in str(exc).lower()  # RFC 5530's [OVERQUOTA], and servers that only say it in words


def _quoted_bodies(mailbox: Mailbox, threads: list[Thread]) -> dict[tuple[str, int], Quoted]:
    """The text (and HTML) of every message the drafts quote, fetched one command per folder."""
    wanted: dict[str, set[int]] = {}
    for thread in threads:
        for mail in (thread.last_user, thread.original):
            wanted.setdefault(mail.folder, set()).add(mail.uid)
    found = {}
    for folder, uids in wanted.items():
        for uid, raw in mailbox.fetch_bodies(folder, sorted(uids), limit=None).items():
            found[(folder, uid)] = Quoted(*bodies.read_body(raw, f"{mailbox.account}: {folder} UID {uid}"))
    return found


def _write(
    account: Account, mailbox: Mailbox, store: Store, folders: FolderMap, thread: Thread, decision: Decision,
    now: datetime, dry_run: bool, result: AccountResult, existing: FoundDraft | None,
    quoted: dict[tuple[str, int], Quoted], templates: Templates,
) -> Decision:
    """Carry out one due decision; return the decision as it stands afterwards."""
    attempt = decision.next_attempt
    try:
        if existing is not None:
            if not dry_run:
                store.record_draft(account.name, DraftRecord(thread.key, attempt, existing.message_id,
                                                             folders.drafts, existing.uid))
            return amended(decision, "drafted", f"the draft for follow-up {attempt} is already in {folders.drafts}")
        if dry_run:
            return amended(decision, "due", "dry run: nothing written")
        msg = compose(
            thread, decision, account.addresses, now.astimezone(account.settings.tz),
            latest=_text_of(quoted, thread.last_user),
            original=(_text_of(quoted, thread.original)
                      if thread.original.message_id != thread.last_user.message_id else None),
            sender=Sender(account.settings.sender_name, account.settings.signature),
            language=choose_language(thread.language, account.settings.language),
            templates=templates,
        )
        uid = mailbox.append_draft(folders.drafts, as_bytes(msg), now)
        store.record_draft(account.name, DraftRecord(thread.key, attempt, str(msg["Message-ID"]), folders.drafts, uid))
        result.written += 1
        result.drafted_for += [a.display_name or a.addr_spec for a in getattr(msg["To"], "addresses", ())]
        log.info("%s: wrote follow-up %d for %s into %s", account.name, attempt, thread.key, folders.drafts)
        return amended(decision, "drafted", f"wrote the draft for follow-up {attempt} into {folders.drafts}")
    except (MailFollowupError, ValueError) as exc:
        message = f"account {account.name!r}: thread {thread.key}: cannot write the draft: {exc}"
    except IMAPClientError as exc:  # a refusal of one draft must not stop the others
        if isinstance(exc, imaplib.IMAP4.abort):
            raise  # the connection is gone: the account's pass ends here
        if _over_quota(exc):
            raise OverQuota(str(exc).removeprefix("append failed: ")) from None
        message = f"account {account.name!r}: thread {thread.key}: the server refused the draft: {exc}"
    result.errors.append(message)
    log.error("%s", message)
    return amended(decision, "due", "writing the draft failed; the next pass tries again")


def _text_of(quoted: dict[tuple[str, int], Quoted], mail: Mail) -> Quoted:
    text = quoted.get((mail.folder, mail.uid))
    if text is None:
        raise ValueError(f"message UID {mail.uid} in {mail.folder!r} vanished before it could be quoted")
    return text
