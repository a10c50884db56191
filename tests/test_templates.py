"""Templates, built in and the user's: checked before use, file and line in every complaint (DOMAIN.md R13, R16)."""

from pathlib import Path

import pytest

from mail_followup.config import parse_config
from mail_followup.errors import ConfigError
from mail_followup.core.language import all_blame_phrases, available_languages, texts
from mail_followup.core.templates import KINDS, builtin_templates, check, load_templates, sample_contexts


def test_every_language_has_templates_for_every_kind() -> None:
    assert set(available_languages()) >= {"en", "de", "sv", "nb"}
    for code in available_languages():
        for kind in KINDS:
            assert len(builtin_templates().by_kind[(code, kind)]) >= 2, (code, kind)


@pytest.mark.parametrize("code", ["en", "de", "sv", "nb"])
def test_no_built_in_template_blames_or_fails_in_any_scenario(code: str) -> None:
    for kind in KINDS:
        for template in builtin_templates().by_kind[(code, kind)]:
            assert check(template) == [], template.path


@pytest.mark.parametrize("code", ["en", "de", "sv", "nb"])
def test_the_last_note_asks_whether_to_stop_and_variants_differ(code: str) -> None:
    templates = builtin_templates()
    for kind in KINDS:
        context = sample_contexts(kind)[0]
        rendered = {templates.render(code, kind, f"<thread{i}@x>", context) for i in range(40)}
        assert len(rendered) >= 2, (code, kind)  # the variant depends on the thread (R16)
        if kind == "last":
            assert all("?" in text for text in rendered)


def test_blame_phrases_exist_in_every_language() -> None:
    for code in ("en", "de", "sv", "nb"):
        assert len(texts(code).blame_phrases) >= 10
    assert "you ignored" in " ".join(all_blame_phrases())


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(root: Path) -> list[str]:
    with pytest.raises(ValueError) as info:
        load_templates(str(root))
    return str(info.value).split("\n")


def test_a_user_template_replaces_the_built_in_ones_of_its_language_and_kind(tmp_path: Path) -> None:
    write(tmp_path, "en/first-1.j2", "Hope you are well{% if their_name %}, {{ their_name }}{% endif %}. "
                                     "Any news on “{{ subject }}”?")
    templates = load_templates(str(tmp_path))
    context = {**sample_contexts("first")[0], "their_name": "Kim"}
    assert templates.render("en", "first", "<t@x>", context) == "Hope you are well, Kim. Any news on “Coffee next week?”?"
    assert len(templates.variants("en", "first")) == 1
    assert templates.variants("de", "first") == builtin_templates().variants("de", "first")
    assert templates.variants("en", "last") == builtin_templates().variants("en", "last")


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("en/first-1.j2", "Hello.\n\nAny news on {{ subjet }}?", "first-1.j2:3: unknown variable 'subjet'"),
    ("en/later-1.j2", "Hi.\n{% if formal %}\nSorry to bother you.\n", "later-1.j2:3: Unexpected end of template"),
    ("de/last-2.j2", "Guten Tag.\nSie haben nicht geantwortet, schade.\nSoll ich aufhören?",
     "last-2.j2:2: blames the reader ('sie haben nicht geantwortet')"),
    ("sv/first-1.j2", "{{ subject.__class__.__mro__ }}", "first-1.j2:1: cannot render it"),
    ("en/first.j2", "Hello.", "first.j2:1: not a template"),
    ("xx/first-1.j2", "Hello.", "first-1.j2:1: not a template"),
])
def test_mistakes_in_user_templates_name_the_file_and_line(tmp_path: Path, name: str, text: str,
                                                           expected: str) -> None:
    write(tmp_path, name, text)
    found = problems_of(tmp_path)
    assert any(expected in p and p.startswith(str(tmp_path)) for p in found), found


def test_the_config_refuses_broken_templates_at_load(tmp_path: Path) -> None:
    write(tmp_path / "tpl", "en/first-1.j2", "Any news, {{ name }}?")
    text = (f"defaults:\n  templates_dir: {tmp_path / 'tpl'}\naccounts:\n  - name: a\n"
            "    imap: {host: h, username: u}\n    addresses: [a@b.example]\n")
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "config.yaml")
    assert any("first-1.j2:1: unknown variable 'name'" in p for p in info.value.problems)
