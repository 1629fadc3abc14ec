from pathlib import Path

from trimail import hookspecs
from trimail.hook_reference import render


def test_docs_plugin_hooks_is_generated_and_current() -> None:
    committed = Path(__file__).parents[2] / "docs" / "plugin-hooks.md"
    assert committed.read_text(encoding="utf-8") == render(), (
        "run: python -m trimail.hook_reference > docs/plugin-hooks.md"
    )


def test_every_hook_is_documented_with_its_version() -> None:
    text = render()
    hooks = [n for n in dir(hookspecs) if n.startswith("trimail_")]
    assert len(hooks) >= 15
    for name in hooks:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert f"### `{name}(" in text
        assert ".. versionadded::" in doc, name
        assert "Called" in doc, f"{name}: say when it is called"


def test_the_tutorial_shows_the_example_files_as_they_are() -> None:
    root = Path(__file__).parents[2]
    tutorial = (root / "docs" / "plugins.md").read_text(encoding="utf-8")
    example = root / "docs" / "examples" / "trimail-blocklist"
    for name in ("pyproject.toml", "trimail_blocklist.py", "tests/test_blocklist.py"):
        assert (example / name).read_text(encoding="utf-8").rstrip() in tutorial, name
