"""The YAML data this package ships (phrase lists, date rules, draft texts), read with libyaml when present.

A pass that reads any answer loads every language's phrase and date-rule
files; PyYAML's pure-Python loader took 0.12 s for them, its libyaml
loader 0.01 s, with the same result (both are YAML 1.1 with the safe
constructor).
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from importlib.abc import Traversable

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _folder(folder: str) -> Traversable:
    return resources.files("mail_followup.core").joinpath(*folder.split("/"))


def yaml_names(folder: str) -> tuple[str, ...]:
    """The names (without ``.yaml``) of the data files in ``folder`` ("phrases/deadlines"), in name order."""
    return tuple(sorted(p.name.removesuffix(".yaml") for p in _folder(folder).iterdir() if p.name.endswith(".yaml")))


def yaml_data(folder: str, name: str) -> Any:
    """The contents of ``folder/name.yaml``."""
    return yaml.load(_folder(folder).joinpath(f"{name}.yaml").read_text("utf-8"), Loader=_LOADER)
