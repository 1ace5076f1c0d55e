"""The example: a small transformer classifier on the real digits data, through `dl train`."""

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

SPEC = Path(__file__).resolve().parents[1] / "examples" / "digits_transformer.yaml"


def test_dl_train_reaches_high_test_accuracy_and_records_the_plugin(tmp_path):
    pytest.importorskip("dl_datasets")
    from corelib import models
    from dl_cli.main import cli

    out = tmp_path / "digits_transformer.dl"
    # 5 of the spec's 30 epochs keep the test fast: ~0.94 test accuracy already (0.978 with all 30).
    result = CliRunner().invoke(cli, ["train", str(SPEC), "--epochs", "5", "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if line.startswith("test"))
    accuracy = float(line.rsplit("accuracy:", 1)[1])
    assert accuracy >= 0.9, line
    with zipfile.ZipFile(out) as zf:
        doc = json.loads(zf.read("config.json"))
    text = json.dumps(doc)
    assert '"class_name": "TransformerEncoder"' in text and '"dl-transformer"' in text
    assert models.load_model(out).count_params() > 10_000
