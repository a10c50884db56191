"""The review sheet (issue 20): every scenario, attempt and language, read as a native speaker reads it.

The sheet is golden: tests/golden/sheet/<language>/<scenario>.txt is what a
reviewer approved. Set MF_UPDATE_GOLDEN=1 to write it again after a
deliberate change of wording, then read the diff as a native speaker would.
The mechanical checks run on it too, and are shown to fail on drafts with
the faults a review found by hand.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from mail_followup.core.compose import quote
from mail_followup.config import DEFAULT_POLICIES
from mail_followup.core.language import available_languages, texts
from mail_followup.cli.review_sheet import SCENARIOS, main, problems, quote_problems, render, sheet, weekly_reviews
from mail_followup.core.templates import load_templates

GOLDEN = Path(__file__).parent / "golden" / "sheet"
DRAFTS = sheet()
FILES = render(DRAFTS) | weekly_reviews()


@pytest.mark.parametrize("name", sorted(FILES))
def test_the_sheet_is_what_a_reviewer_approved(name: str) -> None:
    text = FILES[name]
    path = GOLDEN / name
    if os.environ.get("MF_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing: run with MF_UPDATE_GOLDEN=1 and review it"
    assert text == path.read_text(encoding="utf-8")


def test_the_sheet_has_every_scenario_attempt_and_language() -> None:
    attempts = sum(DEFAULT_POLICIES[s].max_followups for s in SCENARIOS)
    assert Counter(d.language for d in DRAFTS) == {code: 2 * attempts for code in available_languages()}
    assert set(available_languages()) == {"en", "de", "sv", "nb"}
    for code in available_languages():
        used = {(d.kind, d.new_text) for d in DRAFTS if d.language == code}
        assert {kind for kind, _ in used} == {"first", "later", "last"}
    # every variant of every kind is on the sheet: two threads per scenario pick them all
    sales = [d for d in DRAFTS if d.language == "en" and d.scenario == "sales"]
    assert len({d.new_text for d in sales if d.kind == "later"}) == 3


def test_no_draft_on_the_sheet_has_a_fault_a_machine_can_see() -> None:
    assert problems(DRAFTS) == []


def test_every_language_has_its_blaming_phrases() -> None:
    for code in available_languages():
        assert len(texts(code).blame_phrases) >= 20, code


def test_the_checks_catch_what_the_review_found_by_hand(tmp_path: Path) -> None:
    """A subject pasted in as a noun, "I hope" twice in a row, blame: the faults of the drafts before issue 20."""
    own = tmp_path / "templates" / "en"
    own.mkdir(parents=True)
    (own / "first-1.j2").write_text('I hope you are well.\n\nI wanted to follow up on "{{ subject }}".\n')
    (own / "later-1.j2").write_text("I hope all is well.\n\nAny news?\n")
    (own / "last-1.j2").write_text("I hope your week is good.\n\nShall I stop following up?\n")
    templates = load_templates(str(tmp_path / "templates"))
    found = "\n".join(problems(sheet(templates, ("en",))))
    assert "en/sales thread 1 attempt 1: the subject is pasted into the text" in found
    assert "en/sales thread 1 attempt 2: opens as the attempt before did" in found
    assert "en/default thread 2 attempt 2: opens as the attempt before did" in found


def test_a_quote_never_ends_in_blank_quote_lines() -> None:
    assert quote_problems("Hi,\n\nNews?\n\nOn Mon, Kari wrote:\n> Hello\n>\n") != []
    assert quote_problems("x\n> a\n>\n>> b\n>>\n> c\n") == ["a blank quote line '>>' ends a quote (line 5)"]
    assert quote_problems("x\n> a\n>\n> On Mon, Kari wrote:\n>> b\n") == []
    earlier = "Hi,\n\nA question.\n\nBest,\nKari\n\n"
    assert quote(quote(earlier)) == ">> Hi,\n>>\n>> A question.\n>>\n>> Best,\n>> Kari"
    assert quote("> old\n>\n>\n\n") == ">> old"
    assert quote("") == ">"


def test_the_script_writes_the_sheet_and_says_what_it_found(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "out"), "--language", "sv"]) == 0
    assert "30 drafts written" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "out" / "sv").iterdir()) == \
        sorted([f"{s}.txt" for s in SCENARIOS] + ["weekly-review.txt"])
    bad = tmp_path / "bad" / "sv"
    bad.mkdir(parents=True)
    (bad / "first-1.j2").write_text("Jag följer upp ”{{ subject }}”.\n")
    assert main([str(tmp_path / "out2"), "--language", "sv", "--templates-dir", str(tmp_path / "bad")]) == 1
    assert "the subject is pasted into the text" in capsys.readouterr().out
