"""`dl export`: write a model file as ONNX for inference elsewhere, or its weights as safetensors."""

from __future__ import annotations

from pathlib import Path

import click

from corelib.errors import ConfigError
from dl_cli._format import echo
from dl_cli._paths import Output, check_paths, check_writable


@click.command("export", short_help="Write a model file as ONNX (dynamic batch, float32) or its weights as safetensors.")
@click.argument("model_path", metavar="MODEL", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, metavar="OUT", type=click.Path(dir_okay=False, path_type=Path),
              help="The file to write (replaced atomically if it exists).")
@click.option("--format", "fmt", type=click.Choice(["onnx", "safetensors"]), default=None,
              help="The format to write: onnx (the model), or safetensors (its weights). Default: from OUT's "
                   "suffix, .safetensors for safetensors, else onnx.")
@click.option("--opset", type=click.IntRange(min=17, max=21), default=None,
              help="The ONNX opset version (onnx only).  [default: 17]")
def export_command(model_path: Path, output: Path, fmt: str | None, opset: int | None) -> None:
    """Export the model file MODEL to ONNX at OUT, or its weights to safetensors.

    ONNX: the graph takes any batch size, holds float32 weights (a float64
    model's are rounded) and passes ONNX's checker before it is written. A
    layer without an ONNX exporter is named in the error; nothing is written
    then. Needs the onnx package: pip install "dl[onnx]".

    safetensors: the weights keyed "layer/weight" in dl's layouts, for
    PyTorch and Hugging Face tools (docs/interop.md maps them onto torch
    modules). Needs pip install "dl[safetensors]".
    """
    fmt = fmt or ("safetensors" if output.name.lower().endswith(".safetensors") else "onnx")
    if fmt == "safetensors" and not output.name.lower().endswith(".safetensors"):
        raise ConfigError(f"-o/--output {output}: safetensors weights are written to a name ending in .safetensors")
    if fmt == "safetensors" and opset is not None:
        raise ConfigError("--opset is for --format onnx, not safetensors")
    outputs = [Output("-o/--output", output)]
    check_paths([("MODEL", model_path)], outputs)
    check_writable(outputs)
    from corelib.models import load_model

    model = load_model(str(model_path), compile=False)
    if fmt == "safetensors":
        model.save_weights(str(output))
        echo(f"Wrote {output}: the {len(model.weights)} weights of model '{model.name}' as safetensors")
        return
    from corelib.saving.onnx_export import DEFAULT_OPSET, export_onnx

    export_onnx(model, str(output), opset_version=opset or DEFAULT_OPSET)
    echo(f"Wrote {output}: model '{model.name}' as ONNX (opset {opset or DEFAULT_OPSET})")
