"""Quality of the generator during training: a fixed real reference, built once, and a cheap score.

``make_training_evaluator(config, num_samples, key)`` returns
``(evaluator, notice)``. The evaluator's ``evaluate(state)`` draws
``num_samples`` samples from ``state``'s generator with the same ``key`` every
time (so scores over training differ only through the generator) and
scores them against the reference (``score(samples)`` scores any samples):

- 8x8x1 images (digits): the digits classifier's features, ``fid`` and ``kid``;
- 28x28x1 images (``mnist5k``, ``tfds:mnist``): the MNIST classifier's features, ``fid`` and ``kid``
  (the rule: :func:`gan_jax.evaluation.features.default_extractor_kind`);
- other images: the FID Inception's features, ``fid`` and ``kid``, when
  converted weights are in the cache (``gan-jax convert-inception``);
  otherwise the evaluator is None and ``notice`` says why, and training goes on;
- ``ring8``/``grid25``: mode coverage (``modes`` captured, ``high_quality``
  fraction, the VEEGAN/PacGAN protocol);
- ``stacked_digits``: ``modes`` captured of 1,000 and ``kl`` to uniform (the
  VEEGAN/PacGAN Stacked MNIST measures, each channel read by the digits classifier);
- ``gaussian1d``: none (a notice).

``baseline`` holds the same scores of real data: for images, real samples
disjoint from the reference against it (for ``mnist5k`` both are held-out
digits, which neither the generator nor the MNIST classifier was trained on) (as many as the data set has left,
up to ``num_samples``); for the mixtures, exact mixture samples. A good
generator approaches it; FID's bias grows as samples shrink, so compare
scores made with the same ``num_samples``.
"""

import os
from typing import Callable, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.config.build import data_shape
from gan_jax.config.schema import Config, label_classes
from gan_jax.data import sources as data_lib
from gan_jax.data.stacked_digits import real_stacked_digits
from gan_jax.errors import UserError
from gan_jax.evaluation import features as evaluation
from gan_jax.evaluation.evaluate_run import fid_of_features, kid_of_features
from gan_jax.features.digits_classifier import cached_digit_classify_fn
from gan_jax.features.inception_convert import default_weights_path
from gan_jax.metrics import stacked_modes
from gan_jax.metrics.mode_coverage import benchmark_mixture, mode_coverage
from gan_jax.runs.sampling import generate_batches, recalibrated_average

__all__ = ["TrainingEvaluator", "make_training_evaluator"]

_MIXTURES = ("ring8", "grid25")


class TrainingEvaluator(NamedTuple):
    """``evaluate(state)``: the scores of ``num_samples`` samples of the state's generator;
    ``score(samples)``: the same scores of any samples ``(num_samples, ...)``; ``reference``:
    the real samples scored against (images) or scored as the baseline (mixtures);
    ``baseline``: the scores of real data."""
    evaluate: Callable
    score: Callable
    reference: np.ndarray
    baseline: dict
    extractor: str
    num_samples: int


def _labels(config: Config, n: int) -> Optional[np.ndarray]:
    """Every class in turn for a conditional generator, else None."""
    classes = label_classes(config)
    return None if classes is None else np.arange(n, dtype=np.int32) % classes


def _generator_scores(score: Callable, config: Config, num_samples: int, key, chunk: int) -> Callable:
    """``state -> score(num_samples samples of state's generator)``, from one fixed latent batch
    drawn in chunks of ``chunk`` samples. Where the state keeps a generator average the scores
    are the average's, and the generator as trained adds the same scores prefixed ``raw_``."""
    labels = _labels(config, num_samples)

    def draw(state, averaged: bool) -> np.ndarray:
        return np.concatenate(list(generate_batches(state, key, num_samples, labels, chunk=chunk,
                                                    averaged=averaged)))

    num_classes = label_classes(config)

    def evaluate(state) -> dict:
        scores = score(draw(recalibrated_average(state, num_classes), True))
        if state.g_average is not None:
            scores.update({f"raw_{name}": value for name, value in score(draw(state, False)).items()})
        return scores
    return evaluate


def _chunk(config: Config, num_samples: int) -> int:
    """Images are drawn in chunks of the sample grids' size, whose program the grids drawn every
    ``sample_every`` steps compile anyway (few chunks: not for tiny grids), so that an evaluation
    compiles no generator program on the training thread."""
    return config.grid_samples if num_samples <= 64 * config.grid_samples else num_samples


def _coverage(points: np.ndarray, name: str) -> dict:
    centers, std = benchmark_mixture(name)
    result = mode_coverage(jnp.asarray(points), centers, std)
    return {"modes": int(result["modes_captured"]), "high_quality": float(result["high_quality_fraction"])}


def _mixture_evaluator(config: Config, num_samples: int, key) -> TrainingEvaluator:
    exact, _ = data_lib.sample_toy_host(config.data, config.seed, num_samples)

    def score(points: np.ndarray) -> dict:
        return _coverage(points, config.data)
    return TrainingEvaluator(_generator_scores(score, config, num_samples, key, num_samples), score, exact,
                             score(exact), "mode_coverage", num_samples)


def _image_evaluator(config: Config, num_samples: int, key, extractor) -> TrainingEvaluator:
    real = np.concatenate(list(data_lib.evaluation_batches(config, 2 * num_samples, seed=config.seed)))
    # evaluation_batches reads in data order; shuffle before splitting off the reference.
    real = real[np.random.default_rng(config.seed).permutation(len(real))]
    reference, held_out = real[:num_samples], real[num_samples:2 * num_samples]
    reference_features = extractor.features(reference)
    kid_key = jax.random.fold_in(key, 1)

    def score(samples: np.ndarray) -> dict:
        features = extractor.features(evaluation.check_images(samples, "samples"))
        return {"fid": fid_of_features(reference_features, features, extractor.name),
                "kid": kid_of_features(kid_key, reference_features, features)[0]}

    baseline = score(held_out) if len(held_out) >= 2 else {}
    if baseline:
        baseline["samples"] = len(held_out)
    # The generator is drawn in chunks (_chunk); the baseline compiled the rest: features,
    # FID and KID, whose programs serve num_samples samples too.
    return TrainingEvaluator(_generator_scores(score, config, num_samples, key, _chunk(config, num_samples)),
                             score, reference,
                             baseline, extractor.name, num_samples)


def _stacked_digits_evaluator(config: Config, num_samples: int, key) -> TrainingEvaluator:
    """Modes captured and KL to uniform (:mod:`gan_jax.metrics.stacked_modes`); the baseline is
    ``num_samples`` real stacked digits scored the same way (with fewer samples than the
    published 26,000 both sit further from 1,000 modes and KL 0: compare runs at one size)."""
    classify, _ = cached_digit_classify_fn()
    real, _ = real_stacked_digits(num_samples, config.seed)

    def score(samples: np.ndarray) -> dict:
        return stacked_modes.stacked_mode_scores(evaluation.check_images(samples, "samples"), classify)
    return TrainingEvaluator(_generator_scores(score, config, num_samples, key, _chunk(config, num_samples)),
                             score, real, score(real),
                             "stacked_modes", num_samples)


def make_training_evaluator(config: Config, num_samples: int, key: jax.Array
                            ) -> Tuple[Optional[TrainingEvaluator], str]:
    """``(evaluator, "")``, or ``(None, notice)`` when no metric applies or its weights are missing.

    Builds the real reference once (``num_samples`` real samples and their
    features; for the digits and 28x28x1 images the classifier trains on first use, cached).
    """
    if num_samples < 2:
        raise UserError(f"evaluation needs at least 2 samples, got {num_samples}; raise the number of samples")
    if config.data in _MIXTURES:
        return _mixture_evaluator(config, num_samples, key), ""
    if config.data == "stacked_digits":
        return _stacked_digits_evaluator(config, num_samples, key), ""
    shape = tuple(data_shape(config))
    kind = evaluation.default_extractor_kind(shape)
    if kind == evaluation.POINTS_EXTRACTOR:
        return None, f"no quality metric is computed during training on {config.data}"
    if kind == "inception":
        path = default_weights_path()
        if not os.path.isfile(path):
            return None, (f"no FID during training: no converted Inception weights at {path} "
                          "(get them with gan-jax convert-inception, see the README)")
    return _image_evaluator(config, num_samples, key, evaluation.get_extractor(kind, shape)), ""
