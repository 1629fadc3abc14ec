"""``trimail``: serve, check-config, manage domains, users and aliases, the queue.

Every command prints a one-line error naming the file, key or argument and exits 1 (2
for usage errors) instead of a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from trimail import __version__
from trimail.cli import admin
from trimail.cli import dns as dns_commands
from trimail.cli import plugins as plugin_commands
from trimail.cli import queue as queue_commands
from trimail.config import ConfigError, load_config
from trimail.config.model import Config


class CliError(Exception):
    """A command failed for a reason the operator can act on; printed without traceback."""


def _serve(config: Config, _args: argparse.Namespace) -> int:
    from trimail.server.app import run_server

    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from trimail.server.app import StartupError

    try:
        return run_server(config)
    except StartupError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(exc.strerror or str(exc)) from None


def _check_config(config: Config, args: argparse.Namespace) -> int:
    from trimail.server.app import check_plugins, relay_password, relay_tls_context

    check_plugins(config)
    relay_password(config)
    relay_tls_context(config)
    if config.tls.cert_file:
        from trimail.server.tls import TlsError, certificate_paths, server_context

        try:
            server_context(*certificate_paths(config))
        except TlsError as exc:
            raise CliError(f"tls: {exc}") from None
    where = getattr(args, "config", None) or "embedded defaults"
    print(f"{where}: OK (hostname {config.hostname}, data in {config.data_dir})")
    return 0


def _command_name(argv: Sequence[str]) -> str | None:
    """The sub-command *argv* names (its first word that is not an option), or None."""
    words = iter(argv)
    for word in words:
        if word in ("--config", "-c"):
            next(words, None)  # the option's value
        elif not word.startswith("-"):
            return word
    return None


def _parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        default=argparse.SUPPRESS,  # so a sub-command's absent --config keeps the top one
        help="TOML config file (default: embedded defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="trimail", description="A complete mail server in one process.", parents=[common]
    )
    parser.add_argument("--version", action="version", version=f"trimail {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", parents=[common], help="run the server")
    serve.set_defaults(handler=_serve)
    check = commands.add_parser(
        "check-config", parents=[common], help="validate the config and plugins, then exit"
    )
    check.set_defaults(handler=_check_config)
    admin.add_commands(commands, common)
    dns_commands.add_commands(commands, common)
    queue_commands.add_commands(commands, common)
    plugin_commands.add_commands(commands, common)
    if _command_name(argv) not in commands.choices:  # a plugin's command, or --help:
        plugin_commands.add_plugin_commands(commands, common)  # load the plugins (slow)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``trimail`` console script. Returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    parser = _parser(argv)
    args = parser.parse_args(argv)
    handler: Callable[[Config, argparse.Namespace], int] = args.handler
    try:
        config = load_config(getattr(args, "config", None))
        return handler(config, args)
    except (ConfigError, CliError, admin.AdminError) as exc:
        print(f"trimail: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `trimail queue list | head`: the reader left
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no flush error
        return 0
    except Exception as exc:
        from trimail.plugins import PluginError

        if isinstance(exc, PluginError):
            print(f"trimail: {exc}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
