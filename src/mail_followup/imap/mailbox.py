"""The IMAP side as the service sees it: one ``Mailbox``, a logged-in connection for one account.

``Mailbox`` is the only thing that talks to the server. It is put together
from one part per job, each in its own module:

- ``connection``: connect, TLS, sign in, capabilities, which folder is open
- ``folders``: find Sent, Drafts and the folders answers land in; create Drafts
- ``sync``: bring a folder's header index up to date
- ``bodies``: fetch a message's text, search text on the server
- ``drafts``: find this product's drafts, APPEND, withdraw one
- ``keywords``: which messages carry the keywords that stop or snooze a thread

It never sends mail and never changes or deletes what the user has:
folders are selected read-only for reading, and the only writes are APPEND
(into Drafts, and the weekly review into INBOX), withdrawing a draft this
product wrote and nobody edited, and creating Drafts where a server has none.
"""

from __future__ import annotations

from mail_followup.imap.bodies import BodyReading
from mail_followup.imap.drafts import Drafts
from mail_followup.imap.folders import FolderDiscovery
from mail_followup.imap.keywords import KeywordSearch
from mail_followup.imap.sync import HeaderSync


class Mailbox(FolderDiscovery, Drafts, KeywordSearch, HeaderSync, BodyReading):
    """One logged-in IMAP connection for one account.

    Each part builds on ``connection.Connection`` and shares its state.
    ``Drafts`` and ``KeywordSearch`` are themselves ``HeaderSync``s (they read
    headers through it), so they must be listed before ``HeaderSync``.
    """
