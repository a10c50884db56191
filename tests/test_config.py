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


def test_duplicate_account_names_are_refused(tmp_path: Path) -> None:
    account = "  - name: a\n    imap: {host: h, username: u}\n    addresses: [a@b.example]\n"
    found = problems("accounts:\n" + account + account, tmp_path)
    assert any("'a' is used twice" in p for p in found)


def test_a_missing_file_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nope.yaml")
    assert "does not exist" in str(info.value)
