"""What the benchmarks share: the code under test as a child process runs it, timing it, and saying
whether a figure met its goal."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tracking import NOW, peak_rss_mb  # the scripts that import this put tests/ and src/ on sys.path

ROOT = Path(__file__).resolve().parent.parent

ME = "me@example.org"


def env_for_children(**more: str) -> dict[str, str]:
    """The code under test, with bytecode caching on (as after a pip install, which compiles it)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **more}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def command() -> list[str]:
    script = shutil.which("mail-followup")
    return [script] if script else [sys.executable, "-m", "mail_followup"]


def median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float:
    subprocess.run(argv, env=env, capture_output=True, check=True)  # warm: caches, bytecode
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def config_text(state: Path, accounts: list[tuple[str, str, int, str]], **settings: object) -> str:
    extra = "".join(f"  {k}: {v}\n" for k, v in settings.items())
    lines = [f"state_dir: {state}\ndefaults:\n  timezone: Europe/Oslo\n  country: 'NO'\n{extra}accounts:\n"]
    for name, host, port, user in accounts:
        lines.append(f"  - name: {name}\n    imap: {{host: {host}, port: {port}, security: none, username: {user}, "
                     f"password_env: BENCH_PASSWORD, timeout_seconds: 10}}\n    addresses: [{ME}]\n")
    return "".join(lines)


def scan_argv(config: Path) -> list[str]:
    return [*command(), "scan", "--config", str(config), "--now", NOW, "--json"]


def goal(value: float, limit: float, unit: str = "s", at_most: bool = False) -> str:
    """The goal beside its figure and whether this run met it, so no one has to compare by eye."""
    met = value <= limit if at_most else value < limit
    return f"(goal {'at most' if at_most else 'under'} {limit:g}{' ' + unit if unit else ''}: " \
           f"{'met' if met else 'MISSED'})"


def ran(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """peak_rss_mb, failing loudly: a figure from a failed command would mislead."""
    elapsed, rss, done = peak_rss_mb(argv, env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:4])} failed: {done.stderr[-2000:]}")
    return elapsed, rss, done
