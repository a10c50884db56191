"""What ``status`` needs from a config validated before, without validating it again.

Validating a config imports pydantic and builds its models: 0.3 s, more than
the rest of ``status`` on 10,000 threads takes. So each successful
validation leaves a note in the cache directory: the state directory and
the account names, keyed by the file's path and content, this version, and
the environment the defaults come from. ``status`` reads the note when the
key matches and validates in full otherwise, so an edited or broken config
is always seen as it is.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mail_followup import __version__
from mail_followup.paths import APP

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Note:
    state_dir: Path
    accounts: tuple[str, ...]


def note_path(config: Path) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    name = hashlib.sha256(str(config.resolve()).encode()).hexdigest()[:24]
    return Path(base) / APP / "configs" / f"{name}.json"


def _key(config: Path, content: bytes) -> str:
    digest = hashlib.sha256()
    for part in (str(config.resolve()), __version__, os.environ.get("XDG_STATE_HOME", ""),
                 os.path.expanduser("~")):
        digest.update(part.encode() + b"\0")
    digest.update(content)
    return digest.hexdigest()


def recall(config: Path) -> Note | None:
    """The note for the config as it is now; None when there is none or the file changed since."""
    config = config.expanduser()
    try:
        content = config.read_bytes()
        note = json.loads(note_path(config).read_text(encoding="utf-8"))
        if note.get("key") != _key(config, content):
            return None
        return Note(Path(note["state_dir"]), tuple(note["accounts"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(config: Path, content: bytes, state_dir: Path, accounts: tuple[str, ...]) -> None:
    """Leave the note for a config just validated from ``content``; a cache that cannot be written is no error."""
    path = note_path(config)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"key": _key(config, content), "state_dir": str(state_dir), "accounts": list(accounts)}, out)
        os.replace(temporary, path)
    except OSError as exc:
        log.debug("cannot write the config note %s: %s", path, exc)
