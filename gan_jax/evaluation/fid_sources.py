"""The two sides of ``gan-jax fid``: what a SRC names, its sample shape, its batches, and the score.

A SRC is a data set as training names it (``digits``, ``mnist5k``, ``ring8``, ``grid25``,
``gaussian1d``, ``npz:PATH`` or ``PATH.npz``, ``folder:PATH`` or a directory,
``tfds:NAME``), a run directory (samples of its latest checkpoint) or an
``.npz`` of statistics (``mu``, ``sigma``, ``n``, ``extractor``). Data sets
are streamed in batches through the training input code
(:func:`gan_jax.data.sources.evaluation_batches`), never loaded whole.

Shapes: a run's come from its config, an ``.npz``'s from its header, the
digits', mnist5k's and toys' are fixed, a folder's from its first image's header (its
shorter side and whether it is grey or colour). A folder or
tensorflow-datasets side is resized and converted to
``image_size``/``channels`` only when the user gives them (``--image-size``
and ``--channels``); an unsized tensorflow-datasets side, whose shape is not
known before it is read, takes the other side's. Two sides of different
shapes, or statistics from another feature extractor, are a one-line
:class:`~gan_jax.errors.UserError`, never a silent resize.
"""

import dataclasses
import os
from typing import Iterator, List, NamedTuple, Optional

import numpy as np

from gan_jax.config.build import data_shape
from gan_jax.config.schema import Config
from gan_jax.data import files as data_files
from gan_jax.data import sources as data_lib
from gan_jax.data.mnist5k import MNIST5K_SHAPE
from gan_jax.errors import UserError
from gan_jax.evaluation import features as evaluation
from gan_jax.evaluation.stats_files import load_stats
from gan_jax.features import inception
from gan_jax.io import paths
from gan_jax.metrics.stats import FeatureStats, min_samples_note
from gan_jax.runs.checkpoint import read_run_config
from gan_jax.runs.sampling import sample_batches

__all__ = ["FidSource", "FidResult", "resolve_source", "match_sources", "source_batches",
           "extractor_kind_for", "fid_of_sources"]

_TOY_SHAPES = {"gaussian1d": (1,), "ring8": (2,), "grid25": (2,)}
_IMAGE_SHAPES = {"digits": (8, 8, 1), "mnist5k": MNIST5K_SHAPE}
_SRC_FORMS = ("digits, mnist5k, ring8, grid25, gaussian1d, npz:PATH (or PATH.npz), folder:PATH (or a directory), "
              "tfds:NAME, a run directory, or an .npz of statistics")


class FidSource(NamedTuple):
    """One side of a comparison.

    ``kind``: ``"data"`` (``config.data`` names it), ``"run"`` (``run_dir``)
    or ``"stats"`` (``stats``); ``shape``: one sample's shape, ``None`` while
    unknown (a folder or tensorflow-datasets side without a size).
    """
    spec: str
    kind: str
    shape: Optional[tuple]
    config: Optional[Config] = None
    run_dir: Optional[str] = None
    stats: Optional[FeatureStats] = None


class FidResult(NamedTuple):
    """The score of ``fake`` against ``real`` and what stands beside it."""
    fid: float
    extractor: str
    n_real: int
    n_fake: int
    baseline: Optional[float]      # real-vs-real: the two halves of the real side
    baseline_n: int                # samples in each half
    notes: List[str]
    fake_stats: FeatureStats


def _is_run_dir(path: str) -> bool:
    return paths.isdir(path) and paths.isfile(paths.join(path, "config.json"))


def _data_source(spec: str, data: str, shape: Optional[tuple], config: Config) -> FidSource:
    if shape is not None and len(shape) == 3:
        config = dataclasses.replace(config, image_size=shape[0], channels=shape[2])
    return FidSource(spec, "data", shape, dataclasses.replace(config, data=data))


def resolve_source(spec: str, image_size: Optional[int] = None, channels: Optional[int] = None,
                   config: Config = Config()) -> FidSource:
    """What ``spec`` names, with its sample shape where the source fixes it.

    ``image_size`` and ``channels`` (both or neither) size a folder or
    tensorflow-datasets side; without them a folder has the shape of its first
    image (:func:`~gan_jax.data.files.image_file_shape`) and a
    tensorflow-datasets side none yet. ``config`` supplies ``tfds_data_dir``
    and ``max_image_pixels``.
    """
    if (image_size is None) != (channels is None):
        raise UserError("give --image-size and --channels together (e.g. --image-size 32 --channels 3)")
    sized = None if image_size is None else (image_size, image_size, channels)
    location = spec.split(":", 1)[1] if spec.startswith(("npz:", "folder:")) else spec
    if paths.is_url(location):
        paths.check_location(location, "SRC")
        if spec.startswith("folder:"):
            raise UserError(f"{spec}: image folders in a bucket are not read directly; copy the folder "
                            "here (gcloud storage cp -r) or pack the images into an .npz (npz:gs://...)")
    if _is_run_dir(spec):
        run_config = read_run_config(spec)
        return FidSource(spec, "run", tuple(data_shape(run_config)), run_config, run_dir=spec)
    if spec in _IMAGE_SHAPES:
        return _data_source(spec, spec, _IMAGE_SHAPES[spec], config)
    if spec in _TOY_SHAPES:
        return _data_source(spec, spec, _TOY_SHAPES[spec], config)
    if spec.startswith("npz:") or spec.endswith(".npz"):
        path = spec[4:] if spec.startswith("npz:") else spec
        headers = data_files.npz_headers(path)
        if "mu" in headers:
            return FidSource(spec, "stats", None, stats=load_stats(path))
        shape = headers[data_lib.npz_image_key(path, headers)][0]
        if len(shape) == 3:
            shape = shape + (1,)
        if len(shape) not in (2, 4):
            raise UserError(f"{path} holds an array of shape {shape}; expected images (N, H, W[, C]) "
                            "or points (N, dim)")
        return _data_source(spec, "npz:" + path, tuple(shape[1:]), config)
    if spec.startswith("folder:") or os.path.isdir(spec):
        path = spec[7:] if spec.startswith("folder:") else spec
        files = data_files.list_image_files(path)  # the folder exists and holds images
        shape = sized or data_files.image_file_shape(files[0], config.max_image_pixels)
        return _data_source(spec, "folder:" + path, shape, config)
    if spec.startswith("tfds:"):
        return _data_source(spec, spec, sized, config)
    raise UserError(f"cannot tell what {spec!r} is; a SRC is {_SRC_FORMS}")


def match_sources(real: FidSource, fake: FidSource):
    """``(real, fake)`` with an unknown shape taken from the other side; a UserError when the shapes differ."""
    sides = [s for s in (real, fake) if s.kind != "stats"]
    known = {s.shape for s in sides if s.shape is not None}
    if len(known) > 1:
        raise UserError(f"the real side {real.spec} gives samples of shape {real.shape} but the fake side "
                        f"{fake.spec} gives {fake.shape}; compare sources of one shape{_resize_hint(real, fake)}")
    unknown = [s.spec for s in sides if s.shape is None]
    if unknown and not known:
        raise UserError(f"cannot tell the image size of {unknown[0]}; pass --image-size and --channels")
    if not unknown:
        return real, fake
    shape = known.pop()
    return tuple(_data_source(s.spec, s.config.data, shape, s.config) if s.shape is None else s
                 for s in (real, fake))


def _resize_hint(real: FidSource, fake: FidSource) -> str:
    """How to resize a folder or tfds side to the other side's image shape, where one can be."""
    for side, other in ((real, fake), (fake, real)):
        resizable = side.kind == "data" and side.config.data.startswith(("folder:", "tfds:"))
        square = other.shape is not None and len(other.shape) == 3 and other.shape[0] == other.shape[1]
        if resizable and square and other.shape[2] in (1, 3):
            return (f", or pass --image-size {other.shape[0]} --channels {other.shape[2]} to resize and "
                    f"convert {side.spec} to {other.shape}")
    return " (a folder or tfds side takes --image-size/--channels)"


def source_batches(source: FidSource, n: int, data_samples: Optional[int] = None, batch_size: int = 250,
                   seed: int = 0, generator: str = "auto") -> Iterator[np.ndarray]:
    """Batches of ``source``: ``n`` samples of a run (drawn by ``generator``, see
    :func:`gan_jax.runs.sampling.choose_generator`) or a toy distribution, at most
    ``data_samples`` (default all) of a finite data set, float32 in [-1, 1] for images."""
    if source.kind == "run":
        return sample_batches(source.run_dir, n, seed, chunk=batch_size, generator=generator)
    data = source.config.data
    if data in _TOY_SHAPES:
        return data_lib.evaluation_batches(source.config, n, batch_size, seed)
    if data.startswith("npz:") and len(source.shape) == 1:
        return _npz_points(data[4:], batch_size)
    limit = data_samples if data_samples is not None else np.iinfo(np.int64).max
    return data_lib.evaluation_batches(source.config, limit, batch_size, seed)


def _npz_points(path: str, batch_size: int) -> Iterator[np.ndarray]:
    """Finite float points ``(B, dim)`` of an ``.npz``, in order."""
    key = data_lib.npz_image_key(path, data_files.npz_headers(path))
    for block in data_files.npz_rows(path, key, chunk_rows=batch_size):
        if not np.issubdtype(block.dtype, np.floating) or not np.all(np.isfinite(block)):
            raise UserError(f"points in {path} must be finite floats, got dtype {block.dtype} with "
                            "NaN, inf or integers; save float samples")
        yield block.astype(np.float32)


def extractor_kind_for(real: FidSource, fake: FidSource, requested: str) -> str:
    """The extractor kind: ``requested`` unless ``auto``; then the one a statistics side was made with,
    else the default for the sample shape."""
    if requested != "auto":
        return requested
    names = {**{module.EXTRACTOR_NAME: "classifier" for module in evaluation.CLASSIFIERS.values()},
             inception.EXTRACTOR_NAME: "inception", evaluation.POINTS_EXTRACTOR: "points"}
    for side in (real, fake):
        if side.kind == "stats":
            if side.stats.extractor not in names:
                raise UserError(f"{side.spec} holds statistics of extractor {side.stats.extractor!r}, which "
                                f"gan-jax does not compute; recompute them with one of {', '.join(names)}")
            return names[side.stats.extractor]
    shape = real.shape if real.kind != "stats" else fake.shape
    return evaluation.default_extractor_kind(shape)


def fid_of_sources(real_spec: str, fake_spec: str, n: int = 2000, data_samples: Optional[int] = None,
                   features: str = "auto", inception_weights: Optional[str] = None,
                   image_size: Optional[int] = None, channels: Optional[int] = None,
                   config: Config = Config(), progress: bool = True, seed: int = 0,
                   generator: str = "auto") -> FidResult:
    """FID of ``fake_spec`` against ``real_spec`` (see the module docstring), with the
    real-vs-real baseline from the two halves of a real side that is not statistics."""
    real, fake = match_sources(resolve_source(real_spec, image_size, channels, config),
                               resolve_source(fake_spec, image_size, channels, config))
    extractor = None
    if not real.kind == fake.kind == "stats":
        shape = real.shape if real.kind != "stats" else fake.shape
        extractor = evaluation.get_extractor(extractor_kind_for(real, fake, features), shape, inception_weights)
    keep = extractor.dim if extractor is not None else None

    def sets(source: FidSource, desc: str, halves: bool):
        if source.kind == "stats":
            return [evaluation.FeatureSet(source.stats, None, None)]
        batches = source_batches(source, n, data_samples, seed=seed, generator=generator)
        return evaluation.feature_sets(extractor, batches, desc, progress, keep=keep, halves=halves)

    fake_set = sets(fake, "fake", halves=False)[0]
    real_sets = sets(real, "real", halves=True)
    score = evaluation.fid_between(real_sets[0], fake_set)
    baseline, baseline_n = None, 0
    if len(real_sets) == 3 and real_sets[2].stats.n >= 2:
        baseline, baseline_n = evaluation.fid_between(real_sets[1], real_sets[2]), real_sets[2].stats.n
    notes = [note for note in (min_samples_note(real_sets[0].stats), min_samples_note(fake_set.stats)) if note]
    return FidResult(score, real_sets[0].stats.extractor, real_sets[0].stats.n, fake_set.stats.n,
                     baseline, baseline_n, notes, fake_set.stats)
