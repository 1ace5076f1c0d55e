"""`dl list` and `dl plugins`: what is installed, and who provides it."""

from __future__ import annotations

import json
import warnings

import click

from dl_cli._format import echo, table


@click.command("list", short_help="List registered components and their plugins.")
@click.argument("kind", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def list_command(kind: str | None, as_json: bool) -> None:
    """List registered components: kind, name, plugin, version, description.

    KIND limits the list to one kind: layers, losses, optimizers, schedules,
    metrics, activations, initializers, regularizers, callbacks, datasets,
    strategies or onnx_exporters (the singular works too).
    """
    from corelib.registry import get_registry, normalize_kind

    registry = get_registry()
    kind = normalize_kind(kind) if kind is not None else None
    entries = registry.entries(kind)
    if as_json:
        rows = [
            {
                "kind": e.kind,
                "name": e.name,
                "aliases": list(e.aliases),
                "plugin": e.plugin,
                "version": e.version,
                "description": e.description,
            }
            for e in entries
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    if not entries:
        click.echo(f"No {kind or 'components'} installed.")
    else:
        rows = [[e.kind, e.name, e.plugin, e.version, e.description] for e in entries]
        click.echo(table(["KIND", "NAME", "PLUGIN", "VERSION", "DESCRIPTION"], rows))


@click.command("plugins", short_help="List installed plugins, their hooks and failures.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def plugins_command(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins: version, hooks, what each provides, and failures."""
    from corelib.registry import PluginWarning, get_registry

    registry = get_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # this command reports failures itself
        registry.load()
        root = ctx.find_root().command
        if hasattr(root, "load_plugin_commands"):
            root.load_plugin_commands()
    infos, failures, conflicts = registry.plugins(), registry.failures, registry.conflicts
    if as_json:
        payload = {
            "plugins": [
                {
                    "name": p.name,
                    "distribution": p.distribution,
                    "version": p.version,
                    "source": p.source,
                    "hooks": list(p.hooks),
                    "provides": p.provides,
                }
                for p in infos
            ],
            "failures": [
                {"plugin": f.plugin, "version": f.version, "where": f.where, "reason": f.reason} for f in failures
            ],
            "conflicts": [{"kind": c.kind, "name": c.name, "plugins": c.plugins} for c in conflicts],
        }
        click.echo(json.dumps(payload, indent=2))
        return
    for p in infos:
        echo(f"{p.name} {p.version}".rstrip() + f"  ({p.source})")
        echo(f"  hooks:    {', '.join(p.hooks) or '(none)'}")
        provided = [f"{kind}: {', '.join(names)}" for kind, names in p.provides.items()]
        echo(f"  provides: {provided[0] if provided else '(nothing)'}")
        for line in provided[1:]:
            echo(f"            {line}")
    if not infos:
        echo("No plugins loaded.")
    if failures:
        echo()
        echo("Failed to load:")
        for f in failures:
            reason = " ".join(str(f.reason).split())  # a traceback's lines, folded onto the line
            echo(f"  {f.plugin} {f.version}".rstrip() + f"  ({f.where}): {reason}")
    if conflicts:
        echo()
        echo("Conflicts:")
        for c in conflicts:
            echo(f"  {c.message()}")
