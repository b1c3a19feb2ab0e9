"""The README's layout section lists every package, and only paths that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_ROOTS = ("stream", "models", "producers")


def layout_entries(readme: str) -> list[str]:
    """The paths of the README's layout block: the first word of each line, as written."""
    section = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"^```\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    assert block, "the Layout section has no ``` block"
    return [line.split()[0] for line in block.group(1).splitlines() if line.strip()]


def packages() -> set[str]:
    """Every package directory (one with ``__init__.py``) under the project's packages."""
    found = set()
    for top in PACKAGE_ROOTS:
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(init.parent.relative_to(ROOT).as_posix() + "/")
    return found


def test_layout_section_is_parsed() -> None:
    entries = layout_entries((ROOT / "README.md").read_text(encoding="utf-8"))
    assert "stream/" in entries and "models/" in entries and "producers/" in entries
    assert len(entries) == len(set(entries)), "an entry is listed twice"


def test_every_listed_path_exists() -> None:
    entries = layout_entries((ROOT / "README.md").read_text(encoding="utf-8"))
    missing = [e for e in entries if not (ROOT / e.rstrip("/")).exists()]
    assert not missing, f"README layout lists paths that do not exist: {missing}"
    misnamed = [e for e in entries if e.endswith("/") != (ROOT / e.rstrip("/")).is_dir()]
    assert not misnamed, f"folders end with '/', files do not: {misnamed}"


def test_every_package_is_listed() -> None:
    entries = set(layout_entries((ROOT / "README.md").read_text(encoding="utf-8")))
    unlisted = sorted(packages() - entries)
    assert not unlisted, f"README layout does not list these packages: {unlisted}"


def test_the_checks_catch_a_missing_and_an_unlisted_package() -> None:
    readme = "# x\n\n## Layout\n\n```\nstream/gone/   was moved\nmodels/   the model\n```\n"
    entries = layout_entries(readme)
    assert entries == ["stream/gone/", "models/"]
    assert not (ROOT / "stream/gone").exists()
    assert "stream/wire/" in packages() - set(entries)
