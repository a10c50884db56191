"""Which messages of a folder carry the keywords a user sets to stop or snooze a thread (``core/keywords``).

One ``UID SEARCH`` per folder asks for all of them at once; only when it
finds any are their flags fetched, to tell the keywords apart. SEARCH
KEYWORD is RFC 3501, so it works on every server (pymap, Gmail, servers
without CONDSTORE) and reads no message. Each keyword is asked for in the
spellings clients use (``keywords.spellings``): a server that compares
keywords by case still finds Thunderbird's lowercased ``$nofollowup``.
Nothing here changes a flag: the user's mail is theirs.
"""

from __future__ import annotations

from mail_followup.core.headers import Mail
from mail_followup.core.keywords import SEARCHED, canonical, spellings
from mail_followup.imap.responses import flag_set, uid_ranges
from mail_followup.imap.sync import HeaderSync


def _any_of(keywords: tuple[str, ...]) -> list[str]:
    """SEARCH criteria matching a message with any of ``keywords``: nested ORs (RFC 3501 has no n-ary OR)."""
    terms = [["KEYWORD", k] for k in keywords]
    criteria = terms[-1]
    for term in reversed(terms[:-1]):
        criteria = ["OR", *term, *criteria]
    return criteria


class KeywordSearch(HeaderSync):
    """The messages of a folder that carry a searched keyword, and which ones they carry."""

    def keyworded(self, folder: str) -> dict[int, tuple[frozenset[str], frozenset[str]]]:
        """UID -> (the searched keywords it carries, spelled as ``core/keywords`` names them; all its flags as
        the server spells them), for every message of ``folder`` with one of them (opened read-only)."""
        self.examine(folder)
        uids = self.client.search(_any_of(tuple(s for k in SEARCHED for s in spellings(k))))
        if not uids:
            return {}
        response, _ = self._uid_fetch(uid_ranges(uids), ["FLAGS"])
        found = {}
        for uid, data in response.items():
            flags = flag_set(data.get(b"FLAGS", ()))
            keywords = frozenset(k for f in flags if (k := canonical(f)) is not None)
            if keywords:
                found[uid] = (keywords, flags)
        return found

    def keyworded_drafts(self, folder: str) -> dict[int, tuple[frozenset[str], Mail]]:
        """``keyworded`` for the Drafts folder, with each message's headers: a draft of this program names
        its thread in ``X-Mail-Followup-For`` (Drafts is not in the header index)."""
        found = self.keyworded(folder)
        mails = {m.uid: m for m in self._fetch_headers(folder, sorted(found))}
        return {uid: (keywords, mails[uid]) for uid, (keywords, _) in found.items() if uid in mails}
