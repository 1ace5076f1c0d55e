"""`dl plugin new`: start a plugin package."""

from __future__ import annotations

import click


@click.group("plugin", short_help="Tools for plugin authors (dl plugin new NAME).")
def plugin_group() -> None:
    """Tools for writing dl plugins. `dl plugins` lists the installed ones."""


@plugin_group.command("new", short_help="Write a new plugin package, ready to pip install.")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Where to put the package's folder.")
@click.option("--layer", default=None, help="Class name of the example layer (default: NAME in CamelCase).")
def new_command(name: str, directory: str, layer: str | None) -> None:
    """Write the plugin package NAME (a distribution name such as dl-foo).

    It holds a pyproject.toml with the `dl` entry point, one example layer,
    tests that run the dl conformance kit on it, and a README. It installs
    with `pip install -e` and passes its tests as written.
    """
    from dl_cli.scaffold import plugin_names, write_plugin

    root = write_plugin(name, directory, layer)
    names = plugin_names(name, layer)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        click.echo(f"wrote {path}")
    click.echo(
        f"\nThe plugin {names.distribution} provides the layer {names.layer}. Next:\n"
        f"  cd {root}\n"
        f'  pip install -e ".[test]"\n'
        f"  pytest\n"
        f"  dl list layers"
    )
