"""`dl train` on data read batch by batch: .npz shards, a .csv read in blocks, a folder of images;
--workers; Ctrl-C then --resume bit for bit; a malformed shard or row mid-epoch; the path rules."""

import os
import signal

import numpy as np
import pytest

from corelib import models

from _cli import dl_invoker, one_error_line

pytest.importorskip("corelib.builtin.plugin")

SPEC = """
model:
  - Dense: {units: 16, activation: relu, input_shape: [8]}
  - Dropout: {rate: 0.3}
  - Dense: {units: 3, activation: softmax}
training:
  loss: LOSS
  optimizer: adam
  metrics: [accuracy]
  epochs: 3
  batch_size: 8
  validation_split: 0.2
  shuffle: SHUFFLE
  data: DATA
  seed: 4
"""
CUTS = [0, 37, 100, 101, 170, 200]  # shards of 37, 63, 1, 69 and 30 rows: batches span their ends


def write_spec(path, data, shuffle=False, loss="sparse_categorical_crossentropy"):
    path.write_text(SPEC.replace("DATA", data).replace("SHUFFLE", str(shuffle).lower()).replace("LOSS", loss))


def arrays(samples=200):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((samples, 8)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5)


def write_shards(folder, x, y):
    folder.mkdir(exist_ok=True)
    for i, (a, b) in enumerate(zip(CUTS, CUTS[1:])):
        np.savez(folder / f"part-{i}.npz", x=x[a:b], y=y[a:b])


def write_csv(path, x, y, blank_after=None):
    lines = [",".join(f"f{i}" for i in range(x.shape[1])) + ",label"]
    for i, (row, label) in enumerate(zip(x, y)):
        lines.append(",".join(f"{v:.6f}" for v in row) + f",{label}")
        if i == blank_after:
            lines.append("")
    path.write_text("\n".join(lines) + "\n")


def same_weights(path_a, path_b):
    a, b = models.load_model(str(path_a)), models.load_model(str(path_b))
    return all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights()))


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke `dl` in tmp_path with the built-in plugin; CSV blocks of 300 bytes (many blocks)."""
    import corelib.spec.csv_chunks as csv_chunks

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(csv_chunks, "BLOCK_BYTES", 300)
    return dl_invoker()


def test_shards_train_exactly_like_the_same_data_in_one_npz(run, tmp_path):
    x, y = arrays()
    np.savez(tmp_path / "train.npz", x=x, y=y)
    write_shards(tmp_path / "shards", x, y)
    write_spec(tmp_path / "whole.yaml", "train.npz")
    write_spec(tmp_path / "sharded.yaml", "shards/part-*.npz")
    assert run("train", "whole.yaml", "--log", "whole.csv", "-q").exit_code == 0
    result = run("train", "sharded.yaml", "--log", "sharded.csv")
    assert result.exit_code == 0, result.output
    assert (f"Training on {tmp_path / 'shards' / 'part-*.npz'}: 20 batches per epoch, 3 epoch(s), batch size 8"
            in result.stdout)
    assert (tmp_path / "sharded.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert same_weights("sharded.dl", "whole.dl")


def test_a_shuffled_pass_reads_every_row_once_and_each_shard_once(tmp_path):
    from corelib import config
    from corelib.spec.row_batches import RowBatches
    from corelib.spec.shards import Shards

    x, y = arrays()
    y = np.arange(200)  # the row number, to see which rows a pass read
    write_shards(tmp_path / "shards", x, y)
    shards = Shards(tmp_path / "shards" / "part-*.npz")
    loads = []
    load = shards.load
    shards.load = lambda piece: loads.append(piece) or load(piece)
    batches = RowBatches(shards, 0, 160, 8, shuffle=True)
    config.set_seed(3)
    passes = []
    for _ in range(2):
        loads.clear()
        batches.on_epoch_begin()
        seen = np.concatenate([batches[i][1] for i in range(len(batches))])
        assert sorted(seen.tolist()) == list(range(160)) and sorted(loads) == [0, 1, 2, 3]
        passes.append(seen)
    assert not np.array_equal(passes[0], passes[1]) and not np.array_equal(passes[0], np.arange(160))


def test_a_streamed_csv_trains_exactly_like_the_whole_file(run, tmp_path):
    x, y = arrays()
    write_csv(tmp_path / "train.csv", x, y, blank_after=50)
    write_spec(tmp_path / "whole.yaml", "train.csv")
    write_spec(tmp_path / "streamed.yaml", "{path: train.csv, streaming: true}")
    assert run("train", "whole.yaml", "--log", "whole.csv", "-q").exit_code == 0
    result = run("train", "streamed.yaml", "--log", "streamed.csv", "--workers", "3")
    assert result.exit_code == 0, result.output
    assert "train.csv: 20 batches per epoch, 3 epoch(s), batch size 8" in result.stdout
    assert (tmp_path / "streamed.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert same_weights("streamed.dl", "whole.dl")


def test_a_csv_over_the_threshold_is_streamed(run, tmp_path, monkeypatch):
    import corelib.spec.streamed as streamed

    x, y = arrays()
    write_csv(tmp_path / "train.csv", x, y)
    write_spec(tmp_path / "spec.yaml", "train.csv")
    monkeypatch.setattr(streamed, "CSV_STREAM_BYTES", 1000)
    result = run("train", "spec.yaml")
    assert result.exit_code == 0 and "train.csv: 20 batches per epoch" in result.stdout, result.output
    write_spec(tmp_path / "spec.yaml", "{path: train.csv, streaming: false}")
    result = run("train", "spec.yaml")
    assert result.exit_code == 0 and "train.csv: 200 samples" in result.stdout, result.output


@pytest.mark.parametrize("line, value", [(180, "abc"), (180, "# note"), (120, "1,2"), (150, "nan"), (199, "1e300"),
                                         (3, "abc")])
def test_a_bad_row_gives_the_whole_file_readers_error(run, tmp_path, line, value):
    x, y = arrays()
    write_csv(tmp_path / "train.csv", x, y)
    lines = (tmp_path / "train.csv").read_text().splitlines()
    cells = lines[line - 1].split(",")
    lines[line - 1] = value if "," in value or value.startswith("#") else ",".join([cells[0], value, *cells[2:]])
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    write_spec(tmp_path / "whole.yaml", "train.csv")
    write_spec(tmp_path / "streamed.yaml", "{path: train.csv, streaming: true}")
    whole = run("train", "whole.yaml", "-q")
    assert whole.exit_code == 2
    expected = one_error_line(whole)[len("Error: "):]
    assert f"train.csv: line {line}" in expected or "data row" in expected
    streamed = run("train", "streamed.yaml", "-q", "--checkpoint-dir", "ck")
    assert streamed.exit_code == 2 and expected in one_error_line(streamed), (expected, streamed.stderr)


def test_workers_must_be_a_positive_count(run, tmp_path):
    x, y = arrays()
    write_shards(tmp_path / "shards", x, y)
    write_spec(tmp_path / "spec.yaml", "shards/part-*.npz", shuffle=True)
    for bad in ("0", "-1", "two", "1000"):
        result = run("train", "spec.yaml", "--workers", bad)
        assert result.exit_code == 2 and "Invalid value for '--workers'" in result.stderr, result.output
    assert run("train", "spec.yaml", "--workers", "1", "--output", "one.dl", "-q").exit_code == 0
    assert run("train", "spec.yaml", "--workers", "4", "--output", "four.dl", "-q").exit_code == 0
    assert same_weights("one.dl", "four.dl")


# -- images ----------------------------------------------------------------------------------------------

IMAGE_SPEC = """
model:
  - Flatten: {input_shape: [6, 5, CHANNELS]}
  - Dense: {units: 3, activation: softmax}
training:
  loss: categorical_crossentropy
  optimizer: adam
  metrics: [accuracy]
  epochs: 3
  batch_size: 4
  validation_split: 0.25
  data: images
  seed: 2
"""


def write_images(folder, per_class=8, mode="RGB"):
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for c, name in enumerate(["cat", "dog", "owl"]):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8) // (c + 1)
            Image.fromarray(pixels).convert(mode).save(folder / name / f"{i}.png")


@pytest.fixture
def images(tmp_path):
    pytest.importorskip("PIL")
    try:
        from corelib.preprocessing import image_dataset_from_directory  # noqa: F401
    except ImportError:
        pytest.skip("no image_dataset_from_directory")
    write_images(tmp_path / "images")
    return tmp_path / "images"


@pytest.mark.parametrize("channels", [3, 1])
def test_a_folder_of_images_trains_at_the_models_input_size(run, tmp_path, images, channels):
    (tmp_path / "spec.yaml").write_text(IMAGE_SPEC.replace("CHANNELS", str(channels)))
    result = run("train", "spec.yaml", "--log", "run.csv")
    assert result.exit_code == 0, result.output
    assert f"Training on {images}: 5 batches per epoch, 3 epoch(s), batch size 4" in result.stdout  # 18 of 24
    assert "val_accuracy" in (tmp_path / "run.csv").read_text()


def test_a_folder_of_images_needs_a_model_input_shape_of_an_image(run, tmp_path, images):
    (tmp_path / "spec.yaml").write_text(IMAGE_SPEC.replace("[6, 5, CHANNELS]", "[30]"))
    result = run("train", "spec.yaml")
    assert result.exit_code == 2
    assert "training on a folder of images needs a model with one input of shape (height, width, channels)" \
        in one_error_line(result)


# -- Ctrl-C, then --resume ------------------------------------------------------------------------------

def interrupt_at(monkeypatch, step):
    from corelib.callbacks import StopOnSignal

    def on_train_batch_end(self, batch, logs=None):
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == step:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(StopOnSignal, "on_train_batch_end", on_train_batch_end, raising=False)


@pytest.mark.parametrize("kind", ["shards", "csv", "images"])
def test_ctrl_c_then_resume_is_bit_for_bit(run, tmp_path, monkeypatch, kind, request):
    x, y = arrays()
    if kind == "shards":
        write_shards(tmp_path / "shards", x, y)
        write_spec(tmp_path / "spec.yaml", "shards/part-*.npz", shuffle=True)
        step = 27  # epoch 2 (20 steps each), step 7
    elif kind == "csv":
        write_csv(tmp_path / "train.csv", x, y)
        write_spec(tmp_path / "spec.yaml", "{path: train.csv, streaming: true}", shuffle=True)
        step = 27
    else:
        request.getfixturevalue("images")
        (tmp_path / "spec.yaml").write_text(IMAGE_SPEC.replace("CHANNELS", "3"))
        step = 7  # epoch 2 (5 steps each), step 2
    assert run("train", "spec.yaml", "--output", "reference.dl", "--log", "reference.csv", "-q",
               "--workers", "2").exit_code == 0
    with monkeypatch.context() as patched:
        interrupt_at(patched, step)
        result = run("train", "spec.yaml", "--log", "run.csv", "--workers", "2")
    assert result.exit_code == 130, result.output
    result = run("train", "spec.yaml", "--log", "run.csv", "--resume", "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "Resuming from" in result.stdout
    assert same_weights("spec.dl", "reference.dl")
    assert (tmp_path / "run.csv").read_text() == (tmp_path / "reference.csv").read_text()


@pytest.mark.parametrize("kind", ["shards", "csv"])
def test_a_malformed_input_mid_epoch_stops_and_resume_continues_once_fixed(run, tmp_path, kind):
    x, y = arrays()
    write_shards(tmp_path / "shards", x, y)
    write_csv(tmp_path / "train.csv", x, y)
    good = (tmp_path / "shards" / "part-3.npz").read_bytes(), (tmp_path / "train.csv").read_text()
    data = "shards/part-*.npz" if kind == "shards" else "{path: train.csv, streaming: true}"
    write_spec(tmp_path / "spec.yaml", data)
    assert run("train", "spec.yaml", "--output", "reference.dl", "-q").exit_code == 0
    if kind == "shards":  # rows 101-169: batches 12 to 21 of epoch 1
        bad = x[101:170].copy()
        bad[5, 2] = np.nan
        np.savez(tmp_path / "shards" / "part-3.npz", x=bad, y=y[101:170])
        where = f"{tmp_path / 'shards' / 'part-3.npz'}: array 'x' contains 1 NaN or infinite value(s)"
    else:
        lines = good[1].splitlines()
        lines[140] = lines[140].replace(",", ",oops,", 1)
        (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
        where = f"{tmp_path / 'train.csv'}: line 141 has 10 values but the header names 9 columns"
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "5", "-q")
    assert result.exit_code == 2 and where in one_error_line(result), result.stderr
    assert (tmp_path / "ck" / "checkpoint.dl").exists() and not (tmp_path / "spec.dl").exists()
    (tmp_path / "shards" / "part-3.npz").write_bytes(good[0])
    (tmp_path / "train.csv").write_text(good[1])
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "5", "--resume")
    assert result.exit_code == 0, result.output
    step = 10 if kind == "shards" else 15  # the last checkpoint before batch 13 (shards) or 17 (line 141)
    assert f"at epoch 1, step {step}" in result.stdout
    assert same_weights("spec.dl", "reference.dl")


# -- paths -----------------------------------------------------------------------------------------------

def test_a_corrupt_image_mid_epoch_stops_and_resume_continues_once_fixed(run, tmp_path, images):
    from corelib.preprocessing import image_dataset_from_directory

    (tmp_path / "spec.yaml").write_text(IMAGE_SPEC.replace("CHANNELS", "3"))
    assert run("train", "spec.yaml", "--output", "reference.dl", "-q").exit_code == 0
    held_out = image_dataset_from_directory(str(images), image_size=(6, 5), seed=2, validation_split=0.25,
                                            subset="validation", verbose=False).file_paths[1]
    with open(held_out, "rb") as fh:
        good = fh.read()
    with open(held_out, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n not an image")
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "2", "-q")
    assert result.exit_code == 2 and held_out in one_error_line(result), result.stderr
    assert (tmp_path / "ck" / "checkpoint.dl").exists() and not (tmp_path / "spec.dl").exists()
    with open(held_out, "wb") as fh:
        fh.write(good)
    result = run("train", "spec.yaml", "--checkpoint-dir", "ck", "--checkpoint-freq", "2", "--resume")
    assert result.exit_code == 0 and "at epoch 1, step 4" in result.stdout, result.output
    assert same_weights("spec.dl", "reference.dl")


def test_a_glob_that_matches_nothing_or_other_files_is_one_line(run, tmp_path):
    x, y = arrays()
    write_spec(tmp_path / "spec.yaml", "shards/part-*.npz")
    result = run("train", "spec.yaml")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {tmp_path / 'shards' / 'part-*.npz'}: matches no file; expected .npz "
                                      "shards (each with arrays x and y)")
    write_shards(tmp_path / "shards", x, y)
    (tmp_path / "shards" / "notes.txt").write_text("hello")
    result = run("train", "spec.yaml", "--data", "shards/*")
    assert result.exit_code == 2 and "notes.txt, which is not a .npz shard" in one_error_line(result)
    np.savez(tmp_path / "shards" / "part-9.npz", x=x[:5, :4], y=y[:5])
    result = run("train", "spec.yaml")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: {tmp_path / 'shards' / 'part-9.npz'}: array 'x' has samples of shape "
                                      f"(4,), but in the first shard {tmp_path / 'shards' / 'part-0.npz'} they have "
                                      "shape (8,)")
    assert not (tmp_path / "spec.dl").exists()


def test_outputs_never_go_among_the_inputs(run, tmp_path):
    x, y = arrays()
    write_shards(tmp_path / "shards", x, y)
    write_images(tmp_path / "images")
    before = {p: p.read_bytes() for p in (tmp_path / "shards").iterdir()}
    write_spec(tmp_path / "spec.yaml", "shards/part-*.npz")
    os.symlink(tmp_path / "shards" / "part-2.npz", tmp_path / "link.npz")
    result = run("train", "spec.yaml", "--output", "link.npz")
    assert result.exit_code == 2
    assert one_error_line(result) == (f"Error: --output link.npz is the same file as training.data (matching "
                                      f"{tmp_path / 'shards' / 'part-*.npz'}) {tmp_path / 'shards' / 'part-2.npz'}; "
                                      "dl never writes over a file it reads: give another path")
    result = run("train", "spec.yaml", "--output", "shards/part-7.npz")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: --output shards/part-7.npz matches training.data "
                                      f"{tmp_path / 'shards' / 'part-*.npz'}: a later run would read it as a shard; "
                                      "give another path")
    result = run("train", "spec.yaml", "--data", "images", "--output", "images/cat/model.dl")
    assert result.exit_code == 2
    assert one_error_line(result) == ("Error: --output images/cat/model.dl is inside --data images, a folder the "
                                      "command reads; dl never writes among its inputs: give another path")
    result = run("train", "spec.yaml", "--data", "images", "--checkpoint-dir", "images/ck")
    assert result.exit_code == 2 and "the checkpoint folder images/ck (--checkpoint-dir) is inside --data" \
        in one_error_line(result)
    assert {p: p.read_bytes() for p in (tmp_path / "shards").iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["cat", "dog", "owl"]
    assert run("train", "spec.yaml", "-q").exit_code == 0
    assert {p: p.read_bytes() for p in (tmp_path / "shards").iterdir()} == before


def test_a_spec_glob_outside_the_specs_folder_is_refused(run, tmp_path):
    (tmp_path / "run").mkdir()
    write_spec(tmp_path / "run" / "spec.yaml", "../shards/part-*.npz")
    result = run("train", "run/spec.yaml")
    assert result.exit_code == 2 and "is outside the spec's folder" in one_error_line(result)
