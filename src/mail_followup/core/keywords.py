"""The IMAP keywords a user sets in any mail client to tell this program about a thread (issue 22).

A keyword is a tag on one message, kept by the server, so Thunderbird,
Apple Mail and phone apps can set it where no command line is at hand:

- ``$NoFollowUp`` on any message of a thread (the user's own, the contact's
  answer, the follow-up draft) stops following it up, for as long as the
  keyword is on a message of the thread; on the follow-up draft, which is
  withdrawn, it stops the thread as ``mail-followup stop`` does.
- ``$FollowUpSnooze`` puts the thread off for ``keyword_snooze_days``,
  counted from the pass that first sees the keyword on that message.
- ``$FollowUp`` (track whatever the heuristics say) and ``$FollowUp-<scenario>``
  are read from the headers' flags (``threads``, ``scenarios``).

Keywords are case-insensitive (RFC 3501, section 9: "all alphabetic
characters are case-insensitive"), and clients spell them as they like:
Thunderbird lowercases a tag's name into its keyword (``$nofollowup``).
"""

from __future__ import annotations

from collections.abc import Iterable

NO_FOLLOW_UP = "$NoFollowUp"
SNOOZE = "$FollowUpSnooze"
FOLLOW_UP = "$FollowUp"
SEARCHED = (NO_FOLLOW_UP, SNOOZE)  # the keywords a pass searches every folder it reads for


def canonical(flag: str) -> str | None:
    """The keyword of ``SEARCHED`` that ``flag`` spells, in any case; None for any other flag."""
    lowered = flag.lower()
    return next((k for k in SEARCHED if k.lower() == lowered), None)


def has_keyword(flags: Iterable[str], keyword: str) -> bool:
    """Whether ``flags`` hold ``keyword``, in any case."""
    wanted = keyword.lower()
    return any(f.lower() == wanted for f in flags)


def spellings(keyword: str) -> tuple[str, ...]:
    """How clients write ``keyword``: as named here, and lowercased (Thunderbird's tags). A server that
    compares keywords without case, as RFC 3501 asks, finds both under either."""
    return tuple(dict.fromkeys((keyword, keyword.lower())))
