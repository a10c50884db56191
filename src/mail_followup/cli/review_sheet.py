"""The review sheet: every scenario, attempt and language as a native speaker would receive it.

Pure. For each language and scenario a sample thread (``samples/<language>.yaml``,
written as a person of that language writes) is followed up attempt after
attempt up to the scenario's cap, each draft quoting the one before, as if
the user had sent it unchanged. Two chains per scenario, on two threads whose
keys pick opposite variants, so that every template variant is on the sheet.
The sheet is the place where a reviewer reads the drafts in context; it is
also the suite's golden test (tests/test_review_sheet.py), with the weekly
review in each language beside the drafts and the material of
the mechanical checks (``problems``), which catch what a reviewer found by
hand: the subject pasted in as a noun, stray ">" lines at the end of a quote,
two consecutive attempts that open alike, blame.

Run it as ``python -m mail_followup.cli.review_sheet FOLDER`` (``--templates-dir``
renders your own templates in place of the built-in ones).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import re
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mail_followup.config import DEFAULT_POLICIES
from mail_followup.core.compose import Quoted, as_bytes, compose
from mail_followup.core.headers import Addr, Mail
from mail_followup.core.language import all_blame_phrases, available_languages
from mail_followup.core.packaged import yaml_data
from mail_followup.core.policy import Decision
from mail_followup.core.templates import Templates, builtin_templates, load_templates
from mail_followup.core.threads import Thread, build_threads

SCENARIOS = ("job-application", "phone-screen", "interview", "networking", "meeting", "sales", "default")
START = datetime(2026, 11, 2, 9, 30, tzinfo=ZoneInfo("Europe/Oslo"))  # a Monday
ME = "kari@example.org"
_ADDRESS = re.compile(r"^(.*?)\s*<([^>]+)>$")
_QUOTE_MARKS = re.compile(r"^(?:> ?)*")
_SENTENCE = re.compile(r"^(.+?[.!?])(?:\s|$)", re.S)


@dataclass(frozen=True)
class Draft:
    """One attempt of one chain, as the user would see it in Drafts."""

    language: str
    scenario: str
    chain: int
    attempt: int
    kind: str
    subject: str  # of the thread, as the user wrote it
    to: str
    headline: str  # the draft's Subject
    text: str  # the whole plain-text body
    new_text: str  # what the template wrote, between the greeting and the closing


def sheet(templates: Templates | None = None, languages: tuple[str, ...] | None = None) -> list[Draft]:
    """Every language × scenario × chain × attempt, in that order."""
    templates = templates or builtin_templates()
    drafts: list[Draft] = []
    for code in languages or available_languages():
        sample = yaml_data("samples", code)
        for scenario in SCENARIOS:
            for chain, key in enumerate(_keys(scenario), start=1):
                drafts += _chain(code, scenario, chain, key, sample, templates)
    return drafts


def _keys(scenario: str) -> tuple[str, str]:
    """Two thread keys whose variant seeds differ in parity: together they pick every variant of a kind
    with two, and the chain of the scenario with later attempts runs through all three of those."""
    found: dict[int, str] = {}
    number = 0
    while len(found) < 2:
        key = f"<sample-{scenario}-{number}@example.org>"
        found.setdefault(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2, key)
        number += 1
    return found[0], found[1]


def _chain(code: str, scenario: str, chain: int, key: str, sample: dict, templates: Templates) -> list[Draft]:
    wrote = sample["scenarios"][scenario]
    name, address = _ADDRESS.match(wrote["to"]).groups()  # type: ignore[union-attr]
    me = Addr(sample["me"], ME)
    them = Addr(name, address)
    policy_ = DEFAULT_POLICIES[scenario]
    original = Mail("Sent", 1, key, (), (), me, (them,), (), wrote["subject"], START)
    sent = [original]
    body = wrote["body"]
    latest = Quoted(body)
    drafts = []
    when = START
    for attempt in range(1, policy_.max_followups + 1):
        when += timedelta(days=policy_.wait_before(attempt))
        kind = policy_.kind_of(attempt)
        thread = _thread(sent)
        decision = Decision(key, "due", scenario, attempt, kind, when, ())
        msg = compose(thread, decision, (ME,), when, latest, Quoted(body) if attempt > 1 else None,
                      language=code, templates=templates)
        parsed = message_from_bytes(as_bytes(msg), policy=policy.default)
        text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
        drafts.append(Draft(code, scenario, chain, attempt, kind, wrote["subject"], wrote["to"],
                            str(parsed["Subject"]), text, new_text(text)))
        sent.append(Mail("Sent", attempt + 1, str(msg["Message-ID"]), (sent[-1].message_id,),
                         tuple(m.message_id for m in sent), me, (them,), (), str(msg["Subject"]), when))
        latest = Quoted(text)  # as a mail client gives it back: with its last line break
    return drafts


def _thread(sent: list[Mail]) -> Thread:
    (thread,) = build_threads(sent, [ME])
    return thread


def new_text(text: str) -> str:
    """The template's part of a draft: the paragraphs between the greeting and the closing."""
    own = text.split("\n\n>", 1)[0].split("\n\n")
    return "\n\n".join(own[1:-1]).strip()


def opening(text: str) -> str:
    """The first sentence of ``text``."""
    match = _SENTENCE.match(text.strip())
    return " ".join((match.group(1) if match else text.strip()).split())


def render(drafts: list[Draft]) -> dict[str, str]:
    """The sheet as files: ``<language>/<scenario>.txt``, each chain's attempts in order."""
    files: dict[str, list[str]] = {}
    for draft in drafts:
        cap = DEFAULT_POLICIES[draft.scenario].max_followups
        files.setdefault(f"{draft.language}/{draft.scenario}.txt", []).append(
            f"{'=' * 72}\n{draft.scenario}, thread {draft.chain} of 2: attempt {draft.attempt} of {cap} "
            f"({draft.kind})\nTo: {draft.to}\nSubject: {draft.headline}\n{'-' * 72}\n{draft.text.rstrip()}\n")
    return {name: "\n".join(parts) for name, parts in files.items()}


def weekly_reviews(languages: tuple[str, ...] | None = None) -> dict[str, str]:
    """The weekly review in each language, on the sample threads: ``<language>/weekly-review.txt``."""
    from mail_followup.config import Digest, Settings
    from mail_followup.core.digest import compose_digest

    files = {}
    for code in languages or available_languages():
        wrote = yaml_data("samples", code)["scenarios"]
        row = functools.partial(_review_row, wrote)
        touch = {"rule": "contact", "account": "work", "folder": "INBOX", "message_id": "<touch@example.org>",
                 "from": wrote["interview"]["to"], "date": "2026-12-02T11:00:00+01:00",
                 "subject": wrote["interview"]["subject"]}
        reports = [row("job-application", "drafted"), row("networking", "waiting"), row("default", "due"),
                   row("meeting", "call"), row("interview", "replied", in_touch=touch),
                   row("sales", "capped", not_before=None)]
        settings = Settings(timezone="Europe/Oslo", language=code, digest=Digest(day="friday", time="09:00"))
        msg = compose_digest("work", ME, yaml_data("samples", code)["me"], reports, settings,
                             datetime(2026, 12, 4, 9, 30, tzinfo=ZoneInfo("Europe/Oslo")), "2026-W49")
        files[f"{code}/weekly-review.txt"] = f"Subject: {msg['Subject']}\n{'-' * 72}\n{msg.get_content()}"
    return files


def _review_row(wrote: dict[str, Any], scenario: str, state: str, **more: object) -> dict[str, object]:
    """A thread report as the weekly review reads it, for one sample thread."""
    address = _ADDRESS.match(wrote[scenario]["to"]).group(2)  # type: ignore[union-attr]
    return {"state": state, "subject": wrote[scenario]["subject"], "to": [address], "next_attempt": 1,
            "message_id": f"<{scenario}@example.org>", "last_sent": "2026-11-27T15:00:00+01:00",
            "not_before": "2026-12-08T08:30:00+01:00", **more}


def problems(drafts: list[Draft]) -> list[str]:
    """What a native reader would stumble on that a machine can see, each naming the draft."""
    found: list[str] = []
    blame = all_blame_phrases()
    previous: Draft | None = None
    for draft in drafts:
        where = f"{draft.language}/{draft.scenario} thread {draft.chain} attempt {draft.attempt}"
        if draft.subject.casefold() in draft.new_text.casefold():
            found.append(f"{where}: the subject is pasted into the text: {draft.subject!r}")
        lowered = " ".join(draft.new_text.casefold().replace("\u2019", "'").split())
        found += [f"{where}: blames the reader: {phrase!r}" for phrase in blame if phrase in lowered]
        found += [f"{where}: {problem}" for problem in quote_problems(draft.text)]
        if previous is not None and (previous.language, previous.scenario, previous.chain) == \
                (draft.language, draft.scenario, draft.chain) and _start(previous) == _start(draft):
            found.append(f"{where}: opens as the attempt before did: {opening(draft.new_text)!r} after "
                         f"{opening(previous.new_text)!r}")
        previous = draft
    return found


def _start(draft: Draft) -> list[str]:
    """The first two words of a draft's new text: "I hope ..." twice in a row reads like a form (R16)."""
    return re.findall(r"\w+", opening(draft.new_text).casefold())[:2]


def quote_problems(text: str) -> list[str]:
    """Blank quote lines that end a quote (">", ">>" with nothing after them at that depth)."""
    lines = text.rstrip("\n").split("\n")
    found = []
    for number, line in enumerate(lines):
        depth = _depth(line)
        if not depth or line.replace(">", "").strip():
            continue
        following = next((ln for ln in lines[number + 1:] if ln.replace(">", "").strip() or not _depth(ln)), None)
        if following is None or _depth(following) < depth:
            found.append(f"a blank quote line {line!r} ends a quote (line {number + 1})")
    return found


def _depth(line: str) -> int:
    """How deep a line is quoted: its leading ">" marks, spaces between them allowed."""
    return _QUOTE_MARKS.match(line).group(0).count(">")  # type: ignore[union-attr]


def main(argv: list[str] | None = None) -> int:
    """Write the sheet into a folder and list what the checks found: exit 1 when they found anything."""
    parser = argparse.ArgumentParser(prog="python -m mail_followup.cli.review_sheet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="where to write <language>/<scenario>.txt")
    parser.add_argument("--language", action="append", choices=available_languages(),
                        help="only this language (repeat for more); all by default")
    parser.add_argument("--templates-dir", help="your templates_dir, rendered in place of the built-in ones")
    args = parser.parse_args(argv)
    try:
        templates = load_templates(args.templates_dir)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    drafts = sheet(templates, tuple(args.language) if args.language else None)
    for name, text in (render(drafts) | weekly_reviews(tuple(args.language) if args.language else None)).items():
        path = args.folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    found = problems(drafts)
    print(f"{len(drafts)} drafts written under {args.folder}; {len(found)} problems found")
    for line in found:
        print(f"  {line}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
