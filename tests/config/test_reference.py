from pathlib import Path

from trimail.config.reference import render


def test_docs_configuration_is_generated_and_current() -> None:
    committed = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert committed.read_text(encoding="utf-8") == render(), (
        "run: python -m trimail.config.reference > docs/configuration.md"
    )
