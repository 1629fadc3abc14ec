"""``[plugin.NAME]`` tables: kept raw by the loader, checked by the plugin that owns them."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from trimail.config import ConfigError, load_config
from trimail.config.loader import structure_plugin_table
from trimail.config.model import Config


@attrs.frozen(kw_only=True)
class ExampleSettings:
    path: str
    retries: int = 3

    def __attrs_post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError("retries: must be 0 or more")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trimail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_tables_by_default() -> None:
    assert Config().plugin == {}


def test_tables_are_passed_through_raw(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, '[plugin.example]\npath = "/x"\nretries = 1\n[plugin.other.deep]\na = 1\n')
    )
    assert config.plugin == {"example": {"path": "/x", "retries": 1}, "other": {"deep": {"a": 1}}}
    assert structure_plugin_table(config, "example", ExampleSettings) == ExampleSettings(
        path="/x", retries=1
    )
    assert structure_plugin_table(config, "missing", ExampleSettings) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("plugin = 3\n", "plugin: expected a mapping"), ("[plugin]\nx = 3\n", "plugin.x: expected")],
)
def test_loader_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({}, "plugin.example.path: required field missing"),
        ({"path": 3}, "plugin.example.path: expected a string, got int 3"),
        ({"path": "/x", "bogus": 1}, "plugin.example: unknown key(s): bogus"),
        ({"path": "/x", "retries": "2"}, "plugin.example.retries: expected an integer"),
        ({"path": "/x", "retries": -1}, "plugin.example.retries: must be 0 or more"),
    ],
)
def test_plugin_errors_name_the_key(table: dict[str, object], expected: str) -> None:
    config = Config(plugin={"example": table})
    with pytest.raises(ConfigError) as err:
        structure_plugin_table(config, "example", ExampleSettings)
    assert str(err.value).startswith(expected)
