"""Developer sessions: tests (with coverage), lint (ruff + mypy), fuzz, bench."""

from __future__ import annotations

from pathlib import Path

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (trimail, the bundled plugins, the tutorial's plugin) with a
    coverage report."""
    session.install("-r", "requirements-test.txt")
    session.run(
        "pytest",
        "--cov=trimail",
        "--cov-report=term-missing:skip-covered",
        *(session.posargs or ["tests", "plugins", "docs/examples"]),
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything; mypy (strict on the sans-IO engines and mail types)."""
    session.install("-r", "requirements-test.txt")
    session.run(
        "ruff", "check", "trimail", "tests", "fuzz", "benchmarks", "plugins", "docs", "noxfile.py"
    )
    session.run("mypy", "trimail")
    for init in sorted(Path("plugins").glob("trimail-*/trimail_*/__init__.py")):
        session.run("mypy", "--strict", str(init.parent))  # the bundled plugins: strict


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the engines (atheris when it installs, else a bounded random loop)."""
    session.install("-e", ".[test]")
    try:
        session.install("atheris")
    except Exception:  # atheris has no wheel for every Python; the fallback still runs
        session.log("atheris unavailable; using the random fallback")
    session.install("-e", "plugins/trimail-sieve", "-e", "plugins/trimail-rspamd")
    targets = ("smtp", "smtp_client", "pop3", "imap", "sieve", "rspamd_reply")
    for target in (f"fuzz/fuzz_{name}.py" for name in targets):
        session.run("python", target, *(session.posargs or ["-runs=200000"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Print SMTP ingest and store figures (see benchmarks/README.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/smtp_ingest.py", *session.posargs)
