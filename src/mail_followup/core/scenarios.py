"""Which situation a thread is (DOMAIN.md R10): a job application, an interview, a sales note...

Pure. The scenario sets the waits and the cap, so a wrong guess costs a
follow-up too early or one too many; every match therefore says why, and the
user can always overrule it: the IMAP keyword ``$FollowUp-<scenario>`` on
their message first, then their own ``scenario_rules``, then the built-in
keyword rules of ``phrases/<language>.yaml``, then ``default_scenario``.

The body of the user's message is read only when a thread could be due;
until then a rule that looks at the body can neither match nor fail, and
the match lists the scenarios it could still turn out to be (``could_be``),
so the policy can take the earliest of them and read the body in time.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mail_followup.config import DEFAULT_POLICIES, ScenarioRule, Settings
from mail_followup.core.classify import phrase_files
from mail_followup.core.threads import Thread, address_matches

KEYWORD_PREFIX = "$followup-"
# The order the built-in rules are tried in: the most specific situation first.
BUILTIN_ORDER = ("interview", "phone-screen", "job-application", "meeting", "sales", "networking")


@dataclass(frozen=True)
class Match:
    scenario: str
    why: str
    could_be: tuple[str, ...] = ()  # earlier rules that the unread body may still satisfy, in order


def match_scenario(thread: Thread, settings: Settings, own: Iterable[str] = ()) -> Match:
    """The scenario of ``thread``: the first rule that matches wins."""
    known = set(DEFAULT_POLICIES) | set(settings.policies)
    for mail in (thread.original, thread.first):
        for flag in mail.flags:
            if flag.lower().startswith(KEYWORD_PREFIX):
                name = flag[len(KEYWORD_PREFIX):].lower()
                if name in known:
                    return Match(name, f"your message has the keyword {flag}")
    own_set = {a.lower() for a in own}
    recipients = [a.address for a in thread.original.everyone_written_to if a.address not in own_set]
    subject = thread.subject
    rules: list[tuple[ScenarioRule, str]] = [(r, f"scenario_rules[{i}]") for i, r in enumerate(settings.scenario_rules)]
    if settings.builtin_scenario_rules:
        rules += [(r, "a built-in rule") for r in builtin_rules()]
    could_be: list[str] = []
    for rule, where in rules:
        verdict, why = _check(rule, subject, thread.own_text, recipients)
        if verdict is None and rule.scenario not in could_be:
            could_be.append(rule.scenario)
        elif verdict:
            return Match(rule.scenario, f"{why} ({where})", tuple(s for s in could_be if s != rule.scenario))
    fallback = settings.default_scenario
    why = "no rule matched: the account's default_scenario" if fallback != "default" else "no rule matched"
    return Match(fallback, why, tuple(s for s in could_be if s != fallback))


@lru_cache(maxsize=1)
def builtin_rules() -> tuple[ScenarioRule, ...]:
    """The keyword rules of every language: all subject rules first (the topic the user chose), then the body."""
    subject: dict[str, list[str]] = {name: [] for name in BUILTIN_ORDER}
    body: dict[str, list[str]] = {name: [] for name in BUILTIN_ORDER}
    for _, contents in phrase_files():
        raw = contents.get("scenario_keywords", {})
        for name in BUILTIN_ORDER:
            subject[name] += [str(w) for w in raw.get(name, {}).get("subject", [])]
            body[name] += [str(w) for w in raw.get(name, {}).get("body", [])]
    return tuple([ScenarioRule(scenario=n, subject=subject[n]) for n in BUILTIN_ORDER if subject[n]]
                 + [ScenarioRule(scenario=n, body=body[n]) for n in BUILTIN_ORDER if body[n]])


def _check(rule: ScenarioRule, subject: str, body: str | None, recipients: Sequence[str]) -> tuple[bool | None, str]:
    """Whether ``rule`` matches: True, False, or None when only the unread body can tell."""
    found: list[str] = []
    unknown = False
    if rule.recipients:
        hit = next((f"{a} matches {p!r}" for a in recipients for p in rule.recipients if address_matches(a, p)), None)
        if hit is None:
            return False, ""
        found.append(hit)
    if rule.subject:
        word = find_keyword(rule.subject, subject)
        if word is None:
            return False, ""
        found.append(f"the subject has {word!r}")
    in_body = [rule.body] if rule.body else []
    if rule.keywords:  # the subject, else the body
        word = find_keyword(rule.keywords, subject)
        if word is None:
            in_body.append(rule.keywords)
        else:
            found.append(f"the subject has {word!r}")
    for words in in_body:
        if body is None:
            unknown = True
        elif (word := find_keyword(words, body)) is not None:
            found.append(f"your message says {word!r}")
        else:
            return False, ""
    if unknown:
        return None, ""
    return True, "; ".join(found)


def find_keyword(words: Sequence[str], text: str) -> str | None:
    """The first of ``words`` found in ``text`` (see ``ScenarioRule``), or None."""
    match = _pattern(tuple(words)).search(text.casefold())
    if match is None:
        return None
    return next(w for w in words if _pattern((w,)).fullmatch(match.group(0)))


@lru_cache(maxsize=512)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern for ``words``, the longest first. The start of a word is asked once, before the
    alternatives, not in each: the same matches, and a twelfth of the time (it runs for every thread)."""
    parts = []
    for word in sorted(words, key=len, reverse=True):
        prefix = word.endswith("*")
        core = r"\s+".join(re.escape(w) for w in word.rstrip("*").casefold().split())
        parts.append(rf"{core}\w*" if prefix else rf"{core}(?!\w)")
    return re.compile(rf"(?<!\w)(?:{'|'.join(parts)})" if parts else r"(?!)")
