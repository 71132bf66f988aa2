"""Data sources: every source yields float32 batches in [-1, 1] (NHWC for
images, ``(B, dim)`` for the toy distributions) and int32 labels where the
data has them.

Sources are indexed by a *position* (the number of batches drawn so far), so
a resumed run continues with exactly the batch it would have seen:
in-memory arrays are reshuffled every epoch by a permutation seeded with
``(seed, epoch)``; generated toy data is drawn from a generator seeded with
``(seed, position)``; tensorflow-datasets streams skip ``position`` batches.
"""

import functools
import glob
import os
from typing import Iterator, Optional, Tuple

import numpy as np

from gan_jax.config import Config
from gan_jax.errors import UserError
from gan_jax.parallel import process_rows
from gan_jax.metrics.mode_coverage import GRID_STD, RING_STD, benchmark_mixture  # noqa: F401 (re-exported)

__all__ = [
    "load_digits", "mixture_centers", "sample_toy", "TOY_DATA", "load_array", "make_source",
    "ArraySource", "SamplerSource", "TfdsSource", "to_unit_range",
]

Batch = Tuple[np.ndarray, Optional[np.ndarray]]

# The 1-D target N(2, 0.5^2).
GAUSSIAN1D_MEAN, GAUSSIAN1D_STD = 2.0, 0.5
# The 2-D mixtures are those of the VEEGAN/PacGAN tables, defined once in
# gan_jax.metrics.mode_coverage (ring: radius 1, std 0.01; grid: spacing 2, std 0.05).
TOY_DATA = ("gaussian1d", "ring8", "grid25")
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


def load_digits(split: str = "all") -> Tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 8x8 digits as ``(N, 8, 8, 1)`` float32 in [-1, 1] and labels.

    ``split``: ``"all"``, ``"train"`` (80 %) or ``"test"`` (20 %), a fixed
    split by a permutation seeded with 0.
    """
    from sklearn.datasets import load_digits as sklearn_digits
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
        raise UserError(f"unknown digits split {split!r}; expected all, train or test")
    return images[idx], labels[idx]


@functools.lru_cache(maxsize=None)
def _host_mixture(name: str) -> Tuple[np.ndarray, float]:
    """``benchmark_mixture(name)`` on the host, built once per name: read-only
    float64 centres and the std (``sample_toy`` runs once per batch)."""
    centers, std = benchmark_mixture(name)
    centers = np.array(centers, np.float64)
    centers.setflags(write=False)
    return centers, float(std)


def mixture_centers(name: str) -> np.ndarray:
    """Mode centres of ``ring8`` ``(8, 2)`` or ``grid25`` ``(25, 2)`` (float64, host, read-only)."""
    return _host_mixture(name)[0]


def sample_toy(name: str, rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """n samples of a toy distribution and their mode index (0 for gaussian1d)."""
    if name == "gaussian1d":
        x = rng.normal(GAUSSIAN1D_MEAN, GAUSSIAN1D_STD, size=(n, 1))
        return x.astype(np.float32), np.zeros(n, np.int32)
    centers, std = _host_mixture(name)
    modes = rng.integers(0, len(centers), size=n)
    x = centers[modes] + std * rng.normal(size=(n, 2))
    return x.astype(np.float32), modes.astype(np.int32)


def to_unit_range(images: np.ndarray, where: str) -> np.ndarray:
    """uint8 [0, 255] or float [-1, 1] images to float32 [-1, 1], checked."""
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 127.5 - 1.0
    if not np.issubdtype(images.dtype, np.floating):
        raise UserError(f"images in {where} have dtype {images.dtype}; use uint8 in [0, 255] "
                        "or float in [-1, 1]")
    if not np.all(np.isfinite(images)):
        raise UserError(f"images in {where} contain NaN or inf; clean the data first")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-6 or hi > 1.0 + 1e-6:
        raise UserError(f"float images in {where} range over [{lo:.3g}, {hi:.3g}]; "
                        "scale them to [-1, 1] (or store uint8 in [0, 255])")
    return images.astype(np.float32)


def _check_image_shape(images: np.ndarray, image_size: int, channels: int, where: str) -> np.ndarray:
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4:
        raise UserError(f"images in {where} have shape {images.shape}; expected (N, H, W) or (N, H, W, C)")
    want = (image_size, image_size, channels)
    if images.shape[1:] != want:
        h, w, c = images.shape[1:]
        hint = f" (set image_size={h} channels={c})" if h == w else ""
        raise UserError(f"images in {where} have shape {images.shape[1:]} but the config wants {want}{hint}")
    if len(images) == 0:
        raise UserError(f"{where} holds no images")
    return images


def _load_npz(path: str, image_size: int, channels: int):
    if not os.path.isfile(path):
        raise UserError(f"npz file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {path} as .npz ({e})") from None
    key = next((k for k in ("images", "x", "samples") if k in arrays), None)
    if key is None:
        raise UserError(f"{path} has arrays {sorted(arrays)}; store the images under 'images'")
    images = _check_image_shape(arrays[key], image_size, channels, path)
    images = to_unit_range(images, path)
    labels = next((arrays[k] for k in ("labels", "y") if k in arrays), None)
    if labels is not None:
        labels = np.asarray(labels).astype(np.int32).reshape(-1)
        if len(labels) != len(images):
            raise UserError(f"{path} has {len(images)} images but {len(labels)} labels")
    return images, labels


def _resize_center_crop(image, size: int):
    """Resize the shorter side to ``size`` (bilinear), then crop the centre square."""
    from PIL import Image
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BILINEAR)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    return image.crop((left, top, left + size, top + size))


def _load_folder(path: str, image_size: int, channels: int):
    if not os.path.isdir(path):
        raise UserError(f"image folder {path} does not exist")
    files = sorted(f for f in glob.glob(os.path.join(path, "**", "*"), recursive=True)
                   if f.lower().endswith(_IMAGE_EXTENSIONS))
    if not files:
        raise UserError(f"image folder {path} has no images ({', '.join(_IMAGE_EXTENSIONS)})")
    from PIL import Image, UnidentifiedImageError
    mode = "L" if channels == 1 else "RGB"
    images = []
    for file in files:
        try:
            with Image.open(file) as im:
                images.append(np.asarray(_resize_center_crop(im.convert(mode), image_size)))
        except (OSError, UnidentifiedImageError) as e:
            raise UserError(f"cannot read image {file} ({e}); remove or replace it") from None
    images = np.stack(images).reshape(len(files), image_size, image_size, channels)
    return to_unit_range(images.astype(np.uint8), path), None


def load_array(spec: str, image_size: int = 8, channels: int = 1, n: int = 10000,
               seed: int = 0) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A whole in-memory data set: ``(images or points, labels or None)``.

    ``spec``: ``digits``, ``gaussian1d``/``ring8``/``grid25`` (n seeded
    samples, labels are mode indices), ``npz:PATH`` or ``folder:PATH``.
    """
    if spec == "digits":
        if (image_size, channels) != (8, 1):
            raise UserError(f"digits are 8x8x1 but the config wants {image_size}x{image_size}x{channels}; "
                            "set image_size=8 channels=1")
        return load_digits("all")
    if spec in TOY_DATA:
        return sample_toy(spec, np.random.default_rng(seed), n)
    if spec.startswith("npz:"):
        return _load_npz(spec[4:], image_size, channels)
    if spec.startswith("folder:"):
        return _load_folder(spec[7:], image_size, channels)
    raise UserError(f"unknown data {spec!r}; expected digits, {', '.join(TOY_DATA)}, npz:PATH, "
                    "folder:PATH or tfds:NAME")


def _batches_from(batch_at, start_position: int) -> Iterator[Batch]:
    """``batch_at(p)`` for p = start_position, start_position + 1, ... forever."""
    position = start_position
    while True:
        yield batch_at(position)
        position += 1


class ArraySource:
    """Batches from in-memory arrays, reshuffled each epoch, indexed by position.

    ``batch_size`` is the global batch; process ``process_index`` of
    ``process_count`` gets its rows of it (``gan_jax.parallel.process_rows``),
    so the hosts of a multi-host run together feed the one-host batches.
    """

    def __init__(self, images: np.ndarray, labels: Optional[np.ndarray], batch_size: int, seed: int,
                 process_index: int = 0, process_count: int = 1):
        if len(images) < batch_size:
            raise UserError(f"the data set has {len(images)} samples, fewer than batch_size={batch_size}; "
                            "lower batch_size")
        self.images, self.labels = images, labels
        self.batch_size, self.seed = batch_size, seed
        self.data_shape = images.shape[1:]
        self.num_classes = int(labels.max()) + 1 if labels is not None else 0
        self.batches_per_epoch = len(images) // batch_size
        self.rows = process_rows(batch_size, process_index, process_count)

    def batch(self, position: int) -> Batch:
        epoch, index = divmod(position, self.batches_per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.images))
        idx = order[index * self.batch_size:(index + 1) * self.batch_size][self.rows]
        return self.images[idx], (None if self.labels is None else self.labels[idx])

    def iterate(self, start_position: int = 0) -> Iterator[Batch]:
        return _batches_from(self.batch, start_position)


class SamplerSource:
    """Fresh samples of a toy distribution; batch ``p`` is seeded with ``(seed, p)``.

    Each process draws the whole (cheap) global batch and keeps its rows.
    """

    def __init__(self, name: str, batch_size: int, seed: int, process_index: int = 0,
                 process_count: int = 1):
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self.rows = process_rows(batch_size, process_index, process_count)
        self.data_shape = (1,) if name == "gaussian1d" else (2,)
        self.num_classes = 0

    def batch(self, position: int) -> Batch:
        x, _ = sample_toy(self.name, np.random.default_rng([self.seed, position]), self.batch_size)
        return x[self.rows], None

    def iterate(self, start_position: int = 0) -> Iterator[Batch]:
        return _batches_from(self.batch, start_position)


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
            import tensorflow as tf
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

    def iterate(self, start_position: int = 0) -> Iterator[Batch]:
        tf = self._tf
        ds = (self._ds.map(self._prepare, num_parallel_calls=tf.data.AUTOTUNE)
              .repeat().shuffle(10000, seed=self.seed, reshuffle_each_iteration=True)
              .batch(self._local_batch, drop_remainder=True)
              .skip(start_position).prefetch(tf.data.AUTOTUNE))
        for images, labels in ds.as_numpy_iterator():
            yield images, (labels if self.num_classes else None)


def make_source(config: Config, process_index: int = 0, process_count: int = 1):
    """The data source a config names (see the module docstring), yielding
    process ``process_index``'s rows of each global batch of ``config.batch_size``."""
    hosts = dict(process_index=process_index, process_count=process_count)
    if config.data in TOY_DATA:
        return SamplerSource(config.data, config.batch_size, config.seed, **hosts)
    if config.data.startswith("tfds:"):
        return TfdsSource(config.data[5:], config.image_size, config.channels, config.batch_size,
                          config.seed, data_dir=config.tfds_data_dir or None, **hosts)
    images, labels = load_array(config.data, config.image_size, config.channels)
    return ArraySource(images, labels, config.batch_size, config.seed, **hosts)
