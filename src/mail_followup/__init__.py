"""mail-followup: finds sent mail nobody answered and drafts a polite follow-up.

It never sends mail: there is no SMTP code in this package.
"""

__version__ = "0.1.0"
