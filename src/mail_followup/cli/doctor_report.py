"""What the doctor found, and how it is shown: one line a finding, a fix under each problem, an exit code.

Every check returns findings and never prints; ``report`` is the one place
that turns them into the text the user reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

CONFIG_AREA = "config"


@dataclass(frozen=True)
class Finding:
    """One fact the doctor checked.

    ``ok`` False is a problem (the exit code is non-zero) and ``fix`` says
    what to do. ``note`` marks an ok finding that is worth reading anyway
    (a missing capability and what its fallback costs, an unknown clock).
    """

    area: str
    ok: bool
    what: str
    fix: str | None = None
    note: bool = False


def report(findings: list[Finding]) -> tuple[str, int]:
    """The findings as text, one line each (a problem adds its fix), and the exit code.

    0: no problem; 1: at least one; 2: the config did not load (nothing
    else could be checked, as for every other command).
    """
    lines: list[str] = []
    for finding in findings:
        label = "PROBLEM" if not finding.ok else ("note" if finding.note else "ok")
        lines.append(f"{label:<7}  {finding.area}: {one_line(finding.what)}")
        if not finding.ok and finding.fix:
            lines.append(f"{'':<7}    fix: {one_line(finding.fix)}")
    problems = sum(1 for f in findings if not f.ok)
    lines.append(f"{problems} problem(s) found" if problems else "no problem found")
    if any(not f.ok and f.area == CONFIG_AREA for f in findings):
        code = 2
    else:
        code = 1 if problems else 0
    return "\n".join(lines) + "\n", code


def one_line(value: object) -> str:
    """The text with every run of white space made one space: a finding is shown on one line."""
    return " ".join(str(value).split())


def utc_offset(moment: datetime) -> str:
    """The moment's offset from UTC as a finding shows it: ``+02:00``."""
    return moment.strftime("%z")[:3] + ":" + moment.strftime("%z")[3:]
