"""docs/cli.md stays the real --help output; shell completion and exit code 130 work as documented."""

from pathlib import Path

import click
from click.testing import CliRunner

from corelib import hookimpl
from corelib.registry import Registry, use_registry
from dl_cli import _docs
from dl_cli.main import cli

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_docs_cli_md_shows_the_real_help_of_every_command():
    text = DOC.read_text(encoding="utf-8")
    fresh = _docs.render(text)
    assert fresh == text, "docs/cli.md is out of date with --help: run `python -m dl_cli._docs docs/cli.md`"
    with use_registry(Registry(entry_points=False)):
        commands = {f"dl {name}" for name in cli.list_commands(click.Context(cli)) if name != "plugin"}
    assert commands | {"dl"} <= set(_docs.documented_commands(text))


def test_the_help_blocks_are_what_dl_prints(tmp_path):
    with use_registry(Registry(entry_points=False)):
        printed = CliRunner().invoke(cli, ["train", "--help"], prog_name="dl", terminal_width=_docs.WIDTH).stdout
    assert printed == _docs.help_text("dl train")
    stale = tmp_path / "cli.md"
    stale.write_text("<!-- help: dl summary -->\n```text\nold\n```\n")
    assert _docs.main(["--check", str(stale)]) == 1
    assert _docs.main([str(stale)]) == 0 and "Usage: dl summary [OPTIONS] MODEL|SPEC" in stale.read_text()
    assert _docs.main(["--check", str(stale)]) == 0


def test_shell_completion_as_documented():
    result = CliRunner().invoke(cli, [], prog_name="dl", env={"_DL_COMPLETE": "bash_source"})
    assert result.exit_code == 0
    assert "_dl_completion()" in result.stdout and "_DL_COMPLETE=bash_complete" in result.stdout
    assert '_DL_COMPLETE=bash_source dl' in DOC.read_text()


@click.command("wait")
def wait():
    raise KeyboardInterrupt


class Waiting:
    @hookimpl
    def register_commands(self, cli):
        cli.add_command(wait)


def test_ctrl_c_anywhere_exits_130_without_a_traceback():
    registry = Registry(builtin=False, entry_points=False)
    registry.register_plugin(Waiting(), name="waiting")
    with use_registry(registry):
        result = CliRunner().invoke(cli, ["wait"])
    assert result.exit_code == 130 and result.stderr == "Interrupted\n"
