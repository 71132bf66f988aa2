"""Figures: sample grids, point clouds, training curves (matplotlib's object interface).

Figures are ``matplotlib.figure.Figure`` objects drawn on their own Agg canvas
(:func:`new_figure`); nothing here switches matplotlib's global backend or
touches pyplot's figure list, so a user's notebook keeps its own.

Every figure may be written to a local path or a ``gs://`` URL (drawn to a
temporary local file, then uploaded whole: written atomically, never through a symlink: :func:`gan_jax.io.paths.atomic_output`)."""

import json
import math
from typing import Optional, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from gan_jax.io import paths

__all__ = ["new_figure", "save_figure", "image_grid", "image_grid_bytes", "save_image_grid", "save_points",
           "plot_training_curves"]


def new_figure(figsize=(6, 4)) -> Figure:
    """A matplotlib Figure with its own Agg canvas, outside pyplot's global state."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str, dpi: int = 100) -> str:
    """Write ``fig`` to ``path`` (local or ``gs://``, the format from the suffix); returns ``path``."""
    with paths.atomic_output(path) as local:
        fig.savefig(local, dpi=dpi)
    return path


def _grid_layout(n: int, h: int, w: int, ncols: Optional[int], pad: int):
    """``(rows, columns, grid height, grid width)`` of ``n`` tiles of ``h`` x ``w``."""
    ncols = ncols or int(math.ceil(math.sqrt(n)))
    nrows = int(math.ceil(n / ncols))
    return nrows, ncols, nrows * (h + pad) + pad, ncols * (w + pad) + pad


def _grid_scale(width: int, scale: int) -> int:
    """``scale``, or the nearest-neighbour factor that makes a grid ``width`` wide about 256 pixels."""
    return scale or max(1, 256 // width)


def image_grid(images: np.ndarray, ncols: Optional[int] = None, pad: int = 1) -> np.ndarray:
    """Tile ``(N, H, W, C)`` images in [-1, 1] into one uint8 ``(rows*(H+pad)+pad, ..., C)`` image."""
    images = np.asarray(images, np.float32)
    n, h, w, c = images.shape
    _, ncols, height, width = _grid_layout(n, h, w, ncols, pad)
    grid = np.ones((height, width, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, ncols)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + col * (w + pad):pad + col * (w + pad) + w] = image
    return np.clip((grid + 1.0) * 127.5, 0, 255).round().astype(np.uint8)


def image_grid_bytes(n: int, image_shape, ncols: Optional[int] = None, scale: int = 0) -> int:
    """The uncompressed size in bytes of the grid :func:`save_image_grid` writes for ``n``
    images of ``image_shape`` ``(H, W, C)``, with room for the PNG's framing: about the largest
    its file can be (pixels that do not compress), to check the free space before drawing."""
    h, w, c = image_shape
    _, _, height, width = _grid_layout(n, h, w, ncols, 1)
    factor = _grid_scale(width, scale)
    return height * factor * (width * factor * c + 1) + 1024


def save_image_grid(images: np.ndarray, path: str, ncols: Optional[int] = None, scale: int = 0) -> str:
    """Write a PNG grid of ``(N, H, W, C)`` images in [-1, 1]; small images are
    enlarged (nearest neighbour) so that the grid is at least ~256 pixels wide.
    The file is written atomically (:func:`gan_jax.io.paths.atomic_output`)."""
    grid = image_grid(images, ncols)
    scale = _grid_scale(grid.shape[1], scale)
    if scale > 1:
        grid = grid.repeat(scale, axis=0).repeat(scale, axis=1)
    mode = "L" if grid.shape[-1] == 1 else "RGB"
    with paths.atomic_output(path) as local:
        Image.fromarray(grid[..., 0] if mode == "L" else grid, mode).save(local)
    return path


def save_points(points: np.ndarray, path: str, title: str, reference: Optional[np.ndarray] = None) -> str:
    """Scatter 2-D samples (or a histogram of 1-D ones) over optional reference samples."""
    points = np.asarray(points)
    fig = new_figure((5, 5) if points.shape[1] == 2 else (6, 4))
    ax = fig.subplots()
    if points.shape[1] == 1:
        bins = 60
        if reference is not None:
            ax.hist(reference[:, 0], bins=bins, density=True, alpha=0.5, label="data")
        ax.hist(points[:, 0], bins=bins, density=True, alpha=0.5, label="generated")
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        if reference is not None:
            ax.scatter(reference[:, 0], reference[:, 1], s=2, alpha=0.3, label="data")
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5, label="generated")
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
        ax.set_aspect("equal")
    ax.legend(loc="upper right")
    ax.set_title(title)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_training_curves(metrics_path: str, path: str,
                         keys: Sequence[str] = ("d_loss", "g_loss", "d_real", "d_fake"),
                         eval_keys: Sequence[str] = ("fid", "kid", "modes", "high_quality", "kl")) -> str:
    """Plot the losses and mean D outputs logged in ``metrics.jsonl`` against step, and
    a third panel with the evaluation scores (FID, KID, mode coverage or stacked modes and KL) where rows hold them."""
    rows = [json.loads(line) for line in paths.read_text(metrics_path).splitlines() if line.strip()]
    train_rows = [r for r in rows if keys[0] in r]
    eval_rows = {k: [(r["step"], r[k]) for r in rows if k in r] for k in eval_keys}
    eval_rows = {k: v for k, v in eval_rows.items() if v}
    fig = new_figure((15 if eval_rows else 10, 4))
    axes = fig.subplots(1, 3 if eval_rows else 2)
    ax_loss, ax_d = axes[0], axes[1]
    steps = [r["step"] for r in train_rows]
    for key, ax in zip(keys, (ax_loss, ax_loss, ax_d, ax_d)):
        if train_rows and key in train_rows[0]:
            ax.plot(steps, [r[key] for r in train_rows], label=key)
    ax_loss.set_title("losses")
    ax_d.set_title("mean D(x) and D(G(z))")
    ax_d.set_ylim(0, 1)
    if eval_rows:
        ax_eval = axes[2]
        for i, (key, points) in enumerate(eval_rows.items()):
            ax = ax_eval if i == 0 else ax_eval.twinx()
            ax.plot(*zip(*points), marker="o", color=f"C{i + 2}", label=key)
            ax.set_ylabel(key)
            if i:
                ax.spines["right"].set_position(("outward", 45 * (i - 1)))
            ax.legend(loc=("upper right", "lower right", "center right", "upper center")[i % 4])
        ax_eval.set_title("quality during training")
        ax_eval.set_xlabel("generator step")
    for ax in (ax_loss, ax_d):
        ax.set_xlabel("generator step")
        ax.legend()
    fig.suptitle(paths.basename(paths.dirname(paths.abspath(metrics_path))))
    fig.tight_layout()
    return save_figure(fig, path)
