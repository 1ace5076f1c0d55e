"""`dl compose LAYER...`: build a model from layer expressions, check it, write its spec."""

from __future__ import annotations

from pathlib import Path

import click

from dl_cli._format import echo
from dl_cli._paths import Output, check_paths, check_writable

_PLOT_SUFFIXES = (".png", ".svg", ".pdf", ".dot", ".gv")


@click.command("compose", short_help="Build a model from layer expressions and write its spec.")
@click.argument("layers", nargs=-1, required=True, metavar="LAYER...")
@click.option("--input-shape", metavar="SHAPE", help="The shape of one sample, e.g. 28,28,1 (no batch axis).")
@click.option("-o", "--output", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the spec to this .yaml/.yml/.json file (default: print it).")
@click.option("--plot", "plot_path", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the model: .png/.svg/.pdf (needs Graphviz's dot) or .dot.")
@click.option("--name", help="The model's name.")
def compose_command(layers: tuple[str, ...], input_shape: str | None, output: Path | None,
                    plot_path: Path | None, name: str | None) -> None:
    """Build a model from LAYER expressions, print its summary and write its spec.

    Each LAYER is a registered layer name (Flatten) or a call of one with
    literal arguments, quoted for the shell:

    \b
        dl compose "Conv2D(32, 3, activation='relu')" MaxPooling2D Flatten \\
            "Dense(10, activation='softmax')" --input-shape 28,28,1 -o cnn.yaml

    Arguments may be numbers, strings, True/False/None, and tuples or lists
    of those; expressions are parsed, never run. Every layer is checked
    against the shape before it: an incompatible layer is refused with both
    layers and shapes named (exit code 2). Train the spec with
    `dl train cnn.yaml --data ... --loss ...`.
    """
    import shutil

    from corelib.spec.compose import compose, parse_shape, spec_text, write_spec
    from corelib.errors import ConfigError

    shape = parse_shape(input_shape, "--input-shape") if input_shape is not None else None
    if output is not None and output.suffix.lower() not in (".yaml", ".yml", ".json"):
        raise ConfigError(f"-o/--output writes a .yaml, .yml or .json spec. Received: {output}")
    if plot_path is not None:
        suffix = plot_path.suffix.lower()
        if suffix not in _PLOT_SUFFIXES:
            raise ConfigError(f"--plot writes a .png, .svg, .pdf or .dot file. Received: {plot_path}")
        if suffix in (".png", ".svg", ".pdf") and shutil.which("dot") is None:
            raise ConfigError(f"--plot {plot_path} needs Graphviz's `dot` program, which is not installed; "
                              "install graphviz, or ask for a .dot file")
    outputs = [Output("-o/--output", output) if output is not None else None,
               Output("--plot", plot_path) if plot_path is not None else None]
    check_paths([], outputs)
    check_writable(outputs)
    doc, model = compose(list(layers), shape, name=name)
    model.summary(print_fn=echo)
    if plot_path is not None:
        from corelib.utils import plot_model

        plot_model(model, str(plot_path))
        echo(f"Drew the model to {plot_path}")
    if output is not None:
        write_spec(doc, output)
        echo(f"Wrote the spec to {output}")
    else:
        click.echo("")
        click.echo(spec_text(doc), nl=False)
