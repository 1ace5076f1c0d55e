"""What the CLI tests share: invoking `dl` in-process with the built-in plugin only, and reading
the one error line a user mistake must give."""

from __future__ import annotations

from typing import Any, Callable

from click.testing import CliRunner

from corelib.registry import Registry, use_registry
from dl_cli.main import cli


def dl_invoker() -> Callable[..., Any]:
    """invoke(*args) -> click's Result of ``dl ARGS`` (arguments made strings), with a registry of the
    built-in plugin alone (no installed plugin's entry points)."""
    runner = CliRunner()

    def invoke(*args: Any) -> Any:
        with use_registry(Registry(entry_points=False)):
            return runner.invoke(cli, [str(a) for a in args])

    return invoke


def one_error_line(result: Any, code: int = 2) -> str:
    """The single "Error: ..." line on stderr, asserting there is one, no traceback, and the exit
    `code` (2: a user mistake)."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    return lines[0]
