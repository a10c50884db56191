"""The linter and the type check stay clean: both are configured in pyproject.toml and run on src/.

They run here, in the suite CI runs, so a change that breaks either is red like any other failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *command], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_in_the_source() -> None:
    done = run("ruff", "check", "--no-cache", "src")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing_in_the_source(tmp_path: Path) -> None:
    done = run("mypy", "--cache-dir", str(tmp_path / "mypy-cache"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_linter_would_see_a_mistake(tmp_path: Path) -> None:
    """The two checks above are not green because they look at nothing: the same configuration finds an
    unused import and a wrong type in a file that has them."""
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text("utf-8"), "utf-8")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bad.py").write_text("import os\n\n\ndef half(n: int) -> int:\n    return n / 2\n", "utf-8")
    ruff = run("ruff", "check", "--no-cache", "src", cwd=tmp_path)
    mypy = run("mypy", "--cache-dir", str(tmp_path / "mypy-cache"), cwd=tmp_path)
    assert "F401" in ruff.stdout, ruff.stdout + ruff.stderr
    assert "Incompatible return value type" in mypy.stdout, mypy.stdout + mypy.stderr
