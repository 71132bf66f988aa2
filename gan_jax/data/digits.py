"""scikit-learn's 8x8 handwritten digits, the project's offline image data set."""

from typing import Tuple

import numpy as np
from sklearn.datasets import load_digits as sklearn_digits

__all__ = ["load_digits"]


def load_digits(split: str = "all") -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as ``(N, 8, 8, 1)`` float32 in [-1, 1] and labels.

    ``split``: ``"all"``, ``"train"`` (80 %) or ``"test"`` (20 %), a fixed
    split by a permutation seeded with 0.
    """
    bunch = sklearn_digits()
    images = (bunch.images.astype(np.float32) / 8.0 - 1.0)[..., None]
    labels = bunch.target.astype(np.int32)
    if split == "all":
        return images, labels
    order = np.random.default_rng(0).permutation(len(labels))
    cut = int(round(0.8 * len(labels)))
    if split == "train":
        idx = order[:cut]
    elif split == "test":
        idx = order[cut:]
    else:
        raise ValueError(f"unknown digits split {split!r}; expected all, train or test")
    return images[idx], labels[idx]
