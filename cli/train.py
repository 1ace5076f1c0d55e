"""`dl train SPEC`: build the spec's model, train it, save it, report metrics."""

from __future__ import annotations

import sys
from pathlib import Path

import click


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in logs.items())


@click.command("train", short_help="Train the model in a spec file and save it.")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", metavar="NAME|FILE", help="A data set name or a .npz/.csv file (overrides training.data).")
@click.option("--epochs", type=click.IntRange(min=1), help="Overrides training.epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Overrides training.batch_size.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed every random draw (overrides training.seed).")
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Where to save the model (overrides training.output)."
)
@click.option("--quiet", "-q", is_flag=True, help="No summary or progress; print only the final metrics.")
def train_command(
    spec_path: Path,
    data: str | None,
    epochs: int | None,
    batch_size: int | None,
    seed: int | None,
    output: Path | None,
    quiet: bool,
) -> None:
    """Train the model described by SPEC (YAML or JSON) and save it.

    With a data set, trains on its train split and reports the test split's
    metrics at the end; with a file, reports the validation split's (or the
    training) metrics. The model is saved to --output, the spec's
    training.output, or SPEC's name with the .dl extension in the current
    directory.
    """
    import corelib
    from corelib import spec as specs

    spec = specs.load_spec(spec_path)
    spec = specs.with_overrides(spec, data=data, epochs=epochs, batch_size=batch_size, seed=seed, output=output)
    t = spec.training
    if t.seed is not None:
        corelib.set_seed(t.seed)
    dataset = specs.load_training_data(spec)
    model = specs.build_model(spec)
    if not model.built and spec.graph is None:
        model.build((None,) + tuple(dataset.x.shape[1:]))
    specs.compile_model(model, spec)
    x, y = specs.prepare_arrays(model, spec, dataset.x, dataset.y)
    x_test, y_test = (None, None) if dataset.x_test is None else \
        specs.prepare_arrays(model, spec, dataset.x_test, dataset.y_test)

    if not quiet:
        model.summary(print_fn=click.echo)
        click.echo(f"Training on {dataset.source}: {len(dataset.x)} samples, {t.epochs} epoch(s), batch size {t.batch_size}")
    verbose = 0 if quiet else (1 if sys.stdout.isatty() else 2)
    history = model.fit(
        x,
        y,
        batch_size=t.batch_size,
        epochs=t.epochs,
        validation_split=t.validation_split,
        shuffle=t.shuffle,
        verbose=verbose,
    )

    destination = t.output if t.output is not None else Path.cwd() / f"{spec_path.stem}.dl"
    model.save(str(destination))

    if dataset.x_test is not None:
        logs = model.evaluate(x_test, y_test, batch_size=t.batch_size, verbose=0, return_dict=True)
        click.echo(f"test ({len(dataset.x_test)} samples): {_format_logs(logs)}")
    else:
        last = {k: v[-1] for k, v in history.history.items() if v}
        val = {k[4:]: v for k, v in last.items() if k.startswith("val_")}
        label, logs = ("validation", val) if val else ("train", last)
        click.echo(f"{label}: {_format_logs(logs)}")
    click.echo(f"Saved model to {destination}")
