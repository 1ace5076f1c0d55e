"""`dl train SPEC`: build the spec's model, train it (checkpoints, resume, Ctrl-C, log, plot), save it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from dl_cli._format import echo, progress_display
from dl_cli._options import FILE_SYSTEM_ERRORS, format_logs, sample_count, written_file
from dl_cli._paths import Output, check_paths, check_spec_path, check_writable


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
@click.option("--data", metavar="NAME|FILE", help="A data set name, a .npz/.npy/.csv file, a folder of images (one "
              "sub-folder per class) or a glob of .npz shards (overrides training.data).")
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
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True,
              help="Threads loading batches ahead of the training step, for data read batch by batch (a folder "
                   "of images, shards, a large .csv); no effect on data held in memory.")
@click.option("--quiet", "-q", is_flag=True, help="No summary or progress; print only the final metrics.")
@click.pass_context
def train_command(ctx: click.Context, spec_path: Path, data: str | None, target: str | None, epochs: int | None,
                  batch_size: int | None, optimizer: str | None, learning_rate: float | None, loss: str | None,
                  metrics: tuple[str, ...], validation_split: float | None, seed: int | None, output: Path | None,
                  checkpoint_dir: Path | None, checkpoint_freq: str | int | None, resume: bool,
                  log_path: Path | None, plot_path: Path | None, workers: int, quiet: bool) -> None:
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
           log_path: Path | None, plot_path: Path | None, workers: int, quiet: bool) -> int:
    """The command's work; returns the exit code. Only the chief (rank 0 of a distributed run;
    always, in one process) prints and writes files."""
    import corelib
    from corelib import spec as specs
    from corelib.errors import ConfigError
    from corelib.trainers.resumable import ResumableTraining

    metric_names = [m.strip() for item in metrics for m in item.split(",") if m.strip()] or None
    spec = specs.load_spec(spec_path)
    spec = specs.with_overrides(spec, data=data, target=target, epochs=epochs, batch_size=batch_size, seed=seed,
                                output=output, optimizer=optimizer, learning_rate=learning_rate, loss=loss,
                                metrics=metric_names, validation_split=validation_split)
    t = spec.training
    destination = t.output if t.output is not None else Path.cwd() / f"{spec_path.stem}.dl"
    backup_dir = checkpoint_dir if checkpoint_dir is not None else destination.with_suffix(".checkpoint")
    if chief:  # the one process that writes checks where (a failure here stops every replica)
        outputs = _check_train_paths(spec_path, t, destination, backup_dir, output=output, data=data,
                                     checkpoint_dir=checkpoint_dir, log_path=log_path, plot_path=plot_path)
        if plot_path is not None:
            from corelib.plotting import check_matplotlib

            if plot_path.suffix.lower() not in (".png", ".svg", ".pdf"):
                raise ConfigError(f"--plot writes a .png, .svg or .pdf file. Received: {plot_path}")
            check_matplotlib()
        check_writable(outputs)
    say = (lambda text: None) if quiet or not chief else echo
    with ResumableTraining(backup_dir, save_freq=(checkpoint_freq or "epoch") if checkpoint_dir else False,
                           resume=resume, say=say, warn=lambda text: echo(text, err=True)) as run:
        if t.seed is not None:
            corelib.set_seed(t.seed)
        return _run(chief, run, spec, spec_path, destination, log_path, plot_path, quiet, workers)


def _check_train_paths(spec_path: Path, t, destination: Path, backup_dir: Path, output: Path | None,
                       data: str | None, checkpoint_dir: Path | None, log_path: Path | None,
                       plot_path: Path | None) -> list[Output | None]:
    """The run's inputs and outputs checked together (see dl_cli._paths), each named by the flag
    or spec field it came from; returns the outputs."""
    from corelib.saving.checkpoints import CHECKPOINT_FILE
    from corelib.trainers.resumable import LOCK_FILE

    data_path = t.data.get("path") if t.data is not None else None
    if t.output is not None and output is None:
        check_spec_path(spec_path, "training.output", t.output, follow_links=True, flag="--output")
    if data_path is not None and data is None:
        check_spec_path(spec_path, "training.data", data_path, follow_links=False, flag="--data")
    model_flag = "--output" if output is not None else "training.output" if t.output is not None else "the model"
    outputs = [Output(model_flag, destination),
               Output("--log", log_path, in_place=True) if log_path is not None else None,
               Output("--plot", plot_path) if plot_path is not None else None]
    data_flag = "--data" if data is not None and data_path is not None else "training.data"
    data_inputs = _data_inputs(data_flag, Path(data) if data_flag == "--data" else data_path, outputs)
    folder = ("--checkpoint-dir" if checkpoint_dir is not None else "the default, next to the model", backup_dir)
    check_paths([("SPEC", spec_path), *data_inputs], outputs, folder,
                [backup_dir / CHECKPOINT_FILE, backup_dir / LOCK_FILE])
    return outputs


def _data_inputs(flag: str, data_path: Path | None, outputs: list[Output | None]) -> list[tuple[str, Path | None]]:
    """The files (or the folder) the data comes from, as check_paths takes inputs: each shard a glob
    matches (an output the glob would match is refused too: a later run would read it as a shard)."""
    from corelib.errors import ConfigError
    from corelib.spec.shards import has_magic, shard_paths

    if data_path is None or not has_magic(str(data_path)):
        return [(flag, data_path)]
    import fnmatch

    pattern = os.path.normpath(os.path.abspath(data_path))
    for out in outputs:
        if out is not None and fnmatch.fnmatch(os.path.normpath(os.path.abspath(out.path)), pattern):
            raise ConfigError(f"{out.flag} {out.path} matches {flag} {data_path}: a later run would read it as a "
                              "shard; give another path")
    return [(f"{flag} (matching {data_path})", shard) for shard in shard_paths(data_path)]


def _run(chief: bool, run, spec, spec_path: Path, destination: Path, log_path: Path | None,
         plot_path: Path | None, quiet: bool, workers: int = 1) -> int:
    """Load the data, build, train and save, with `run` holding the checkpoint folder."""
    from corelib import callbacks as dl_callbacks
    from corelib import spec as specs
    from corelib.errors import ConfigError
    from corelib.spec import streamed as streaming
    from corelib.trainers.resumable import final_logs

    t = spec.training
    streamed = streaming.open_streamed(t.data) if streaming.is_streamed(t.data) else None
    if streamed is None:
        dataset = specs.load_training_data(spec)
        sample_shape = None if spec.graph is not None or isinstance(dataset.x, dict) else tuple(dataset.x.shape[1:])
    else:  # read batch by batch: a folder of images, .npz shards, a large .csv
        sample_shape = None if spec.graph is not None else streamed.sample_shape
    model = specs.build_model(spec, input_shape=sample_shape)  # built inside the machine's memory limit
    specs.compile_model(model, spec)
    x_test = y_test = None
    if streamed is None:
        x, y = specs.prepare_arrays(model, spec, dataset.x, dataset.y, source=dataset.source)
        if dataset.x_test is not None:
            x_test, y_test = specs.prepare_arrays(model, spec, dataset.x_test, dataset.y_test,
                                                  source=f"{dataset.source}, test split")
        source, size = dataset.source, f"{sample_count(dataset.x)} samples"
        data = {"x": x, "y": y, "batch_size": t.batch_size, "validation_split": t.validation_split,
                "shuffle": t.shuffle}
    else:
        batches, val_batches = streamed.batches(model, spec, workers)
        source, size = streamed.source, f"{len(batches)} batches per epoch"
        data = {"x": batches, "validation_data": val_batches, "shuffle": t.shuffle and streamed.fit_shuffle}

    callbacks = [dl_callbacks.CSVLogger(log_path)] if log_path is not None else []
    if not quiet and chief:
        model.summary(print_fn=echo)
        echo(f"Training on {source}: {size}, {t.epochs} epoch(s), batch size {t.batch_size}")
    verbose = 0 if quiet or not chief else (1 if sys.stdout.isatty() else 2)
    if verbose:  # fit's own display, with names from the spec made printable
        callbacks.append(progress_display(verbose))
    try:
        run.fit(model, epochs=t.epochs, verbose=0, callbacks=callbacks, **data)
    except OSError as exc:  # the log could not be written (disk full...): say which file, and what is kept
        if exc.errno not in FILE_SYSTEM_ERRORS:
            raise
        kept = run.checkpoint_path if os.path.exists(run.checkpoint_path) else None
        raise ConfigError(f"{written_file(exc, log_path)}: {exc.strerror or exc}"
                          + (f"; the last checkpoint is {kept}: run the same command with --resume to continue"
                             if kept else "")) from None
    if run.interrupted:
        if chief:
            echo(f"Saved a checkpoint to {run.checkpoint_path}; run the same command with --resume to continue",
                 err=True)
        return run.exit_code

    try:
        run.save(destination)
    except OSError as exc:  # the model could not be written: keep the trained model in the checkpoint folder
        kept = run.keep()
        where = (f"the trained model is kept in the checkpoint {kept}: run the same command with --resume to "
                 "save it" if kept else "the trained model could not be kept in the checkpoint folder either")
        raise ConfigError(f"{written_file(exc, destination)}: cannot save the model ({exc.strerror or exc}); "
                          f"{where}") from None
    if plot_path is not None and chief:
        from corelib.plotting import plot_history

        plot_history(run.history, plot_path, title=spec.name or spec_path.stem)
    if x_test is not None:
        logs = model.evaluate(x_test, y_test, batch_size=t.batch_size, verbose=0, return_dict=True)
        if chief:
            echo(f"test ({sample_count(dataset.x_test)} samples): {format_logs(logs)}")
    elif chief:
        label, logs = final_logs(run.history)
        echo(f"{label}: {format_logs(logs)}")
    if chief:
        echo(f"Saved model to {destination}")
    return 0
