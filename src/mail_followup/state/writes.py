"""Every write the product makes, numbered: the hook that proves a crash at any of them is harmless.

Each SQLite commit, each APPEND and each step of withdrawing one of its own
drafts calls ``step`` once it is done. Normally that costs a counter
increment. Two environment variables turn it into a test instrument, the
way isync tests its own recovery (it interrupts its run at every write and
checks that the resumed run ends in the same state):

- ``MAIL_FOLLOWUP_WRITE_LOG=PATH`` appends "N what" for every write;
- ``MAIL_FOLLOWUP_CRASH_AFTER=K`` ends the process at once (``os._exit``,
  no cleanup, like a power cut or SIGKILL) right after write K.

tests/test_crash.py and benchmarks/crash.py use them; nobody else should.
"""

from __future__ import annotations

import os

CRASH_EXIT = 99  # the exit code of a simulated crash
_count = 0


def step(what: str) -> None:
    global _count
    _count += 1
    log = os.environ.get("MAIL_FOLLOWUP_WRITE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{_count} {what}\n")
    crash = os.environ.get("MAIL_FOLLOWUP_CRASH_AFTER")
    if crash and crash.isdigit() and _count == int(crash):
        os._exit(CRASH_EXIT)
