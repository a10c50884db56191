"""What a non-editable install ships: every data file of the package must be declared."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "mail_followup"


def test_every_data_file_is_declared_as_package_data() -> None:
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mail_followup"]
    data = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    assert data, "the package has language and phrase files"
    missing = [f for f in data if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missing == [], f"not shipped by pip install .: {missing}"


def test_libyaml_reads_every_shipped_data_file_as_the_pure_python_loader_does() -> None:
    """The phrase lists, date rules and draft texts are read with libyaml when it is there (ten times faster)."""
    import yaml

    from mail_followup.core.packaged import yaml_data, yaml_names

    for folder in ("phrases", "phrases/deadlines", "lang"):
        names = yaml_names(folder)
        assert names, folder
        for name in names:
            text = (Path(__file__).resolve().parent.parent / "src" / "mail_followup" / "core" / folder / f"{name}.yaml").read_text(
                "utf-8")
            assert yaml_data(folder, name) == yaml.safe_load(text), f"{folder}/{name}.yaml"
