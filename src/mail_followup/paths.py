"""Where things live on disk, by the XDG base directory conventions."""

from __future__ import annotations

import os
from pathlib import Path

APP = "mail-followup"


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/mail-followup/config.yaml`` (``~/.config/...`` when unset)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / APP / "config.yaml"


def default_state_dir() -> Path:
    """``$XDG_STATE_HOME/mail-followup`` (``~/.local/state/...`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / APP


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` if needed and make it private (0700): it holds who you write to."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
