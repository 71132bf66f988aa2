"""tensorflow-datasets as a data source: a prepared split streamed through tf.data
(decode, grey/RGB, centre crop, resize, scale to [-1, 1]), shuffled with the seed,
each process of a multi-host run reading its own part. Nothing is downloaded."""

import os
from typing import Iterator, Optional, Tuple

import numpy as np

from gan_jax.data.rows import process_rows
from gan_jax.errors import UserError

__all__ = ["TfdsSource"]

Batch = Tuple[np.ndarray, Optional[np.ndarray]]


class TfdsSource:
    """A tensorflow-datasets split streamed as batches (shuffled with the seed).

    Needs the ``tfds`` extra (tensorflow-datasets and TensorFlow). Nothing is
    downloaded: the data set must already be prepared in ``data_dir`` (or
    ``$TFDS_DATA_DIR``, default ``~/tensorflow_datasets``). In a multi-host
    run each process reads its own ``1 / process_count`` of the split
    (``tfds.even_splits``) in batches of ``batch_size / process_count``.
    """

    def __init__(self, name: str, image_size: int, channels: int, batch_size: int, seed: int,
                 data_dir: Optional[str] = None, split: str = "train", process_index: int = 0,
                 process_count: int = 1):
        try:
            import tensorflow as tf  # optional (the tfds extra) and slow to import
            import tensorflow_datasets as tfds
        except ImportError:
            raise UserError("tfds data needs tensorflow-datasets: pip install -e '.[tfds]'") from None
        self._tf = tf
        rows = process_rows(batch_size, process_index, process_count)
        if process_count > 1:
            split = tfds.even_splits(split, n=process_count, drop_remainder=True)[process_index]
        try:
            builder = tfds.builder(name, data_dir=data_dir or None)
            ds = builder.as_dataset(split=split, shuffle_files=False)
        except Exception as e:  # tfds raises several unrelated types for "not prepared"
            where = data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
            raise UserError(f"tensorflow-datasets has no prepared copy of {name!r} in {where} "
                            f"({type(e).__name__}); on a machine with internet run "
                            f"`tfds build {name}` and copy the data directory here, or set "
                            "TFDS_DATA_DIR") from None
        info = builder.info
        self.num_classes = info.features["label"].num_classes if "label" in info.features else 0
        self.data_shape = (image_size, image_size, channels)
        self.batch_size, self.seed = batch_size, seed
        self._local_batch = rows.stop - rows.start
        self._ds, self._size, self._channels = ds, image_size, channels

    def _prepare(self, example):
        tf = self._tf
        image = tf.cast(example["image"], tf.float32)
        if self._channels == 1 and image.shape[-1] == 3:
            image = tf.image.rgb_to_grayscale(image)
        elif self._channels == 3 and image.shape[-1] == 1:
            image = tf.image.grayscale_to_rgb(image)
        shape = tf.shape(image)
        side = tf.minimum(shape[0], shape[1])
        image = tf.image.resize_with_crop_or_pad(image, side, side)
        image = tf.image.resize(image, (self._size, self._size), method="bilinear", antialias=True)
        image = tf.clip_by_value(image / 127.5 - 1.0, -1.0, 1.0)
        label = tf.cast(example.get("label", 0), tf.int32)
        return image, label

    def one_pass(self, n: int, batch_size: int) -> Iterator[np.ndarray]:
        """At most ``n`` images of one shuffled pass over the split, in batches of ``batch_size``."""
        tf = self._tf
        ds = (self._ds.map(self._prepare, num_parallel_calls=tf.data.AUTOTUNE)
              .shuffle(10000, seed=self.seed).take(n).batch(batch_size).prefetch(tf.data.AUTOTUNE))
        for images, _ in ds.as_numpy_iterator():
            yield images

    def batch(self, position: int) -> Batch:
        """Batch ``position`` of the stream (it reads the stream up to there: for occasional
        use; training iterates)."""
        return next(self.iterate(position))

    def iterate(self, start_position: int = 0) -> Iterator[Batch]:
        tf = self._tf
        ds = (self._ds.map(self._prepare, num_parallel_calls=tf.data.AUTOTUNE)
              .shuffle(10000, seed=self.seed, reshuffle_each_iteration=True).repeat()
              .batch(self._local_batch, drop_remainder=True)
              .skip(start_position).prefetch(tf.data.AUTOTUNE))
        for images, labels in ds.as_numpy_iterator():
            yield images, (labels if self.num_classes else None)
