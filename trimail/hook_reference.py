"""Generate docs/plugin-hooks.md from the hook specifications' docstrings.

Run ``python -m trimail.hook_reference > docs/plugin-hooks.md``; a test checks that the
committed file is up to date, so the reference never drifts from `trimail.hookspecs`.
"""

from __future__ import annotations

import inspect
import re

from trimail import hookspecs

_HEADER = """\
# Plugin hook reference (API {major}.{minor})

Every hook trimail calls, in the order of a server's life and a message's path. The
tutorial is [plugins.md](plugins.md). This page is generated from the docstrings in
`trimail/hookspecs.py` by `python -m trimail.hook_reference`.

{intro}
"""

_SECTION = re.compile(r"^# -- (.+?) -+$", re.MULTILINE)


def _hooks_in_order() -> list[tuple[str, str]]:
    """(section title, hook name) in source order."""
    source = inspect.getsource(hookspecs)
    items: list[tuple[str, str]] = []
    section = ""
    for line in source.splitlines():
        heading = _SECTION.match(line)
        if heading:
            section = heading.group(1)
        elif line.startswith("def trimail_"):
            items.append((section, line[4:].split("(")[0]))
    return items


def _signature(name: str) -> str:
    function = getattr(hookspecs, name)
    parameters = ", ".join(inspect.signature(function).parameters)
    return f"{name}({parameters})"


def render() -> str:
    """The Markdown reference: one section per hook family, one entry per hook."""
    major, minor = hookspecs.API_VERSION
    intro = inspect.cleandoc(hookspecs.__doc__ or "").split("\n\n", 1)[1]
    out = [_HEADER.format(major=major, minor=minor, intro=intro)]
    current = None
    for section, name in _hooks_in_order():
        if section != current:
            out.append(f"\n## {section[0].upper()}{section[1:]}\n")
            current = section
        function = getattr(hookspecs, name)
        options = getattr(function, "trimail_spec", {}) or {}
        runs = "every plugin runs"
        if options.get("firstresult"):
            runs = "the first non-None result wins"
        out.append(f"\n### `{_signature(name)}`\n\n*{runs}*\n")
        out.append("\n```text\n" + inspect.cleandoc(function.__doc__ or "") + "\n```\n")
    return "".join(out)


def main() -> None:
    """Print the reference (``python -m trimail.hook_reference``)."""
    print(render(), end="")


if __name__ == "__main__":
    main()
