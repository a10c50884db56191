"""The user unit must be one that systemd itself accepts."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).parent.parent / "systemd" / "mail-followup.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verify_accepts_the_user_unit(tmp_path: Path) -> None:
    script = shutil.which("mail-followup")
    if script is None:
        pytest.skip("mail-followup is not installed as a console script")
    home = tmp_path / "home"
    (home / ".local" / "bin").mkdir(parents=True)
    (home / ".local" / "bin" / "mail-followup").symlink_to(script)  # where the unit's ExecStart looks (%h)
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(runtime)}
    done = subprocess.run(["systemd-analyze", "--user", "verify", str(UNIT)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_unit_runs_the_service_and_restarts_on_failure() -> None:
    text = UNIT.read_text()
    assert "ExecStart=%h/.local/bin/mail-followup run" in text
    assert "Restart=on-failure" in text and "WantedBy=default.target" in text
