from pathlib import Path

import pytest

from mail_followup.config import load_config, parse_config
from mail_followup.errors import ConfigError

GOOD = """\
state_dir: {state}
defaults:
  timezone: Europe/Oslo
  country: "NO"
  policies:
    default: {{waits_days: [5, 9], max_followups: 3}}
accounts:
  - name: work
    imap: {{host: imap.example.org, username: me@example.org}}
    addresses: [Me@Example.org]
  - name: home
    imap: {{host: imap.example.net, username: me, security: starttls}}
    addresses: [me@example.net]
    timezone: Europe/Stockholm
    country: SE
"""


def problems(text: str, tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, tmp_path / "config.yaml")
    return info.value.problems


def test_accounts_inherit_defaults_and_override_them(tmp_path: Path) -> None:
    config = parse_config(GOOD.format(state=tmp_path), tmp_path / "c.yaml")
    work, home = config.accounts
    assert work.settings.timezone == "Europe/Oslo" and work.settings.country == "NO"
    assert home.settings.timezone == "Europe/Stockholm" and home.settings.country == "SE"
    assert work.addresses == ("me@example.org",)
    assert work.imap.effective_port == 993 and home.imap.effective_port == 143
    assert home.settings.policy("default").waits_days == [5, 9]
    assert home.settings.policy("default").wait_before(3) == 9
    assert config.state_dir == tmp_path


def test_the_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "config.example.yaml")
    assert [a.name for a in config.accounts] == ["work"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # a missing host, with the line of the imap section
        ("accounts:\n  - name: a\n    imap:\n      username: u\n    addresses: [a@b.example]\n",
         "config.yaml:3: accounts[0].imap.host: required key is missing"),
        # an unknown key, named at its own line
        ("accounts:\n  - name: a\n    imap: {host: h, username: u}\n    adresses: [a@b.example]\n",
         "config.yaml:4: accounts[0].adresses: unknown key"),
        # a wrong type
        ("defaults:\n  lookback_days: soon\naccounts:\n  - name: a\n    imap: {host: h, username: u}\n    addresses: [a@b.example]\n",
         "config.yaml:2: defaults.lookback_days:"),
        ("defaults:\n  timezone: Europe/Osloo\naccounts: []\n", "config.yaml:2: defaults.timezone: unknown timezone 'Europe/Osloo'"),
        ("defaults:\n  country: XX\naccounts: []\n", "config.yaml:2: defaults.country: unknown country code 'XX'"),
        ("defaults:\n  draft_hours: ['11:00-09:00']\naccounts: []\n", "ends before it starts"),
        ("accounts:\n  - name: a\n    name: b\n", "config.yaml:3: accounts[0].name: key given twice"),
        ("accounts: [\n", "not valid YAML"),
        # the rules of issue 4: scenarios, the calendar, contacts
        ("defaults:\n  calendar:\n    vacation: ['2026-12-21..2026-12-01']\naccounts: []\n",
         "config.yaml:3: defaults.calendar.vacation: '2026-12-21..2026-12-01' ends before it starts"),
        ("defaults:\n  calendar:\n    vacation: [christmas]\naccounts: []\n", "write 2026-12-24 or 2026-12-21..2027-01-03"),
        ("defaults:\n  calendar: {avoid_tuesdays: true}\naccounts: []\n",
         "config.yaml:2: defaults.calendar.avoid_tuesdays: unknown key"),
        ("defaults:\n  contacts:\n    '@x.example': {country: XX}\naccounts: []\n",
         "config.yaml:3: defaults.contacts.@x.example.country: unknown country code 'XX'"),
        ("defaults:\n  contacts:\n    '@x.example': {prefers: fax}\naccounts: []\n",
         "config.yaml:3: defaults.contacts.@x.example.prefers:"),
        ("defaults:\n  scenario_rules:\n    - {scenario: sales}\naccounts: []\n",
         "config.yaml:3: defaults.scenario_rules[0]: give at least one of subject, body, keywords, recipients"),
        ("defaults:\n  policies:\n    sales: {waits_days: [0]}\naccounts: []\n",
         "config.yaml:3: defaults.policies.sales.waits_days: every wait must be at least 1 day"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_each_mistake_names_file_line_and_key(text: str, expected: str, tmp_path: Path) -> None:
    found = problems(text, tmp_path)
    assert any(expected in p for p in found), found


def test_every_mistake_is_reported_at_once(tmp_path: Path) -> None:
    text = "defaults:\n  timezone: Mars/Base\n  country: XX\naccounts:\n  - name: a\n    imap: {username: u}\n    addresses: [nope]\n"
    found = problems(text, tmp_path)
    assert len(found) == 4, found


def test_a_scenario_must_be_built_in_or_defined_and_an_account_sees_its_defaults(tmp_path: Path) -> None:
    account = "  - name: a\n    imap: {host: h, username: u}\n    addresses: [a@b.example]\n"
    text = ("defaults:\n  policies:\n    investor: {waits_days: [14]}\naccounts:\n" + account +
            "    scenario_rules:\n      - {scenario: investor, subject: [pitch]}\n"
            "      - {scenario: invester, subject: [deck]}\n")
    found = problems(text, tmp_path)
    assert found == ["%s:10: accounts[0].scenario_rules[1].scenario: the scenario 'invester' is neither built in "
                     "nor defined under policies" % (tmp_path / "config.yaml")]


def test_sections_merge_key_by_key(tmp_path: Path) -> None:
    account = "  - name: a\n    imap: {host: h, username: u}\n    addresses: [a@b.example]\n"
    text = ("defaults:\n  calendar: {avoid_mondays: false}\n  policies: {interview: {max_followups: 1}}\n"
            "  contacts: {'@x.example': {country: SE}}\naccounts:\n" + account +
            "    calendar: {vacation: ['2026-12-24']}\n    policies: {interview: {waits_days: [5]}}\n"
            "    contacts: {'@x.example': {prefers: phone}}\n")
    settings = parse_config(text, tmp_path / "c.yaml").accounts[0].settings
    assert not settings.calendar.avoid_mondays and settings.calendar.vacation == ["2026-12-24"]
    interview = settings.policy("interview")
    assert (interview.waits_days, interview.max_followups, interview.business_days) == ([5], 1, True)
    contact = settings.contacts["@x.example"]
    assert (contact.country, contact.prefers) == ("SE", "phone")


def test_duplicate_account_names_are_refused(tmp_path: Path) -> None:
    account = "  - name: a\n    imap: {host: h, username: u}\n    addresses: [a@b.example]\n"
    found = problems("accounts:\n" + account + account, tmp_path)
    assert any("'a' is used twice" in p for p in found)


def test_a_missing_file_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "does not exist" in str(info.value)


@pytest.mark.parametrize(("text", "problem"), [
    # A "billion laughs": nine levels of nine aliases each, a few hundred bytes.
    ("a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
     + "accounts: *i\n", "expands to more than 50,000 values"),
    ("accounts:\n" + "".join(f"  - x{i}\n" for i in range(400_000)), "more than any config"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
])
def test_a_hostile_config_is_refused_at_once_and_in_one_line(tmp_path: Path, text: str, problem: str) -> None:
    """Issue 19: such a file took gigabytes (the aliases) or half a minute (the size) before any error."""
    import time

    path = tmp_path / "config.yaml"
    path.write_text(text)
    start = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    # At once, against the 10 to 30 s (and gigabytes) these took before; the bound leaves room for a loaded
    # machine (the deepest nesting costs half a second of CPU to refuse).
    assert time.monotonic() - start < 5 and problem in str(raised.value)
