"""gan_jax.io.figures: image grids (tiling, value mapping, PNG size), point plots, training curves,
and drawing without touching matplotlib's global state (backend, pyplot's figure list)."""

import json
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from gan_jax.io import figures

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _png(path):
    """``(PIL mode, (width, height), pixels)`` of a PNG file, checked to be one."""
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.mode, image.size, np.asarray(image)


def _constant_images(values, h, w, c):
    """Images ``(N, h, w, c)``, image i filled with ``values[i]`` (a scalar or one value per channel)."""
    values = np.asarray(values, np.float32).reshape(len(values), 1, 1, -1)
    return np.broadcast_to(values, (len(values), h, w, c)).copy()


# image_grid

def test_image_grid_tiles_row_major_with_white_padding():
    h, w = 2, 3
    values = [-1.0, -0.5, 0.0, 0.5, 1.0]
    grid = figures.image_grid(_constant_images(values, h, w, 1))
    ncols, nrows = 3, 2          # ceil(sqrt(5)) columns
    assert grid.dtype == np.uint8
    assert grid.shape == (nrows * (h + 1) + 1, ncols * (w + 1) + 1, 1)
    # -1 -> 0, 1 -> 255, linear in between (rounded).
    expected = [0, 64, 128, 191, 255]
    inside = np.zeros(grid.shape[:2], bool)
    for i, value in enumerate(expected):
        r, c = divmod(i, ncols)
        top, left = 1 + r * (h + 1), 1 + c * (w + 1)
        block = grid[top:top + h, left:left + w, 0]
        assert np.all(block == value), (i, block)
        inside[top:top + h, left:left + w] = True
    # Padding and the unused sixth cell are white.
    assert np.all(grid[~inside] == 255)


@pytest.mark.parametrize("n, ncols", [(1, None), (4, None), (7, None), (6, 2), (6, 6), (10, 4)])
def test_image_grid_shape(n, ncols):
    h, w, c = 4, 5, 3
    grid = figures.image_grid(np.zeros((n, h, w, c), np.float32), ncols)
    cols = ncols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    assert grid.shape == (rows * (h + 1) + 1, cols * (w + 1) + 1, c)
    no_pad = figures.image_grid(np.zeros((n, h, w, c), np.float32), ncols, pad=0)
    assert no_pad.shape == (rows * h, cols * w, c)


def test_image_grid_keeps_channels_and_clips_out_of_range_values():
    images = _constant_images([[-1.0, 0.0, 1.0], [3.0, -7.0, 0.5]], 2, 2, 3)
    grid = figures.image_grid(images, ncols=2, pad=0)
    assert grid.shape == (2, 4, 3)
    np.testing.assert_array_equal(grid[:, :2], np.broadcast_to([0, 128, 255], (2, 2, 3)))
    np.testing.assert_array_equal(grid[:, 2:], np.broadcast_to([255, 0, 191], (2, 2, 3)))


# save_image_grid

def test_save_image_grid_writes_a_grey_png_scaled_to_about_256_pixels(tmp_path):
    images = np.random.default_rng(0).uniform(-1, 1, (4, 8, 8, 1)).astype(np.float32)
    path = str(tmp_path / "grid.png")
    assert figures.save_image_grid(images, path) == path
    mode, (width, height), pixels = _png(path)
    side = 2 * (8 + 1) + 1          # 2 x 2 tiles of 8 pixels, padding 1
    scale = 256 // side
    assert mode == "L" and (width, height) == (side * scale, side * scale)
    assert 256 - side < width <= 256
    # Nearest-neighbour enlargement of the grid.
    grid = figures.image_grid(images)[..., 0]
    np.testing.assert_array_equal(pixels, grid.repeat(scale, axis=0).repeat(scale, axis=1))


def test_save_image_grid_writes_rgb_and_honours_an_explicit_scale(tmp_path):
    images = _constant_images([[-1.0, 0.0, 1.0]] * 3, 4, 6, 3)
    path = str(tmp_path / "rgb.png")
    figures.save_image_grid(images, path, ncols=3, scale=2)
    mode, size, pixels = _png(path)
    assert mode == "RGB" and size == (2 * (3 * 7 + 1), 2 * (1 * 5 + 1))
    assert pixels.shape == (2 * 6, 2 * 22, 3)
    np.testing.assert_array_equal(pixels[2:10, 2:14], np.broadcast_to([0, 128, 255], (8, 12, 3)))
    np.testing.assert_array_equal(pixels[:2], 255)


def test_save_image_grid_leaves_wide_grids_unscaled(tmp_path):
    images = np.zeros((2, 3, 150, 1), np.float32)
    path = str(tmp_path / "wide.png")
    figures.save_image_grid(images, path, ncols=2)
    _, size, _ = _png(path)
    assert size == (2 * 151 + 1, 3 + 2)


# save_points and plot_training_curves

def test_save_points_draws_2d_scatters_and_1d_histograms(tmp_path):
    rng = np.random.default_rng(1)
    two = str(tmp_path / "two.png")
    assert figures.save_points(rng.normal(size=(200, 2)), two, "ring", reference=rng.normal(size=(300, 2))) == two
    _, size, pixels = _png(two)
    assert size == (500, 500) and pixels.std() > 0
    one = str(tmp_path / "one.png")
    figures.save_points(rng.normal(size=(200, 1)), one, "gaussian")
    _, size, _ = _png(one)
    assert size == (600, 400)
    with_reference = str(tmp_path / "one_ref.png")
    figures.save_points(rng.normal(size=(200, 1)), with_reference, "gaussian", reference=rng.normal(size=(100, 1)))
    assert _png(with_reference)[1] == (600, 400)


def _write_metrics(path, with_eval):
    rows = []
    for step in range(1, 11):
        rows.append({"step": step, "d_loss": 1.4 - 0.05 * step, "g_loss": 0.7 + 0.02 * step,
                     "d_real": 0.5 + 0.01 * step, "d_fake": 0.5 - 0.01 * step, "images_per_sec": 100.0})
        if with_eval and step % 5 == 0:
            rows.append({"step": step, "fid": 30.0 / step, "kid": 0.1 / step})
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return str(path)


@pytest.mark.parametrize("with_eval, size", [(False, (1000, 400)), (True, (1500, 400))])
def test_plot_training_curves_writes_two_or_three_panels(tmp_path, with_eval, size):
    run = tmp_path / "my_run"
    run.mkdir()
    metrics = _write_metrics(run / "metrics.jsonl", with_eval)
    out = str(tmp_path / "curves.png")
    assert figures.plot_training_curves(metrics, out) == out
    _, got, pixels = _png(out)
    assert got == size and pixels.std() > 0


# matplotlib warns that the empty loss panels have nothing to put in a legend.
@pytest.mark.filterwarnings("ignore:No artists with labels found")
def test_plot_training_curves_of_a_log_without_losses(tmp_path):
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 5, "fid": 12.0}) + "\n")
    out = str(tmp_path / "curves.png")
    figures.plot_training_curves(str(metrics), out)
    assert _png(out)[1] == (1500, 400)


# Global matplotlib state

def _draw_everything(folder):
    rng = np.random.default_rng(2)
    figures.save_image_grid(rng.uniform(-1, 1, (4, 8, 8, 1)), os.path.join(folder, "grid.png"))
    figures.save_points(rng.normal(size=(50, 2)), os.path.join(folder, "points.png"), "points")
    metrics = os.path.join(folder, "metrics.jsonl")
    with open(metrics, "w") as f:
        f.write(json.dumps({"step": 1, "d_loss": 1.0, "g_loss": 1.0, "d_real": 0.5, "d_fake": 0.5, "fid": 3.0}) + "\n")
    figures.plot_training_curves(metrics, os.path.join(folder, "curves.png"))
    figures.new_figure()
    return [os.path.join(folder, name) for name in ("grid.png", "points.png", "curves.png")]


def test_drawing_keeps_the_backend_and_pyplots_figure_list(tmp_path):
    import matplotlib
    backend = matplotlib.get_backend()
    import matplotlib.pyplot as plt
    open_before = plt.get_fignums()
    for path in _draw_everything(str(tmp_path)):
        _png(path)
    assert matplotlib.get_backend() == backend
    assert plt.get_fignums() == open_before


_IN_A_FRESH_PROCESS = textwrap.dedent("""
    import sys
    import matplotlib
    if sys.argv[2] != "-":
        matplotlib.use(sys.argv[2])
    before = matplotlib.get_backend(auto_select=False)
    sys.path.insert(0, sys.argv[3])
    from test_io_figures import _draw_everything, _png
    for path in _draw_everything(sys.argv[1]):
        _png(path)
    assert matplotlib.get_backend(auto_select=False) == before, (before, matplotlib.get_backend(auto_select=False))
    assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
    print("ok", before)
""")


@pytest.mark.parametrize("backend", ["-", "svg"])
def test_drawing_in_a_fresh_process_selects_no_backend_and_imports_no_pyplot(tmp_path, backend):
    """Nothing chosen stays unchosen (pyplot never imported); a non-Agg backend set by the
    user (``svg`` draws headless) stays set, and the PNGs are still written."""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, env.get("PYTHONPATH")]))
    done = subprocess.run([sys.executable, "-c", _IN_A_FRESH_PROCESS, str(tmp_path), backend,
                           os.path.join(ROOT, "tests")],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["ok", "None" if backend == "-" else "svg"]
