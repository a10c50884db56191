"""The layout keeps the shape ARCHITECTURE.md describes: layers that import downwards only, no cycle,
no module a newcomer cannot read in one sitting.

Read from the source with ``ast``, lazy imports inside functions included: an import that runs
only on one path still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "mail_followup"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80

# What each layer may import, besides itself. The top level (config, errors, paths, logs) is the
# foundation every layer stands on; the command line may use everything.
LAYERS = ("top", "core", "state", "imap", "service", "cli")
MAY_IMPORT = {
    "top": {"top"},
    "core": {"top", "core"},
    "state": {"top", "core", "state"},
    "imap": {"top", "core", "state", "imap"},
    "service": {"top", "core", "state", "imap", "service"},
    "cli": set(LAYERS),
}
# Imports against the rule, each allowed for a reason a reader can weigh (import-linter's ignore_imports).
EXCEPTIONS = {
    ("mail_followup.config.reading", "mail_followup.core.templates"):
        "the config refuses a broken templates_dir at load, with file:line, using the core's own checks; "
        "imported lazily, and the core's templates import nothing of the config",
}


def module_name(path: Path) -> str:
    parts = ["mail_followup", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in LAYERS:
        return parts[1]
    return "cli" if module == "mail_followup.__main__" else "top"


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (``from a import b`` counts ``a.b`` when
    ``b`` is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("mail_followup")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mail_followup"):
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in MODULES}
    return {m for m in found if m in MODULES}


GRAPH = {name: imported(path) - {name} for name, path in MODULES.items()}


def test_the_layout_has_every_layer() -> None:
    assert {layer(m) for m in MODULES} == set(LAYERS)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(module: str) -> None:
    allowed = MAY_IMPORT[layer(module)]
    wrong = sorted(m for m in GRAPH[module] if layer(m) not in allowed and (module, m) not in EXCEPTIONS)
    assert not wrong, f"{module} ({layer(module)}) may not import {wrong}"


def test_no_import_cycle() -> None:
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            # A package imports its own modules to show its face; that is not a cycle of meaning.
            if module == target.rpartition(".")[0]:
                continue
            if state.get(target) == 1:
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long_to_read_in_one_sitting(module: str) -> None:
    lines = len(MODULES[module].read_text("utf-8").splitlines())
    assert lines <= MAX_MODULE_LINES, f"{module}: {lines} lines"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_function_is_too_long_to_read_in_one_sitting(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text("utf-8"))
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines, line {n.lineno})" for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
            and n.end_lineno is not None and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{module}: {long}"
