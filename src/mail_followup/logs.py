"""Where the log goes and how loud it is: shared by the command line and the service.

Both the one-off commands and the service's passes (and a reload that turns
debugging on) set the root logger up the same way, so it lives below both
and neither imports the other for it.
"""

from __future__ import annotations

import logging
import os
import sys


def setup_logging(verbose: int, daemon: bool = False) -> None:
    level = logging.WARNING if verbose == 0 and not daemon else (logging.INFO if verbose <= 1 else logging.DEBUG)
    # Under journald the journal adds the time itself.
    fmt = "%(levelname)s %(name)s: %(message)s" if os.environ.get("JOURNAL_STREAM") else \
        "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level, format=fmt, stream=sys.stderr, force=True)
    # The IMAP conversation (imapclient redacts the LOGIN password) only with -vv.
    logging.getLogger("imapclient").setLevel(logging.WARNING if verbose < 2 else logging.DEBUG)
