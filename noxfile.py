"""Developer sessions: tests (with coverage), lint (ruff + mypy), fuzz, bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite with a coverage report."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "--cov=trimail", "--cov-report=term-missing:skip-covered", *session.posargs
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over everything; mypy (strict on the sans-IO engines and mail types)."""
    session.install("-e", ".[test]")
    session.run("ruff", "check", "trimail", "tests", "fuzz", "benchmarks", "noxfile.py")
    session.run("mypy", "trimail")


@nox.session
def fuzz(session: nox.Session) -> None:
    """Fuzz the engines (atheris when it installs, else a bounded random loop)."""
    session.install("-e", ".[test]")
    try:
        session.install("atheris")
    except Exception:  # atheris has no wheel for every Python; the fallback still runs
        session.log("atheris unavailable; using the random fallback")
    for target in ("fuzz/fuzz_smtp.py", "fuzz/fuzz_smtp_client.py", "fuzz/fuzz_pop3.py"):
        session.run("python", target, *(session.posargs or ["-runs=200000"]))


@nox.session
def bench(session: nox.Session) -> None:
    """Print SMTP ingest and store figures (see benchmarks/README.md)."""
    session.install("-e", ".")
    session.run("python", "benchmarks/smtp_ingest.py", *session.posargs)
