"""Stimuli: generated samples, real images and attention checks, encoded alike.

Every stimulus, whatever its source, becomes the same kind of file: an 8-bit
PNG of the images' own size and mode with no metadata, its pixel data stored
uncompressed, so that every stimulus file of a study has the same byte
length (a compressed file's length would tell real digits, with their 17 grey
levels, from generated ones). The page enlarges them by an integer factor with
nearest-neighbour scaling (``image-rendering: pixelated``), so 8x8 digits
stay sharp. Each is stored under an opaque random id.
"""

import io
import os
import secrets
from typing import List, Sequence, Tuple

import numpy as np
from PIL import Image

from gan_jax.data.sources import load_array
from gan_jax.data.tfds import TfdsSource
from gan_jax.errors import UserError
from gan_jax.runs.checkpoint import read_run_config
from gan_jax.runs.sampling import sample_from_run

__all__ = ["encode_png", "noise_images", "real_images",
           "generated_images", "build_stimuli"]

def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of one ``(H, W, C)`` image in [-1, 1] (C = 1 or 3): 8 bits,
    no metadata chunks, deflate level 0 (stored), so the length depends on
    (H, W, C) alone."""
    pixels = np.clip(np.round((np.asarray(image, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)
    picture = Image.fromarray(pixels[..., 0], "L") if pixels.shape[-1] == 1 else Image.fromarray(pixels, "RGB")
    out = io.BytesIO()
    picture.save(out, format="PNG", compress_level=0)
    return out.getvalue()


def noise_images(rng: np.random.Generator, n: int, shape: Sequence[int]) -> np.ndarray:
    """``(n, *shape)`` uniform noise in [-1, 1]: the attention-check images (obviously not real)."""
    return rng.uniform(-1.0, 1.0, size=(n, *shape)).astype(np.float32)


def real_images(spec: str, image_size: int, channels: int, n: int, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(images (n, H, W, C) in [-1, 1], indices (n,))``: n real images drawn
    without replacement (seeded) from a data source. For ``tfds:NAME`` the
    index is the position in the split's stream shuffled with ``seed``."""
    if spec.startswith("tfds:"):
        source = TfdsSource(spec[5:], image_size, channels, batch_size=n, seed=seed)
        images, _ = next(source.iterate())
        return np.asarray(images, np.float32), np.arange(n)
    images, _ = load_array(spec, image_size, channels, n=n, seed=seed)
    if images.ndim != 4:
        raise UserError(f"--real {spec} holds points, not images; a study needs images")
    if len(images) < n:
        raise UserError(f"--real {spec} has {len(images)} images but the study needs {n}; "
                        "lower --pool or use a larger source")
    indices = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return np.asarray(images[indices], np.float32), indices


def _latest_checkpoint_step(run_dir: str) -> int:
    """The newest checkpoint step of a run (UserError when there is none)."""
    read_run_config(run_dir)
    directory = os.path.join(run_dir, "checkpoints")
    steps = [int(name) for name in (os.listdir(directory) if os.path.isdir(directory) else [])
             if name.isdigit()]
    if not steps:
        raise UserError(f"{run_dir} has no checkpoint yet; train it first (gan-jax train) or pass another run")
    return max(steps)


def generated_images(run_dir: str, n: int, seed: int, generator: str = "auto") -> Tuple[np.ndarray, int]:
    """``(samples (n, H, W, C) in [-1, 1], checkpoint step)`` from a run's latest checkpoint, drawn
    by ``generator`` (:func:`gan_jax.runs.sampling.choose_generator`)."""
    step = _latest_checkpoint_step(run_dir)
    samples, _ = sample_from_run(run_dir, n, seed, generator=generator)
    if samples.ndim != 4:
        raise UserError(f"{run_dir} generates points, not images; a study needs an image model")
    return np.asarray(samples, np.float32), step


def build_stimuli(run_dirs: Sequence[str], real_spec: str, pool: int, n_attention: int,
                  seed: int, generator: str = "auto") -> Tuple[List[dict], Tuple[int, int, int]]:
    """Every stimulus of a study as rows for the ``stimuli`` table, and the image shape.

    ``pool`` generated samples per run (sample seed ``seed``), ``pool`` real
    images and ``n_attention`` noise images, each under a fresh opaque id.
    """
    configs = [read_run_config(run) for run in run_dirs]
    shapes = {(c.image_size, c.image_size, c.channels) for c in configs}
    if len(shapes) > 1:
        raise UserError(f"the runs make images of different shapes {sorted(shapes)}; "
                        "compare runs of one image size and channel count")
    shape = shapes.pop()
    images, indices = real_images(real_spec, shape[0], shape[2], pool, seed)
    if images.shape[1:] != shape:
        raise UserError(f"--real {real_spec} gives {images.shape[1:]} images but the runs make {shape}")
    rows = [dict(id=secrets.token_urlsafe(16), kind="real", real_source=real_spec, real_index=int(i),
                 png=encode_png(x)) for i, x in zip(indices, images)]
    for model, run in enumerate(run_dirs):
        samples, step = generated_images(run, pool, seed, generator)
        rows += [dict(id=secrets.token_urlsafe(16), kind="generated", model=model, run_dir=run,
                      checkpoint_step=step, sample_seed=seed, sample_index=i, png=encode_png(x))
                 for i, x in enumerate(samples)]
    noise = noise_images(np.random.default_rng(seed), n_attention, shape)
    rows += [dict(id=secrets.token_urlsafe(16), kind="attention", sample_seed=seed, sample_index=i,
                  png=encode_png(x)) for i, x in enumerate(noise)]
    return rows, shape
