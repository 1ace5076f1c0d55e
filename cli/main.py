"""The `dl` command group: global options, error handling, plugin commands.

Importing this module loads no plugins. Plugin commands (the
``register_commands`` hook) are added the first time click needs a command
it does not know, or the full command list (``dl --help``).

Exit codes: 0 success; 1 an unexpected error (a bug: run with ``--debug``
for the traceback); 2 a usage error, or a dl error such as a bad spec or
bad data, reported as one line ``Error: ...`` on stderr; 130 interrupted
(Ctrl-C); 143 `dl train` stopped by SIGTERM.
"""

from __future__ import annotations

import sys

try:  # Ctrl-C while Python is still importing `dl`: one line and 130, as later on
    import contextlib
    import warnings
    from typing import Any, Iterator

    import click

    from dl_cli._format import printable
    from dl_cli._options import FILE_SYSTEM_ERRORS
    from dl_cli.compose_cmd import compose_command
    from dl_cli.export_cmd import export_command
    from dl_cli.inspect_cmds import list_command, plugins_command
    from dl_cli.plugin_cmds import plugin_group
    from dl_cli.train import train_command
    from dl_cli.use_cmds import evaluate_command, predict_command, summary_command
except KeyboardInterrupt:
    sys.stderr.write("Interrupted\n")
    raise SystemExit(130) from None

__all__ = ["cli", "main"]


def _version() -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version("dl")
    except importlib.metadata.PackageNotFoundError:
        import corelib

        return corelib.__version__


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"dl {_version()}")
        ctx.exit()


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    click.echo(f"Warning: {printable(message)}", err=True)



def _file_system_error(exc: OSError) -> str:
    """"out.dl: No space left on device": the file first, as dl's other errors name theirs."""
    reason = exc.strerror or str(exc)
    return f"{exc.filename}: {reason}" if exc.filename is not None else reason


def _interrupted() -> click.exceptions.Exit:
    """Ctrl-C: one line, and exit code 130 (left to click, it would be "Aborted!" and 1)."""
    click.echo("Interrupted", err=True)
    return click.exceptions.Exit(130)


_MAX_ERROR_CHARS = 2000


def _error_line(exc: Exception) -> tuple[str, int]:
    """The one line an error ends the command with, and the exit code: 2 for a dl error or
    a file the file system refused, 1 for anything else (a bug)."""
    from corelib.errors import DLError, one_line

    def text(message: object) -> str:  # a message quoting a huge value stays a readable line
        line = printable(one_line(message))
        return line if len(line) <= _MAX_ERROR_CHARS else \
            f"{line[:_MAX_ERROR_CHARS]}... ({len(line) - _MAX_ERROR_CHARS} more characters)"

    if isinstance(exc, DLError):
        return f"Error: {text(exc)}", 2
    if isinstance(exc, OSError) and exc.errno in FILE_SYSTEM_ERRORS:
        return f"Error: {text(_file_system_error(exc))}", 2
    return f"Error: {type(exc).__name__}: {text(exc)} (run `dl --debug ...` for the traceback)", 1


@contextlib.contextmanager
def _one_line_warnings(debug: bool = False) -> Iterator[None]:
    """Show warnings (a plugin that failed to load...) as "Warning: ..." lines on stderr."""
    with warnings.catch_warnings():
        if not debug:
            warnings.showwarning = _show_warning
        yield


class DLGroup(click.Group):
    """A click group that adds plugin commands lazily and turns dl errors into one line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._own_commands: dict[str, click.Command] | None = None
        self._commands_from: Any = None  # the registry whose plugin commands are added

    def load_plugin_commands(self) -> None:
        """Add the current registry's plugin commands (once per registry)."""
        from corelib.registry import get_registry

        registry = get_registry()
        if self._commands_from is registry:
            return
        if self._own_commands is None:
            self._own_commands = dict(self.commands)
        self.commands = dict(self._own_commands)
        self._commands_from = registry
        with _one_line_warnings():
            registry.add_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if self._commands_from is not None:  # keep plugin commands in step with the registry in use
            self.load_plugin_commands()
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self.load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt:  # while parsing the command line, before any command runs
            raise _interrupted() from None

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            with _one_line_warnings(debug):
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            if debug:
                raise
            raise _interrupted() from None
        except Exception as exc:  # noqa: BLE001 - every error ends as one line
            if debug:
                raise
            line, code = _error_line(exc)
            click.echo(line, err=True)
            ctx.exit(code)


@click.group(cls=DLGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show dl's version and exit.",
)
@click.option("--debug", is_flag=True, help="Show the full traceback on errors.")
def cli(debug: bool) -> None:
    """dl: a deep-learning framework in the Keras tradition.

    Everything (layers, losses, optimizers, data sets, commands) comes from
    plugins; `dl list` shows what is installed.
    """


cli.add_command(list_command)
cli.add_command(plugins_command)
cli.add_command(train_command)
cli.add_command(plugin_group)
for _command in (compose_command, evaluate_command, predict_command, summary_command, export_command):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (``dl = dl_cli.main:main``)."""
    cli.main(args=argv, prog_name="dl")
