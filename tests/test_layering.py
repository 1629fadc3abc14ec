"""The layering rules of ARCHITECTURE.md: engines and shared types do no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent / "trimail"
PURE_PACKAGES = ["mail", "smtp", "imap", "pop3", "sasl", "mailauth"]
FORBIDDEN = {"trio", "socket", "time", "random", "logging", "asyncio", "sqlite3", "secrets"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules() -> list[Path]:
    found = []
    for package in PURE_PACKAGES:
        found.extend(sorted((ROOT / package).rglob("*.py")))
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_pure_layers_import_no_io(path: Path) -> None:
    assert not (_imports(path) & FORBIDDEN), f"{path} imports {_imports(path) & FORBIDDEN}"


def test_smtp_engine_is_checked() -> None:
    assert ROOT / "smtp" / "_connection.py" in _modules()
