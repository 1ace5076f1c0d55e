"""Keep docs/cli.md's help listings identical to the real ``--help`` output.

docs/cli.md holds blocks like

    <!-- help: dl train -->
    ```text
    Usage: dl train [OPTIONS] SPEC
    ...
    ```

`render` replaces each block's body with the current help (80 columns, the
built-in plugin only), and tests/test_cli_docs.py fails when the file and the
code drift. Regenerate with ``python -m dl_cli._docs docs/cli.md``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

_BLOCK = re.compile(r"(<!-- help: (?P<command>dl[a-z -]*?) -->\n```text\n)(?P<body>.*?)(```)", re.S)
WIDTH = 80


def help_text(command_line: str) -> str:
    """The ``--help`` output of "dl" or "dl <command>" at `WIDTH` columns."""
    from dl_cli.main import cli

    words = command_line.split()[1:]
    root = click.Context(cli, info_name="dl", terminal_width=WIDTH, max_content_width=WIDTH,
                         help_option_names=["-h", "--help"])
    ctx, command = root, cli
    for word in words:
        command = command.get_command(ctx, word)
        if command is None:
            raise click.UsageError(f"docs/cli.md documents an unknown command: {command_line!r}")
        ctx = click.Context(command, info_name=word, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH)
    return command.get_help(ctx) + "\n"


def render(text: str) -> str:
    """`text` with every help block's body replaced by the real help."""
    from corelib.registry import Registry, use_registry

    with use_registry(Registry(entry_points=False)):  # installed plugins' commands are not documented here
        return _BLOCK.sub(lambda m: m.group(1) + help_text(m.group("command")) + m.group(4), text)


def documented_commands(text: str) -> list[str]:
    """The command lines that have a help block in `text`."""
    return [m.group("command") for m in _BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    """Rewrite the given markdown files in place; with --check, only report whether they are current."""
    check = "--check" in argv
    stale = []
    for name in (a for a in argv if a != "--check"):
        path = Path(name)
        text = path.read_text(encoding="utf-8")
        fresh = render(text)
        if fresh != text:
            stale.append(name)
            if not check:
                path.write_text(fresh, encoding="utf-8")
    for name in stale:
        print(f"{'out of date' if check else 'updated'}: {name}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
