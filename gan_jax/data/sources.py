"""Data sources: every source yields float32 batches in [-1, 1] (NHWC for
images, ``(B, dim)`` for the toy distributions) and int32 labels where the
data has them.

Sources are indexed by a *position* (the number of batches drawn so far), so
a resumed run continues with exactly the batch it would have seen:
in-memory arrays are reshuffled every epoch by a permutation seeded with
``(seed, epoch)``; generated toy data is drawn from a generator seeded with
``(seed, position)``; tensorflow-datasets streams skip ``position`` batches.

The toy samplers live in :mod:`gan_jax.data.toys`, mnist5k (real 28x28 MNIST
digits read offline) in :mod:`gan_jax.data.mnist5k`, the tensorflow-datasets
stream in :mod:`gan_jax.data.tfds`, the stacked-digits sampler in
:mod:`gan_jax.data.stacked_digits`; user files (``.npz``, image folders) are read and
checked by :mod:`gan_jax.data.files`, and multi-host row splitting is
:func:`gan_jax.data.rows.process_rows`. :func:`evaluation_batches` gives a seeded real
sample of any source in batches, through the same reading code, for the
metrics.
"""

import dataclasses
from typing import Iterator, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.config.schema import Config, label_classes
from gan_jax.data import files as data_files
from gan_jax.data.digits import load_digits  # noqa: F401 (re-exported)
from gan_jax.data.files import to_unit_range  # noqa: F401 (re-exported)
from gan_jax.data.mnist5k import MNIST5K_SHAPE, load_mnist5k
from gan_jax.data.rows import process_rows
from gan_jax.data.stacked_digits import real_stacked_digits, sample_stacked_digits
from gan_jax.data.tfds import TfdsSource  # noqa: F401 (re-exported)
from gan_jax.data.toys import TOY_DATA, mixture_centers, sample_toy, sample_toy_host  # noqa: F401 (re-exported)
from gan_jax.errors import UserError

__all__ = [
    "load_digits", "mixture_centers", "sample_toy", "TOY_DATA", "load_array", "make_source",
    "ArraySource", "SamplerSource", "StackedDigitsSource", "TfdsSource", "to_unit_range", "npz_image_key",
    "sample_toy_host", "DEVICE_DATA_BYTES",
    "evaluation_batches", "load_mnist5k",
]

Batch = Tuple[np.ndarray, Optional[np.ndarray]]

# Data keys are fold_in(fold_in(PRNGKey(seed), _DATA_STREAM), position): a stream of their own,
# apart from the step keys fold_in(PRNGKey(seed), step).
_DATA_STREAM = 0x64617461
#: In-memory arrays up to this size are put on the device and indexed there.
DEVICE_DATA_BYTES = 1 << 30


def _data_key(seed, position) -> jax.Array:
    """The key of batch ``position`` of the data stream of ``seed`` (apart from the step keys)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), _DATA_STREAM), position)


def _check_image_shape(shape: tuple, image_size: int, channels: int, where: str) -> tuple:
    """The ``(N, H, W, C)`` shape of stored images (``(N, H, W)`` means C = 1), checked against the config."""
    shape = tuple(shape)
    if len(shape) == 3:
        shape = shape + (1,)
    if len(shape) != 4:
        raise UserError(f"images in {where} have shape {shape}; expected (N, H, W) or (N, H, W, C)")
    want = (image_size, image_size, channels)
    if shape[1:] != want:
        h, w, c = shape[1:]
        hint = f" (set image_size={h} channels={c})" if h == w else ""
        raise UserError(f"images in {where} have shape {shape[1:]} but the config wants {want}{hint}")
    if shape[0] == 0:
        raise UserError(f"{where} holds no images")
    return shape


def npz_image_key(path: str, headers: dict) -> str:
    """The key under which an ``.npz`` holds its images (``images``, ``x`` or ``samples``)."""
    key = next((k for k in data_files.NPZ_IMAGE_KEYS if k in headers), None)
    if key is None:
        raise UserError(f"{path} has arrays {sorted(headers)}; store the images under 'images'")
    return key


def _load_npz(path: str, image_size: int, channels: int, num_classes: int = 0):
    headers = data_files.npz_headers(path)
    key = npz_image_key(path, headers)
    shape = _check_image_shape(headers[key][0], image_size, channels, path)
    images = data_files.to_unit_range(data_files.read_npz_array(path, key).reshape(shape), path)
    label_key = next((k for k in data_files.NPZ_LABEL_KEYS if k in headers), None)
    labels = None
    if label_key is not None:
        labels = data_files.check_labels(data_files.read_npz_array(path, label_key), len(images),
                                         num_classes, path)
    return images, labels


def _load_folder(path: str, image_size: int, channels: int, max_pixels: int):
    """Every image of a folder, decoded one at a time into one preallocated uint8 array."""
    files = data_files.list_image_files(path)
    images = np.empty((len(files), image_size, image_size, channels), np.uint8)
    batches = data_files.image_batches(files, image_size, channels, 256, max_pixels)
    for start, batch in zip(range(0, len(files), 256), batches):
        images[start:start + len(batch)] = batch
    return data_files.to_unit_range(images, path), None


def _check_mnist5k_shape(image_size: int, channels: int) -> None:
    """mnist5k is 28x28x1 and is not resized: any other ``image_size``/``channels`` is a UserError."""
    if (image_size, image_size, channels) != MNIST5K_SHAPE:
        raise UserError(f"mnist5k digits are 28x28x1 but the config wants {image_size}x{image_size}x{channels}; "
                        "set image_size=28 channels=1 (tfds:mnist resizes to any image_size)")


def load_array(spec: str, image_size: int = 8, channels: int = 1, n: int = 10000,
               seed: int = 0, num_classes: int = 0,
               max_image_pixels: int = data_files.DEFAULT_MAX_IMAGE_PIXELS
               ) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """A whole in-memory data set: ``(images or points, labels or None)``.

    ``spec``: ``digits``, ``mnist5k`` (its 4,000 training digits),
    ``gaussian1d``/``ring8``/``grid25`` (n seeded samples, labels are mode
    indices), ``npz:PATH`` or ``folder:PATH``.
    Labels of an ``.npz`` are checked against ``num_classes`` (0: no bound).
    """
    if spec == "digits":
        if (image_size, channels) != (8, 1):
            raise UserError(f"digits are 8x8x1 but the config wants {image_size}x{image_size}x{channels}; "
                            "set image_size=8 channels=1")
        return load_digits("all")
    if spec == "mnist5k":
        _check_mnist5k_shape(image_size, channels)
        return load_mnist5k("train")
    if spec in TOY_DATA:
        return sample_toy_host(spec, seed, n)
    if spec == "stacked_digits":
        return real_stacked_digits(n, seed)
    if spec.startswith("npz:"):
        return _load_npz(spec[4:], image_size, channels, num_classes)
    if spec.startswith("folder:"):
        return _load_folder(spec[7:], image_size, channels, max_image_pixels)
    raise UserError(f"unknown data {spec!r}; expected digits, mnist5k, {', '.join(TOY_DATA)}, npz:PATH, "
                    "folder:PATH or tfds:NAME")


def _batches_from(batch_at, start_position: int) -> Iterator[Batch]:
    """``batch_at(p)`` for p = start_position, start_position + 1, ... forever."""
    position = start_position
    while True:
        yield batch_at(position)
        position += 1


@dataclasses.dataclass(frozen=True)
class _ArrayBatches:
    """Batch ``position`` of an in-memory data set of ``size`` samples: epoch
    ``e = position // (size // batch_size)``, block ``position mod (size // batch_size)`` of
    ``permutation(key(seed, e))`` (pure JAX). Hashable and holding no arrays, so equal data
    set sizes share one compiled training program."""
    size: int
    batch_size: int

    def order(self, seed, position):
        """The indices ``(B,)`` of batch ``position``."""
        epoch, index = jnp.divmod(position, self.size // self.batch_size)
        order = jax.random.permutation(_data_key(seed, epoch), self.size)
        return jax.lax.dynamic_slice_in_dim(order, index * self.batch_size, self.batch_size)

    def __call__(self, arrays, seed, position):
        images, labels = arrays
        idx = self.order(seed, position)
        return images[idx], (None if labels is None else labels[idx])


@dataclasses.dataclass(frozen=True)
class _ToyBatches:
    """Batch ``position``: ``batch_size`` fresh samples of the toy ``name`` drawn with the key of ``(seed, position)``."""
    name: str
    batch_size: int

    def __call__(self, arrays, seed, position):
        return sample_toy(self.name, _data_key(seed, position), self.batch_size)[0], None


@dataclasses.dataclass(frozen=True)
class _StackedBatches:
    """Batch ``position``: ``batch_size`` stacked digits of ``arrays`` drawn with the key of ``(seed, position)``."""
    batch_size: int

    def __call__(self, arrays, seed, position):
        return sample_stacked_digits(_data_key(seed, position), arrays[0], arrays[1], self.batch_size)[0], None


class _DeviceSampled:
    """A source whose batch ``p`` is a pure function ``device_batch(arrays, seed, p) ->
    (x (B, ...), labels (B,) or None)`` of its :attr:`device_arrays`: the training program
    runs it on the device (when :attr:`on_device`); :meth:`batch` runs the same function
    for the host and keeps this process's rows of the global batch. ``device_batch`` is a
    hashable object that holds no arrays: sources with equal ones share a compiled program.
    """

    on_device = True
    device_arrays = ()      # host (NumPy) arrays; the training program gets them placed on its mesh

    def batch(self, position: int) -> Batch:
        if getattr(self, "_jit_batch", None) is None:   # compiled, and the arrays put on the device, once
            self._jit_batch = jax.jit(self.device_batch)
            self._on_device = jax.device_put(self.device_arrays)
        x, y = self._jit_batch(self._on_device, self.seed, position)
        return np.asarray(x)[self.rows], (None if y is None else np.asarray(y)[self.rows])

    def iterate(self, start_position: int = 0) -> Iterator[Batch]:
        return _batches_from(self.batch, start_position)


class ArraySource(_DeviceSampled):
    """Batches from in-memory arrays, reshuffled each epoch, indexed by position.

    Batch ``p`` is a block of a permutation seeded by ``(seed, epoch)``
    (``_ArrayBatches``), computed in JAX; arrays up to :data:`DEVICE_DATA_BYTES` are indexed on the device
    inside the training program. ``batch_size`` is the global batch; process
    ``process_index`` of ``process_count`` gets its rows of it
    (``gan_jax.data.rows.process_rows``).
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
        self.device_batch = _ArrayBatches(len(images), batch_size)
        self.rows = process_rows(batch_size, process_index, process_count)
        self.on_device = images.nbytes <= DEVICE_DATA_BYTES
        self.device_arrays = (images, labels) if self.on_device else None

    def batch(self, position: int) -> Batch:
        if self.on_device:
            return super().batch(position)
        if getattr(self, "_jit_order", None) is None:
            self._jit_order = jax.jit(self.device_batch.order)
        idx = np.asarray(self._jit_order(self.seed, position))[self.rows]
        return self.images[idx], (None if self.labels is None else self.labels[idx])


class SamplerSource(_DeviceSampled):
    """Fresh samples of a toy distribution (:func:`sample_toy`); batch ``p`` is drawn with
    the key of ``(seed, p)``, on the device inside the training program.

    Each process draws the whole (cheap) global batch and keeps its rows.
    """

    def __init__(self, name: str, batch_size: int, seed: int, process_index: int = 0,
                 process_count: int = 1):
        self.name, self.batch_size, self.seed = name, batch_size, seed
        self.rows = process_rows(batch_size, process_index, process_count)
        self.data_shape = (1,) if name == "gaussian1d" else (2,)
        self.num_classes = 0
        self.device_batch = _ToyBatches(name, batch_size)


class StackedDigitsSource(SamplerSource):
    """Stacked digits (:mod:`gan_jax.data.stacked_digits`): each sample stacks three
    independently drawn digits of :func:`load_digits` in its channels (8x8x3,
    1,000 modes); batch ``p`` is drawn with the key of ``(seed, p)``, on the device."""

    def __init__(self, batch_size: int, seed: int, process_index: int = 0, process_count: int = 1):
        images, labels = load_digits("all")
        self.name, self.batch_size, self.seed = "stacked_digits", batch_size, seed
        self.rows = process_rows(batch_size, process_index, process_count)
        self.data_shape = images.shape[1:3] + (3,)
        self.num_classes = 0
        self.device_arrays = (images, labels)
        self.device_batch = _StackedBatches(batch_size)


def _check_source_labels(config: Config, source) -> None:
    """A conditional config needs data with labels, all of them among its classes."""
    if config.conditional == "none":
        return
    if not source.num_classes:
        raise UserError(f"config {config.name} is conditional (conditional={config.conditional}) but "
                        f"{config.data} has no labels; store labels (one integer class per image) or "
                        "set conditional=none")
    if source.num_classes > config.num_classes:
        raise UserError(f"{config.data} has {source.num_classes} classes but the config has "
                        f"num_classes={config.num_classes}; set num_classes={source.num_classes}")


def make_source(config: Config, process_index: int = 0, process_count: int = 1):
    """The data source a config names (see the module docstring), yielding
    process ``process_index``'s rows of each global batch of ``config.batch_size``.

    A conditional config is refused unless the data has labels within its
    ``num_classes``.
    """
    hosts = dict(process_index=process_index, process_count=process_count)
    if config.data in TOY_DATA:
        source = SamplerSource(config.data, config.batch_size, config.seed, **hosts)
    elif config.data == "stacked_digits":
        source = StackedDigitsSource(config.batch_size, config.seed, **hosts)
    elif config.data.startswith("tfds:"):
        source = TfdsSource(config.data[5:], config.image_size, config.channels, config.batch_size,
                            config.seed, data_dir=config.tfds_data_dir or None, **hosts)
    else:
        num_classes = label_classes(config) or 0
        images, labels = load_array(config.data, config.image_size, config.channels,
                                    num_classes=num_classes, max_image_pixels=config.max_image_pixels)
        source = ArraySource(images, labels, config.batch_size, config.seed, **hosts)
    _check_source_labels(config, source)
    return source


def _rebatch(blocks: Iterator[np.ndarray], batch_size: int) -> Iterator[np.ndarray]:
    """The rows of ``blocks`` (arrays of any lengths) regrouped into batches of ``batch_size`` (the last may be smaller)."""
    pending = np.zeros((0,), np.float32)
    for block in blocks:
        pending = np.concatenate([pending, block]) if len(pending) else block
        while len(pending) >= batch_size:
            yield pending[:batch_size]
            pending = pending[batch_size:]
    if len(pending):
        yield pending


def evaluation_batches(config: Config, n: int, batch_size: int = 250, seed: int = 0) -> Iterator[np.ndarray]:
    """A seeded random sample of at most ``n`` real samples of ``config.data``,
    as float32 batches in [-1, 1] of at most ``batch_size`` (the last may be smaller).

    Read through the same code as training, never whole: digits from memory
    (1,797 images), mnist5k's 1,000 held-out digits (training reads the other
    4,000), toys drawn fresh (``n`` samples), ``.npz`` rows in chunks,
    folder images decoded one batch at a time, tensorflow-datasets streamed
    (one shuffled pass). Finite data sets give ``min(n, size)`` samples
    without replacement.
    """
    rng = np.random.default_rng(seed)
    data = config.data
    if data in TOY_DATA or data == "stacked_digits":
        images, _ = load_array(data, config.image_size, config.channels, n=n, seed=seed)
        for start in range(0, n, batch_size):
            yield images[start:start + batch_size]
        return
    if data.startswith("tfds:"):
        source = TfdsSource(data[5:], config.image_size, config.channels, batch_size, seed,
                            data_dir=config.tfds_data_dir or None)
        yield from source.one_pass(n, batch_size)
        return
    if data in ("digits", "mnist5k"):
        if data == "digits":
            images, _ = load_array(data, config.image_size, config.channels)
        else:   # the held-out digits, which neither the training nor the MNIST classifier sees
            _check_mnist5k_shape(config.image_size, config.channels)
            images, _ = load_mnist5k("test")
        chosen = np.sort(rng.permutation(len(images))[:n])
        for start in range(0, len(chosen), batch_size):
            yield images[chosen[start:start + batch_size]]
        return
    if data.startswith("npz:"):
        path = data[4:]
        headers = data_files.npz_headers(path)
        key = npz_image_key(path, headers)
        shape = _check_image_shape(headers[key][0], config.image_size, config.channels, path)
        chosen = np.sort(rng.permutation(shape[0])[:n])
        blocks = (to_unit_range(block.reshape((-1,) + shape[1:]), path)
                  for block in data_files.npz_rows(path, key, chosen))
        yield from _rebatch(blocks, batch_size)
        return
    if data.startswith("folder:"):
        files = data_files.list_image_files(data[7:])
        chosen = [files[i] for i in np.sort(rng.permutation(len(files))[:n])]
        for batch in data_files.image_batches(chosen, config.image_size, config.channels, batch_size,
                                              config.max_image_pixels):
            yield to_unit_range(batch, data)
        return
    load_array(data)  # the one-line error for an unknown spec
