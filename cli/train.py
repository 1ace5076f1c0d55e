"""`dl train SPEC`: build the spec's model, train it (checkpoints, resume, Ctrl-C, log, plot), save it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from dl_cli._options import check_output_path, format_logs, sample_count


class _Frequency(click.ParamType):
    name = "epoch|STEPS"

    def convert(self, value, param, ctx):
        if isinstance(value, int) or value == "epoch":
            return value
        if isinstance(value, str) and value.isdigit() and int(value) > 0:
            return int(value)
        self.fail(f"{value!r} is neither 'epoch' nor a positive number of steps", param, ctx)


@click.command("train", short_help="Train the model in a spec file and save it.")
@click.argument("spec_path", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", metavar="NAME|FILE", help="A data set name or a .npz/.npy/.csv file (overrides training.data).")
@click.option("--target", metavar="COLUMN", help="The target column of a .csv data file (default: the last).")
@click.option("--epochs", type=click.IntRange(min=1), help="Overrides training.epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Overrides training.batch_size.")
@click.option("--optimizer", metavar="NAME", help="Overrides training.optimizer (e.g. adam, sgd, rmsprop).")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), help="The optimizer's learning rate.")
@click.option("--loss", metavar="NAME", help="Overrides training.loss (e.g. categorical_crossentropy, mse).")
@click.option("--metrics", metavar="NAME[,NAME...]", multiple=True,
              help="Overrides training.metrics (comma-separated or repeated).")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True),
              help="Fraction of the training data held out for validation.")
@click.option("--seed", type=click.IntRange(min=0), help="Seed every random draw (overrides training.seed).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to save the model (overrides training.output).")
@click.option("--checkpoint-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Checkpoint into this directory every epoch (or --checkpoint-freq). Without it, a "
                   "checkpoint is written only on Ctrl-C, to MODEL.checkpoint/ next to the model file.")
@click.option("--checkpoint-freq", type=_Frequency(), help="'epoch' (the default) or every that many steps.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint of an interrupted run.")
@click.option("--log", "log_path", metavar="CSV", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each epoch's loss and metrics to this CSV file.")
@click.option("--plot", "plot_path", metavar="PNG", type=click.Path(dir_okay=False, path_type=Path),
              help="Draw the loss and metric curves, training against validation (needs matplotlib).")
@click.option("--quiet", "-q", is_flag=True, help="No summary or progress; print only the final metrics.")
@click.pass_context
def train_command(ctx: click.Context, spec_path: Path, data: str | None, target: str | None, epochs: int | None,
                  batch_size: int | None, optimizer: str | None, learning_rate: float | None, loss: str | None,
                  metrics: tuple[str, ...], validation_split: float | None, seed: int | None, output: Path | None,
                  checkpoint_dir: Path | None, checkpoint_freq: str | int | None, resume: bool,
                  log_path: Path | None, plot_path: Path | None, quiet: bool) -> None:
    """Train the model described by SPEC (YAML or JSON) and save it.

    With a data set, trains on its train split and reports the test split's
    metrics at the end; with a file, reports the validation split's (or the
    training) metrics. The model is saved to --output, the spec's
    training.output, or SPEC's name with the .dl extension in the current
    directory.

    Ctrl-C finishes the current step, writes a checkpoint and exits with code
    130 (SIGTERM likewise, with code 143); run the same command with --resume
    to continue exactly where it stopped (the same final weights as a run
    never interrupted).

    Under `mpiexec -n N` (with the dl-mpi plugin) the N processes train the
    model together, data-parallel; rank 0 alone prints and writes files.
    """
    from corelib import distribute

    if checkpoint_freq is not None and checkpoint_dir is None:
        raise click.UsageError("--checkpoint-freq needs --checkpoint-dir")
    strategy = distribute.get_strategy()
    with strategy.guard("dl train"):  # several processes: one failing stops them all
        code = _train(strategy.is_chief, **ctx.params)
    if code:
        ctx.exit(code)


def _train(chief: bool, spec_path: Path, data: str | None, target: str | None, epochs: int | None,
           batch_size: int | None, optimizer: str | None, learning_rate: float | None, loss: str | None,
           metrics: tuple[str, ...], validation_split: float | None, seed: int | None, output: Path | None,
           checkpoint_dir: Path | None, checkpoint_freq: str | int | None, resume: bool,
           log_path: Path | None, plot_path: Path | None, quiet: bool) -> int:
    """The command's work; returns the exit code. Only the chief (rank 0 of a
    distributed run; always, in one process) prints and writes files."""
    import corelib
    from corelib import callbacks as dl_callbacks
    from corelib import spec as specs
    from corelib.errors import ConfigError
    from corelib.trainers.resumable import ResumableTraining, final_logs

    metric_names = [m.strip() for item in metrics for m in item.split(",") if m.strip()] or None
    spec = specs.load_spec(spec_path)
    spec = specs.with_overrides(spec, data=data, target=target, epochs=epochs, batch_size=batch_size, seed=seed,
                                output=output, optimizer=optimizer, learning_rate=learning_rate, loss=loss,
                                metrics=metric_names, validation_split=validation_split)
    t = spec.training
    destination = t.output if t.output is not None else Path.cwd() / f"{spec_path.stem}.dl"
    backup_dir = checkpoint_dir if checkpoint_dir is not None else destination.with_suffix(".checkpoint")
    for flag, path in (("--output", destination), ("--log", log_path), ("--plot", plot_path)):
        if chief:
            check_output_path(path, flag)
    if plot_path is not None and chief:
        from corelib.plotting import check_matplotlib

        if plot_path.suffix.lower() not in (".png", ".svg", ".pdf"):
            raise ConfigError(f"--plot writes a .png, .svg or .pdf file. Received: {plot_path}")
        check_matplotlib()
    echo = (lambda text: None) if quiet or not chief else click.echo
    run = ResumableTraining(backup_dir, save_freq=(checkpoint_freq or "epoch") if checkpoint_dir else False,
                            resume=resume, say=echo, warn=lambda text: click.echo(text, err=True))

    if t.seed is not None:
        corelib.set_seed(t.seed)
    dataset = specs.load_training_data(spec)
    model = specs.build_model(spec)
    if not model.built and spec.graph is None and not isinstance(dataset.x, dict):
        model.build((None,) + tuple(dataset.x.shape[1:]))
    specs.compile_model(model, spec)
    x, y = specs.prepare_arrays(model, spec, dataset.x, dataset.y, source=dataset.source)
    x_test, y_test = (None, None) if dataset.x_test is None else \
        specs.prepare_arrays(model, spec, dataset.x_test, dataset.y_test, source=f"{dataset.source}, test split")

    callbacks = [dl_callbacks.CSVLogger(log_path)] if log_path is not None else []
    if not quiet and chief:
        model.summary(print_fn=click.echo)
        click.echo(f"Training on {dataset.source}: {sample_count(dataset.x)} samples, {t.epochs} epoch(s), "
                   f"batch size {t.batch_size}")
    verbose = 0 if quiet or not chief else (1 if sys.stdout.isatty() else 2)
    run.fit(model, x, y, batch_size=t.batch_size, epochs=t.epochs, validation_split=t.validation_split,
            shuffle=t.shuffle, verbose=verbose, callbacks=callbacks)
    if run.interrupted:
        if chief:
            click.echo(f"Saved a checkpoint to {run.checkpoint_path}; run the same command with --resume to continue",
                       err=True)
        return run.exit_code

    run.save(destination)
    if plot_path is not None and chief:
        from corelib.plotting import plot_history

        plot_history(run.history, plot_path, title=spec.name or spec_path.stem)
    if x_test is not None:
        logs = model.evaluate(x_test, y_test, batch_size=t.batch_size, verbose=0, return_dict=True)
        if chief:
            click.echo(f"test ({sample_count(dataset.x_test)} samples): {format_logs(logs)}")
    elif chief:
        label, logs = final_logs(run.history)
        click.echo(f"{label}: {format_logs(logs)}")
    if chief:
        click.echo(f"Saved model to {destination}")
    return 0
