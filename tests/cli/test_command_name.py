"""``trimail`` loads installed plugins only for commands it does not know itself."""

import pytest

from trimail.cli.main import _command_name, _parser


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["serve"], "serve"),
        (["--config", "x.toml", "queue", "list"], "queue"),
        (["-c", "serve", "domain", "list"], "domain"),  # "serve" is the option's value
        (["--version"], None),
        ([], None),
    ],
)
def test_command_name(argv: list[str], name: str | None) -> None:
    assert _command_name(argv) == name


def test_plugin_commands_are_there_only_when_asked_for() -> None:
    def commands(argv: list[str]) -> set[str]:
        parser = _parser(argv)
        action = next(a for a in parser._actions if a.dest == "command")
        return set(action.choices or ())

    builtin = commands(["domain", "list"])
    assert "greylist" not in builtin and "queue" in builtin
    assert "greylist" in commands(["greylist", "list"])  # the bundled plugin is installed
