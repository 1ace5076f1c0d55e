"""`dl evaluate`, `dl predict` and `dl summary`: using a trained model (or a spec)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from dl_cli._format import echo
from dl_cli._options import format_logs, sample_count
from dl_cli._paths import Output, check_paths, check_writable

_SPEC_SUFFIXES = (".yaml", ".yml", ".json")


@click.command("evaluate", short_help="Print a trained model's loss and metrics on data.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", required=True, metavar="NAME|FILE",
              help="A data set name (its test split is used) or a .npz/.csv file.")
@click.option("--target", metavar="COLUMN", help="The target column of a .csv data file (default: the last).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Samples per batch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def evaluate_command(model_path: Path, data: str, target: str | None, batch_size: int, as_json: bool) -> None:
    """Evaluate the model file MODEL on --data and print its loss and metrics.

    For a model with several inputs or outputs, a .npz file holds one array
    per input and output, named x_<input name> and y_<output name>.
    """
    from corelib.errors import ConfigError
    from corelib.spec.data import data_argument, load_data, prepare_arrays

    from corelib.models import load_model

    field = data_argument(data, target)
    model = load_model(str(model_path))
    if not model.compiled or not model.compiled_losses:
        raise ConfigError(f"{model_path}: the model was saved without a loss (not compiled), so it can predict "
                          "but not be evaluated")
    dataset = load_data(field, "command line", "--data")
    x, y, source = dataset.x, dataset.y, dataset.source
    if dataset.x_test is not None:
        x, y, source = dataset.x_test, dataset.y_test, f"{dataset.source}, test split"
    x, y = prepare_arrays(model, None, x, y, source=source)
    logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    from corelib.distribute import is_chief

    if not is_chief():  # under mpiexec every rank evaluates its share; rank 0 reports
        return
    samples = sample_count(x)
    if as_json:  # JSON escapes control characters itself
        click.echo(json.dumps({"model": str(model_path), "data": source, "samples": samples, "metrics": logs},
                              indent=2))
    else:
        echo(f"{source} ({samples} samples): {format_logs(logs)}")


@click.command("predict", short_help="Write a trained model's predictions for inputs to a .npy file.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("input_path", metavar="INPUT", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, metavar="OUT.npy", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the predictions: .npy, or .npz (one array per output, by name).")
@click.option("--target", metavar="COLUMN", help="A .csv column to leave out (the target of a training file).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True, help="Samples per batch.")
@click.option("--decode", type=click.Choice(["none", "ctc", "ctc-beam"]), default="none", show_default=True,
              help="For a model trained with the CTC loss: write label sequences (greedy or beam search), "
                   "each row padded with -1.")
@click.option("--beam-width", type=click.IntRange(min=1), default=100, show_default=True,
              help="Beams kept per step with --decode ctc-beam.")
def predict_command(model_path: Path, input_path: Path, output: Path, target: str | None, batch_size: int,
                    decode: str, beam_width: int) -> None:
    """Run the model file MODEL on INPUT (.npy, .npz or .csv) and write the outputs.

    INPUT is a .npy array, a .npz with x (or x_<input name> per input; any
    targets in it are ignored), or a .csv whose columns are all inputs except
    the --target column. A model with several outputs needs a .npz OUT.
    """
    import io

    import numpy as np

    from corelib import data
    from corelib.distribute import is_chief
    from corelib.errors import ConfigError
    from corelib.saving.archive import write_atomically
    from corelib.spec.data import check_for_model

    suffix = output.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ConfigError(f"-o/--output writes a .npy or .npz file. Received: {output}")
    if is_chief():  # the one process that writes checks where
        outputs = [Output("-o/--output", output)]
        check_paths([("MODEL", model_path), ("INPUT", input_path)], outputs)
        check_writable(outputs)
    from corelib.models import load_model

    model = load_model(str(model_path), compile=decode != "none")
    x = data.load_inputs(input_path, target=target)
    check_for_model(model, x, None, str(input_path))
    predictions = model.predict(x, batch_size=batch_size, verbose=0)
    if decode != "none":
        predictions = _ctc_decoded(model, predictions, decode == "ctc", beam_width, model_path)
    names = model.output_names
    if isinstance(predictions, dict):
        arrays = {n: predictions[n] for n in names}
    elif isinstance(predictions, (list, tuple)):
        arrays = dict(zip(names, predictions))
    else:
        arrays = {names[0]: predictions}
    if not is_chief():  # under mpiexec every rank has all predictions; rank 0 writes them
        return
    buf = io.BytesIO()
    if suffix == ".npy":
        if len(arrays) != 1:
            raise ConfigError(f"the model has {len(arrays)} outputs {names}; write them to a .npz file "
                              "(one array per output)")
        np.save(buf, next(iter(arrays.values())), allow_pickle=False)
    else:
        np.savez(buf, **arrays)
    write_atomically(str(output), lambda fh: fh.write(buf.getvalue()))
    shapes = ", ".join(f"{n} {a.shape}" for n, a in arrays.items())
    echo(f"Wrote predictions for {sample_count(x)} samples to {output}: {shapes}")


def _ctc_decoded(model, predictions, greedy: bool, beam_width: int, model_path: Path):
    """Label sequences from a CTC model's outputs (the loss in the file gives the blank)."""
    from corelib.ctc import ctc_decode
    from corelib.errors import ConfigError

    ctc = next((l for l in model.compiled_losses if hasattr(l, "blank_index")), None)
    if ctc is None or isinstance(predictions, (dict, list, tuple)):
        raise ConfigError(f"{model_path}: --decode ctc needs a one-output model trained with the CTC loss")
    decoded, _ = ctc_decode(predictions, greedy=greedy, beam_width=beam_width, blank_index=ctc.blank_index,
                            from_logits=ctc.from_logits)
    return decoded


@click.command("summary", short_help="Print the layers, shapes and parameters of a model file or spec.")
@click.argument("path", metavar="MODEL|SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input-shape", metavar="SHAPE", help="For a spec whose first layer has no input_shape (e.g. 8,8,1).")
def summary_command(path: Path, input_shape: str | None) -> None:
    """Print the summary of a model file or of a model spec (.yaml, .yml, .json):
    each layer's output shape, parameter count and providing plugin."""
    from corelib.spec.compose import parse_shape
    from corelib.errors import ConfigError

    if path.suffix.lower() in _SPEC_SUFFIXES:
        from corelib import spec as specs

        spec = specs.load_spec(path)
        shape = parse_shape(input_shape, "--input-shape") if input_shape else None
        model = specs.build_model(spec, allocate=False, input_shape=shape)  # shapes and counts: no weights
        if not model.built:
            raise ConfigError(f"{path}: the first layer has no input_shape; pass --input-shape (e.g. 8,8,1)")
    else:
        from corelib.models import load_model

        model = load_model(str(path), compile=False)
    model.summary(print_fn=echo)
