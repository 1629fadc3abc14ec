from __future__ import annotations

from pathlib import Path

import pytest

from trimail.config import ConfigError, load_config
from trimail.config.model import Config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trimail.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_follow_the_architecture() -> None:
    config = load_config(None)
    assert config.data_dir == "./trimail-data"
    assert config.smtp.listen == ("127.0.0.1:2525",)
    assert config.hostname  # filled from the machine


def test_full_file(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            'hostname = "mx.example.org"\ndata_dir = "/srv/mail"\n'
            '[smtp]\nlisten = ["0.0.0.0:25", "[::]:25"]\nmax_message_bytes = 1000\n'
            "command_timeout_seconds = 60\n[shutdown]\ngrace_seconds = 5\n",
        )
    )
    assert config.hostname == "mx.example.org"
    assert config.smtp.listen == ("0.0.0.0:25", "[::]:25")
    assert config.smtp.command_timeout_seconds == 60.0
    assert config.shutdown.grace_seconds == 5.0
    assert isinstance(config, Config)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("bogus = 1\n", "(top level): unknown key(s): bogus"),
        ("[smtp]\nlisten = ['nope']\n", "smtp.listen: 'nope' is not HOST:PORT"),
        ("[smtp]\nmax_recipients = 0\n", "smtp.max_recipients: must be greater than 0"),
        ("[smtp]\nmax_connections = 'x'\n", "smtp.max_connections: expected an integer"),
        ("hostname = 3\n", "hostname: expected a string"),
        ('log_level = "loud"\n', "log_level: must be one of"),
        ("[smtp\n", "TOML syntax"),
        ("[smtp]\nfoo = 1\n", "smtp: unknown key(s): foo"),
    ],
)
def test_errors_name_file_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('hostname = "mx\\r\\nX-Evil: 1"\n', "hostname: 'mx\\r\\nX-Evil: 1' is not a host name"),
        ('hostname = "my host"\n', "is not a host name"),
        ("[smtp]\ncommand_timeout_seconds = nan\n", "must be a finite number"),
        ("[smtp]\nlisten = []\n", "smtp.listen: needs at least one HOST:PORT"),
        ('[smtp]\nlisten = "127.0.0.1:25"\n', "smtp.listen: expected a list of strings"),
        ("[smtp]\nmax_text_line_bytes = 1\n", "must be at least 1000"),
        ("workers = -1\n", "workers: must be 0 or more"),
    ],
)
def test_values_that_would_break_sessions_are_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert expected in str(err.value)


def test_log_level_is_case_insensitive(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, 'log_level = "INFO"\n')).log_level == "info"
