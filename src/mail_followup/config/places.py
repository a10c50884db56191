"""Where in the file each key is, so that every problem is reported as ``file:line: key.path: what``.

pydantic names a mistake by its key path (``accounts[0].imap.port``) and
its own wording; the user needs the line to go to and a sentence to act on.
The YAML's node tree gives the lines (and the duplicate keys YAML itself
silently drops); these turn each error into the line the user reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

KeyPath = tuple[str | int, ...]


def index_lines(node: yaml.Node, key: KeyPath, lines: dict[KeyPath, int], problems: list[str], path: Path) -> None:
    """Remember the line of every key path, and report duplicate keys (YAML silently keeps the last)."""
    lines[key] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for knode, vnode in node.value:
            name = knode.value
            if name in seen:
                problems.append(f"{path}:{knode.start_mark.line + 1}: {dotted(key + (name,))}: key given twice")
            seen.add(name)
            lines[key + (name,)] = knode.start_mark.line + 1
            index_lines(vnode, key + (name,), lines, problems, path)
            lines[key + (name,)] = knode.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            index_lines(item, key + (i,), lines, problems, path)


def line_for(loc: KeyPath, lines: dict[KeyPath, int]) -> int:
    loc = tuple(p for p in loc if not (isinstance(p, str) and p in {"list[str]", "literal['auto']"}))
    while loc and loc not in lines:
        loc = loc[:-1]
    return lines.get(loc, 1)


def dotted(loc: KeyPath) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in {"list[str]", "literal['auto']"}:
            continue
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def message(err: Any) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling against config.example.yaml)"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")
