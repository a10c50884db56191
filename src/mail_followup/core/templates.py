"""The words of a follow-up: Jinja2 templates, built in or the user's own, checked before use.

A template renders only the new text between the greeting and the closing.
It runs in Jinja2's sandbox with strict undefined variables, because a user
template is code the user may have copied from anywhere. Every template is
checked when the config is loaded: a syntax error, an unknown variable or a
blaming phrase (DOMAIN.md R13) names the file and the line, and nothing is
written until it is fixed.

Layout, built in (``src/mail_followup/templates``) and in a user's
``templates_dir`` alike: ``<language>/<kind>-<n>.j2``, where kind is
``first``, ``later`` or ``last`` (the "should I stop?" note, R11) and n
numbers the variants (R16). A user's files for one language and kind
replace the built-in ones for it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mail_followup.core.language import all_blame_phrases, available_languages

KINDS = ("first", "later", "last")
VARIABLES = ("subject", "scenario", "attempt", "kind", "formal", "their_name", "days", "sender_name")
SAMPLE_SCENARIOS = ("job-application", "phone-screen", "interview", "networking", "meeting", "sales", "default",
                    "a-scenario-of-your-own")
_NAME = re.compile(r"^(first|later|last)-(\d+)\.j2$")


@dataclass(frozen=True)
class Template:
    path: str  # for messages: the built-in "templates/en/first-1.j2" or the user's file
    language: str
    kind: str
    number: int
    source: str


@dataclass
class Templates:
    """Every template by (language, kind), variants in order."""

    by_kind: dict[tuple[str, str], list[Template]] = field(default_factory=dict)

    def variants(self, language: str, kind: str) -> list[Template]:
        return self.by_kind.get((language, kind)) or self.by_kind[("en", kind)]

    def render(self, language: str, kind: str, thread_key: str, context: Mapping[str, Any]) -> str:
        """The new text for one draft. The variant depends on the thread and the attempt, so a rerun
        writes the same words and consecutive attempts of one thread read differently (R16)."""
        variants = self.variants(language, kind)
        seed = int(hashlib.sha256(thread_key.encode()).hexdigest()[:8], 16)
        chosen = variants[(seed + int(context["attempt"])) % len(variants)]
        return _compiled(chosen.path, chosen.source).render(**context).strip()


def load_templates(user_dir: str | None = None) -> Templates:
    """The built-in templates, with the user's from ``user_dir`` replacing theirs kind by kind.

    Raise ValueError listing every problem as ``file:line: what`` (see ``check``).
    """
    found = builtin_templates()
    if user_dir:
        own, problems = _read_dir(Path(user_dir).expanduser())
        problems += [p for t in own for p in check(t)]
        if problems:
            raise ValueError("\n".join(problems))
        merged = dict(found.by_kind)
        for template in own:
            merged.pop((template.language, template.kind), None)
        for template in own:
            merged.setdefault((template.language, template.kind), []).append(template)
        for variants in merged.values():
            variants.sort(key=lambda t: t.number)
        found = Templates(merged)
    return found


@lru_cache(maxsize=1)
def builtin_templates() -> Templates:
    root = resources.files("mail_followup.core") / "templates"
    by_kind: dict[tuple[str, str], list[Template]] = {}
    for language in available_languages():
        folder = root / language
        if not folder.is_dir():
            continue
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            match = _NAME.match(item.name)
            if match:
                template = Template(f"templates/{language}/{item.name}", language, match.group(1),
                                    int(match.group(2)), item.read_text("utf-8"))
                by_kind.setdefault((language, template.kind), []).append(template)
    for variants in by_kind.values():
        variants.sort(key=lambda t: t.number)
    return Templates(by_kind)


def _read_dir(root: Path) -> tuple[list[Template], list[str]]:
    if not root.is_dir():
        return [], [f"{root}: templates_dir is not a folder"]
    found: list[Template] = []
    problems: list[str] = []
    for path in sorted(root.rglob("*")):
        if path.is_dir() or path.name.startswith("."):
            continue
        match = _NAME.match(path.name)
        language = path.parent.name if path.parent != root else ""
        if not match or language not in available_languages():
            problems.append(f"{path}:1: not a template: name it <language>/<kind>-<n>.j2, with a language of "
                            f"{', '.join(available_languages())} and a kind of {', '.join(KINDS)}")
            continue
        try:
            source = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{path}:1: cannot read it: {exc}")
            continue
        found.append(Template(str(path), language, match.group(1), int(match.group(2)), source))
    return found, problems


def check(template: Template) -> list[str]:
    """What is wrong with ``template``, each as ``file:line: what``: syntax, unknown variables, blame."""
    from jinja2 import TemplateSyntaxError, nodes

    try:
        tree = _environment().parse(template.source)
    except TemplateSyntaxError as exc:
        return [f"{template.path}:{exc.lineno}: {exc.message}"]
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    problems = [f"{template.path}:{n.lineno}: unknown variable {n.name!r}; known: {', '.join(VARIABLES)}"
                for n in tree.find_all(nodes.Name)
                if n.ctx == "load" and n.name not in VARIABLES and n.name not in assigned]
    if problems:
        return problems
    seen: set[str] = set()
    for context in sample_contexts(template.kind):
        try:
            text = _compiled(template.path, template.source).render(**context)
        except Exception as exc:  # the sandbox's refusals and runtime errors alike
            line = _error_line(exc)
            return [f"{template.path}:{line}: cannot render it: {exc}"]
        if not text.strip():
            return [f"{template.path}:1: renders to nothing for scenario {context['scenario']!r}"]
        lowered = " ".join(text.casefold().replace("\u2019", "'").split())
        for phrase in all_blame_phrases():
            if phrase in lowered and phrase not in seen:
                seen.add(phrase)
                problems.append(f"{template.path}:{_line_of(template.source, phrase)}: blames the reader "
                                f"({phrase!r}); a follow-up never does (DOMAIN.md R13)")
    return problems


def sample_contexts(kind: str) -> list[dict[str, Any]]:
    """Every scenario, in both registers: what a template must render without error or blame."""
    attempt = {"first": 1, "later": 2, "last": 3}[kind]
    return [{"subject": "Coffee next week?", "scenario": s, "attempt": attempt, "kind": kind, "formal": formal,
             "their_name": name, "days": 8, "sender_name": "Kari Nordmann"}
            for s in SAMPLE_SCENARIOS for formal in (True, False) for name in ("Kim", "")]


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                keep_trailing_newline=False, autoescape=False)


@lru_cache(maxsize=256)
def _compiled(path: str, source: str) -> Any:
    return _environment().from_string(source)


def _line_of(source: str, phrase: str) -> int:
    for number, line in enumerate(source.split("\n"), start=1):
        if phrase in " ".join(line.casefold().split()):
            return number
    return 1


def _error_line(exc: Exception) -> int:
    """The template line of a render error: Jinja2 rewrites the traceback to point into the template."""
    import traceback

    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == "<template>" and f.lineno]
    return lines[-1] if lines else 1
