"""The command line as a user meets it: help, exit codes, errors without tracebacks, the service, the demo."""

from __future__ import annotations

import io
import json
import os
import signal
import site
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mail_followup.cli.main import main


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mail_followup", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def test_help_answers_the_basic_questions() -> None:
    done = run_cli("--help")
    assert done.returncode == 0
    for text in ("never sends mail", "mail-followup demo", "exit codes", "scan", "status", "run", "auth"):
        assert text in done.stdout
    scan_help = run_cli("scan", "--help").stdout
    assert "--dry-run" in scan_help and "--now" in scan_help and "--json" in scan_help


def test_no_command_is_a_usage_error(capsys) -> None:
    assert main([]) == 2


def test_a_broken_config_exits_2_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("defaults:\n  timezone: Nowhere/Land\naccounts:\n  - name: a\n    imap: {host: h}\n")
    done = run_cli("scan", "--config", str(config))
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert f"{config}:2: defaults.timezone: unknown timezone 'Nowhere/Land'" in done.stderr
    assert f"{config}:5: accounts[0].imap.username: required key is missing" in done.stderr
    assert f"{config}:4: accounts[0].addresses: required key is missing" in done.stderr


def test_options_may_come_before_or_after_the_command(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    for args in (("--config", str(missing), "status"), ("status", "--config", str(missing))):
        done = run_cli(*args)
        assert done.returncode == 2 and f"{missing}: 1 problem(s)" in done.stderr


def test_an_unknown_account_is_a_usage_error(configured, capsys) -> None:
    _, config = configured
    assert main(["scan", "--config", str(config), "--account", "nope"]) == 2
    assert "no account named 'nope' (accounts: test)" in capsys.readouterr().err


def test_a_bad_now_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["scan", "--now", "next tuesday"])
    assert info.value.code == 2 and "not an ISO 8601 moment" in capsys.readouterr().err


def test_the_service_runs_a_pass_and_stops_on_sigterm(configured, tmp_path: Path) -> None:
    account, config = configured
    env = {**os.environ, "MF_TEST_PASSWORD": account.password}
    proc = subprocess.Popen([sys.executable, "-m", "mail_followup", "run", "--config", str(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        threads: list[dict] = []
        while time.monotonic() < deadline and not threads:
            time.sleep(0.3)
            status = run_cli("status", "--config", str(config), "--json", env=env)
            threads = json.loads(status.stdout)["threads"] if status.returncode == 0 else []
        if len(threads) != 4:
            proc.kill()
            pytest.fail(f"the service did not finish a pass within 60 s; it said:\n{proc.communicate(timeout=30)[1]}")
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "account test: a pass every 15 minute(s)" in err and "stopped" in err


def test_the_demo_writes_drafts_for_the_due_threads_only() -> None:
    from mail_followup.cli.demo import run_demo

    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "3 draft(s) in Drafts:" in text
    assert "Subject: Re: Coffee next week?" in text and "Subject: Re: Speaking at our meetup" in text
    # Four languages: a German draft in the Sie form, a Swedish out-of-office, a Norwegian bounce.
    assert "Subject: Re: Bewerbung als Entwicklerin" in text
    assert "Sehr geehrter Herr Groß," in text and "Mit freundlichen Grüßen" in text
    assert "Waiting (2)" in text and "Fika nästa vecka?" in text and "Bounced (1)" in text
    assert "Answered (2)" in text and "Reached the cap (no more follow-ups) (1)" in text
    # The recruiter wrote back in a new thread: in touch, and which message counted is shown.
    assert "In touch outside the thread" in text and "Application: UX designer" in text
    assert "Eva Holm <eva.holm@nordic.example> wrote 2026-12-04 " in text
    assert "in INBOX: \u201cInterview invitation\u201d  [<ux@demo.example>]" in text
    assert "Not tracked (expects no answer) (1)" in text


def test_the_demo_runs_from_a_fresh_virtual_environment(tmp_path: Path) -> None:
    """The README's first command: a non-editable install into a new venv ships everything the demo needs.

    The venv borrows the dependencies already installed (no network); the package itself is built and
    installed from the source tree. It borrows them from the interpreter running the tests, which may be a
    venv itself (the README's way): ``--system-site-packages`` would reach past that to the base Python.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    purelib = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A plain path in a .pth file comes after the venv's own site-packages, and the .pth files in it (such as
    # an editable install of this project) are not run: the wheel installed below is what imports.
    (Path(purelib) / "borrowed-from-the-test-runner.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    root = Path(__file__).resolve().parent.parent
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                            "-w", str(tmp_path / "dist"), str(root)], capture_output=True, text=True, cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("mail_followup-*.whl")
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    demo = subprocess.run([str(venv / "bin" / "mail-followup"), "demo"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=120)
    assert demo.returncode == 0, demo.stderr
    assert "3 draft(s) in Drafts:" in demo.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import mail_followup; print(mail_followup.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed copy ran, not the source tree


def test_the_status_table_lists_calls_and_snoozed_threads_with_their_dates() -> None:
    from datetime import datetime

    from mail_followup.service.report import table

    def row(state: str, subject: str) -> dict:
        return {"state": state, "subject": subject, "to": ["kim@example.com"], "account": "work",
                "not_before": "2026-12-22T08:30:00+01:00", "last_sent": "2026-12-01T15:00:00+01:00",
                "next_attempt": 1}

    text = table([row("call", "Call me"), row("snoozed", "Later")], datetime.fromisoformat("2026-12-09T09:00:00+01:00"))
    assert text.index("Call them instead (they prefer the phone) (1)") < text.index("Snoozed (1)")
    assert text.count("2026-12-22 08:30") == 2


def test_doctor_through_the_command_line(configured, capsys, monkeypatch) -> None:
    account, config = configured
    assert main(["doctor", "--config", str(config)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "no problem found" in out and "Drafts" in out
    monkeypatch.setenv("MF_TEST_PASSWORD", "wrong-password")
    assert main(["doctor", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "PROBLEM" in out and "wrong-password" not in out


def test_status_skips_validating_a_config_it_validated_before_and_sees_every_change(tmp_path: Path) -> None:
    """Validating takes 0.3 s (pydantic); an unchanged config's note gives status what it needs."""
    import subprocess
    import sys

    config = tmp_path / "config.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\naccounts:\n  - name: work\n    imap: {{host: h.example, "
                      "username: u, password_env: X}\n    addresses: [me@example.org]\n")
    probe = ("import sys\nfrom mail_followup.cli.main import main\ncode = main(['status', '--config', sys.argv[1]])\n"
             "print('validated' if 'pydantic' in sys.modules else 'from the note', code, file=sys.stderr)\n")

    def status() -> tuple[str, str]:
        done = subprocess.run([sys.executable, "-c", probe, str(config)], capture_output=True, text=True)
        return done.stdout, done.stderr.strip().splitlines()[-1]

    out, how = status()
    assert how == "validated 0" and "account work: never scanned" in out
    out, how = status()
    assert how == "from the note 0" and "account work: never scanned" in out
    config.write_text(config.read_text().replace("name: work", "name: home"))  # an edit is seen at once
    out, how = status()
    assert how == "validated 0" and "account home" in out and "account work" not in out
    config.write_text(config.read_text().replace("accounts:", "acounts:"))  # and so is a broken config
    out, how = status()
    assert how == "validated 2"
