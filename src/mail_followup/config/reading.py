"""Reading a config: the file, refused unread when far too big, then the YAML, checked whole.

A broken config must never produce a traceback. Every mistake is reported at
once, each with the file, the line and the key path, so the user fixes the
file in one go (borgmatic's habit).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from pydantic import ValidationError

from mail_followup.config.accounts import Config, ConfigModel, resolve
from mail_followup.config.note import remember
from mail_followup.config.places import KeyPath, dotted, index_lines, line_for, message
from mail_followup.errors import ConfigError
from mail_followup.paths import default_state_dir


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read and validate the config at ``path``.

    Raise ConfigError listing every problem, each as ``file:line: key.path: what``.
    """
    path = Path(path).expanduser()
    try:
        with open(path, "rb") as source:  # no more than a config can be: a huge file is refused unread
            text = source.read(MAX_CONFIG_BYTES * 4 + 1).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["the file does not exist; copy config.example.yaml there, or pass --config PATH"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read the file: {exc}"]) from None
    config = parse_config(text, path)
    remember(path, text.encode("utf-8"), config.state_dir, tuple(a.name for a in config.accounts))
    return config


MAX_CONFIG_BYTES = 256 * 1024  # a config is a few kilobytes: far past that, it is the wrong file or a trap
MAX_CONFIG_VALUES = 50_000  # values, counting each use of an alias in full (a "billion laughs" counts a billion)


def parse_config(text: str, path: Path) -> Config:
    """Validate the text of a config. Raise ConfigError listing every problem, each with its place.

    A file far larger than any config, or whose aliases expand to more values than any config has, is
    refused before anything is built from it: otherwise such a file (loaded by SIGHUP into the service,
    say) would take gigabytes and minutes before the first error."""
    if len(text) > MAX_CONFIG_BYTES:
        raise ConfigError(str(path), [f"{path}: the file has {len(text):,} characters, more than any config "
                                      f"({MAX_CONFIG_BYTES:,} at most): is it the right file?"])
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        values = _values(root, {}) if root is not None else 0
        if values > MAX_CONFIG_VALUES:
            raise ConfigError(str(path), [f"{path}: the YAML expands to more than {MAX_CONFIG_VALUES:,} values "
                                          "(aliases that repeat aliases); a config needs a few hundred"])
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(str(path), [f"{where}: not valid YAML: {problem}"]) from None
    except RecursionError:
        raise ConfigError(str(path), [f"{path}: the YAML is nested too deeply to be a config"]) from None
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), [f"{path}:1: the file must be a mapping with 'accounts' (and optionally 'defaults')"])
    lines: dict[KeyPath, int] = {}
    problems: list[str] = []
    if root is not None:
        index_lines(root, (), lines, problems, path)
    try:
        model = ConfigModel.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            problems.append(f"{path}:{line_for(loc, lines)}: {dotted(loc)}: {message(err)}")
        raise ConfigError(str(path), problems) from None
    resolved = tuple(resolve(model.defaults, a) for a in model.accounts)
    for i, acct in enumerate(resolved):
        for loc, name in acct.settings.unknown_scenarios():
            at: KeyPath = ("accounts", i) + loc if loc[0] in model.accounts[i].model_fields_set else ("defaults",) + loc
            problems.append(f"{path}:{line_for(at, lines)}: {dotted(at)}: the scenario {name!r} is neither "
                            f"built in nor defined under policies")
    for folder in sorted({a.settings.templates_dir for a in resolved if a.settings.templates_dir}):
        from mail_followup.core.templates import load_templates

        try:
            load_templates(folder)
        except ValueError as exc:
            problems.extend(str(exc).split("\n"))
    names = [a.name for a in model.accounts]
    for i, name in enumerate(names):
        if names.index(name) != i:
            at_line = line_for(("accounts", i, "name"), lines)
            problems.append(f"{path}:{at_line}: accounts[{i}].name: {name!r} is used twice")
    if problems:
        raise ConfigError(str(path), problems)
    state_dir = Path(model.state_dir).expanduser() if model.state_dir else default_state_dir()
    return Config(path=path, state_dir=state_dir, accounts=resolved)


def _values(node: yaml.Node, known: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded; each node is counted once and its total
    reused (an alias is the same node again), so this costs the size of the file, not of the expansion."""
    found = known.get(id(node))
    if found is None:
        if isinstance(node, yaml.MappingNode):
            found = 1 + sum(_values(k, known) + _values(v, known) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            found = 1 + sum(_values(item, known) for item in node.value)
        else:
            found = 1
        known[id(node)] = found = min(found, MAX_CONFIG_VALUES + 1)
    return found
