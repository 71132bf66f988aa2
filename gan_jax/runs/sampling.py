"""Samples from a trained generator: in chunks, from a run directory, along latent paths.

``gan-jax sample``, ``fid``, ``eval``, ``interpolate``, the evaluator used
during training and the experiments all draw samples through these functions.
Chunk ``i`` of a draw uses the key ``fold_in(key, i)`` and a fixed chunk
shape, so the generator compiles once and the same seed gives the same samples.
"""

from typing import Iterator, Optional, Tuple

import jax
import numpy as np

from gan_jax.config.schema import label_classes
from gan_jax.core.latent import interpolate
from gan_jax.core.state import GANState, apply_generator, averaged_generator, recalibrate_average_statistics, sample_latent
from gan_jax.core.steps import generate
from gan_jax.errors import UserError
from gan_jax.runs.checkpoint import restore_run

__all__ = ["GENERATORS", "RECALIBRATION_SEED", "recalibrated_average", "choose_generator", "parse_labels", "generate_batches", "restore_for_sampling", "sample_batches", "sample_from_run",
           "interpolation_strips"]


#: Which generator of a run draws the samples: ``auto`` its moving average where it keeps one
#: (trained with ``g_average_decay`` > 0), else the generator as trained; ``average`` the average
#: (an error for a run without one); ``raw`` the generator as trained.
GENERATORS = ("auto", "average", "raw")


#: The seed of the latents that measure the generator average's batch statistics before it
#: samples (:func:`recalibrated_average`): fixed, so a checkpoint and a sample seed give the same samples.
RECALIBRATION_SEED = 0


def recalibrated_average(state: GANState, num_classes: Optional[int] = None) -> GANState:
    """``state`` whose generator average (where it keeps one with batch norm) carries batch statistics
    measured on its own parameters (:func:`gan_jax.core.state.recalibrate_average_statistics`, from
    ``RECALIBRATION_SEED``): what sampling, evaluation and the study draw from."""
    return recalibrate_average_statistics(state, jax.random.PRNGKey(RECALIBRATION_SEED), num_classes=num_classes)


def choose_generator(state: GANState, generator: str, run_dir: str, num_classes: Optional[int] = None) -> GANState:
    """``state`` set to draw from the ``generator`` asked for (one of :data:`GENERATORS`); an average
    is :func:`recalibrated_average` (``num_classes``: a conditional generator's classes)."""
    if generator not in GENERATORS:
        raise UserError(f"--generator {generator!r}: choose one of {', '.join(GENERATORS)}")
    if generator == "raw":
        return state.replace(g_average=None)
    if generator == "average" and state.g_average is None:
        raise UserError(f"{run_dir} keeps no generator average (it was trained with g_average_decay=0); "
                        "use --generator raw, or train with g_average_decay=0.999")
    return recalibrated_average(state, num_classes)


def parse_labels(text, n: int, num_classes: int) -> np.ndarray:
    """``n`` labels: the comma-separated classes in ``text`` cycled, or all classes evenly."""
    if text:
        try:
            classes = [int(t) for t in text.split(",") if t.strip()]
        except ValueError:
            raise UserError(f"--labels wants comma-separated integers, got {text!r}") from None
        bad = [c for c in classes if not 0 <= c < num_classes]
        if bad or not classes:
            raise UserError(f"label {bad[0] if bad else text!r} is outside the model's classes 0..{num_classes - 1}")
    else:
        classes = list(range(num_classes))
    return np.resize(np.asarray(classes, np.int32), n)


def generate_batches(state: GANState, key: jax.Array, n: int, labels: Optional[np.ndarray] = None,
                     chunk: int = 1000, averaged: bool = True) -> Iterator[np.ndarray]:
    """``n`` eval-mode samples G(z) as host arrays of at most ``chunk`` rows; G is the
    generator's moving average where the state keeps one and ``averaged``, else G as trained.

    Every chunk is generated at the full chunk shape ``min(n, chunk)`` (the
    last one trimmed), with key ``fold_in(key, i)`` for chunk ``i``;
    ``labels`` ``(n,)`` for a conditional generator.
    """
    size = min(n, chunk)
    for i, start in enumerate(range(0, n, size)):
        lab = None if labels is None else np.resize(labels[start:start + size], size)
        yield np.asarray(generate(state, jax.random.fold_in(key, i), size, lab, averaged=averaged))[:n - start]


def restore_for_sampling(run_dir: str, n: int, labels_text=None, step: Optional[int] = None,
                         best: bool = False, generator: str = "auto"):
    """``(state, labels (n,) or None)``: a run's newest intact checkpoint (or ``step``, or
    with ``best`` the best one kept by evaluation), set to draw from ``generator``
    (:func:`choose_generator`), and the labels to draw ``n`` samples with."""
    if n < 1:
        raise UserError(f"-n must be at least 1, got {n}")
    config, state = restore_run(run_dir, step, best=best)
    num_classes = label_classes(config)
    state = choose_generator(state, generator, run_dir, num_classes)
    labels = None
    if num_classes is not None:
        labels = parse_labels(labels_text, n, num_classes)
    elif labels_text:
        raise UserError(f"{run_dir} is an unconditional model; it cannot be asked for classes (drop --labels)")
    return state, labels


def sample_batches(run_dir: str, n: int, seed: int = 0, labels_text=None, chunk: int = 1000,
                   step: Optional[int] = None, best: bool = False, generator: str = "auto") -> Iterator[np.ndarray]:
    """The samples of :func:`sample_from_run`, one chunk at a time."""
    state, labels = restore_for_sampling(run_dir, n, labels_text, step, best, generator)
    yield from generate_batches(state, jax.random.PRNGKey(seed), n, labels, chunk)


def sample_from_run(run_dir: str, n: int, seed: int = 0, labels_text=None, chunk: int = 1000,
                    step: Optional[int] = None, best: bool = False,
                    generator: str = "auto") -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """``(samples (n, ...), labels (n,) or None)`` from a run's latest checkpoint (or ``step``,
    or the best one), drawn by ``generator`` (:func:`choose_generator`)."""
    state, labels = restore_for_sampling(run_dir, n, labels_text, step, best, generator)
    samples = np.concatenate(list(generate_batches(state, jax.random.PRNGKey(seed), n, labels, chunk)))
    return samples, labels


def interpolation_strips(state: GANState, key: jax.Array, pairs: int, steps: int, method: str = "slerp",
                         labels=None) -> np.ndarray:
    """``(pairs * steps, *data_shape)`` samples G(path_i(t_j)), row-major: row i
    walks from z0_i to z1_i (both drawn from the latent prior) in ``steps``
    points by ``gan_jax.core.latent.interpolate`` (``slerp`` or ``lerp``); G is the moving
    average where the state keeps one."""
    state = averaged_generator(state)
    z = sample_latent(key, 2 * pairs, state.latent_dim, state.latent_dist)
    paths = np.concatenate([np.asarray(interpolate(z[2 * i], z[2 * i + 1], steps, method))
                            for i in range(pairs)])
    lab = None if labels is None else np.repeat(np.asarray(labels, np.int32), steps)
    images, _ = apply_generator(state, state.g_params, paths, lab, train=False)
    return np.asarray(images)
