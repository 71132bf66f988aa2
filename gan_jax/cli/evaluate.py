"""``gan-jax fid``, ``gan-jax eval`` and ``gan-jax convert-inception``: arguments and printing.

What they compute lives in :mod:`gan_jax.evaluation.fid_sources` and
:mod:`gan_jax.evaluation.evaluate_run`.
"""

import dataclasses
import json
import os

from gan_jax.cli.options import bounded_int, generator_option, seed_option
from gan_jax.errors import UserError

__all__ = ["register", "run_fid", "run_eval", "run_convert"]

MAX_FID_SAMPLES = 10_000_000      # drawn from a run or a toy and streamed through the features
MAX_DATA_SAMPLES = 1_000_000_000  # read from a finite data set, streamed
MAX_EVAL_SAMPLES = 100_000        # eval holds the samples, and twice as many real ones, in memory
MAX_IMAGE_SIZE = 4096             # the config's own bound on image_size
MAX_IMAGE_PIXELS = 2**31 - 1


def register(subparsers) -> None:
    """Add the ``fid``, ``eval`` and ``convert-inception`` commands to ``subparsers``."""
    from gan_jax.config.schema import Config
    p = subparsers.add_parser(
        "fid", help="Fréchet distance between two sources",
        description="FID between two sources. SRC: a data set as training names it (digits, mnist5k, ring8, grid25, "
                    "npz:PATH or PATH.npz, folder:PATH or a directory, tfds:NAME), a run directory (samples "
                    "its latest checkpoint) or an .npz of statistics (mu, sigma, n, extractor). "
                    "Example: gan-jax fid --real digits --fake runs/digits_dcgan")
    p.add_argument("--real", required=True, metavar="SRC")
    p.add_argument("--fake", required=True, metavar="SRC")
    p.add_argument("--features", default="auto", choices=("auto", "classifier", "inception", "points"),
                   help="auto: the digits classifier for 8x8x1 images, the MNIST classifier for 28x28x1, raw "
                        "points for the toys, else Inception; classifier: the one of the image shape")
    p.add_argument("--inception-weights", help="converted weights (default: the cache, where convert-inception "
                                               "writes them)")
    p.add_argument("-n", type=bounded_int(2, MAX_FID_SAMPLES), default=2000,
                   help=f"samples drawn from a run or a toy distribution, 2..{MAX_FID_SAMPLES:,} (default 2000)")
    p.add_argument("--data-samples", type=bounded_int(2, MAX_DATA_SAMPLES),
                   help=f"at most this many samples of a finite data set, 2..{MAX_DATA_SAMPLES:,} "
                        "(default: all of it)")
    p.add_argument("--image-size", type=bounded_int(1, MAX_IMAGE_SIZE),
                   help=f"resize a folder: or tfds: side to this size, 1..{MAX_IMAGE_SIZE} (with --channels; "
                        "default: a folder's own image size; a tfds side takes the other side's)")
    p.add_argument("--channels", type=int, choices=(1, 3),
                   help="convert a folder: or tfds: side to 1 (grey) or 3 (colour) channels (with --image-size)")
    p.add_argument("--tfds-data-dir", default="", help="tensorflow-datasets data_dir (default $TFDS_DATA_DIR)")
    p.add_argument("--max-image-pixels", type=bounded_int(1, MAX_IMAGE_PIXELS), default=Config.max_image_pixels,
                   help=f"refuse image files with more pixels than this, also once resized, 1..{MAX_IMAGE_PIXELS} "
                        "(default %(default)s)")
    p.add_argument("--save-stats", metavar="PATH.npz", help="also save the statistics of --fake")
    p.add_argument("--no-progress", action="store_true")
    generator_option(p)   # for a run directory given as a side
    p.set_defaults(func=run_fid)

    p = subparsers.add_parser("eval", help="all applicable metrics of a run: eval.json and a figure",
                              description="Every metric that applies to a run, written to RUN_DIR/eval.json and "
                                          "RUN_DIR/eval.png (eval_best.* with --best). To score an .npz of "
                                          "samples instead: gan-jax fid --real DATA --fake FILE.npz")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory made by gan-jax train")
    p.add_argument("-n", type=bounded_int(2, MAX_EVAL_SAMPLES),
                   help=f"generated samples, 2..{MAX_EVAL_SAMPLES:,} (default 1000; 26000 for stacked_digits, "
                        "as published)")
    seed_option(p, what="the generated and real samples")
    p.add_argument("--overwrite", action="store_true", help="replace an existing eval.json and eval.png")
    p.add_argument("--features", default="auto", choices=("auto", "classifier", "inception"),
                   help="auto: the digits classifier for 8x8x1 images, the MNIST classifier for 28x28x1, "
                        "else Inception")
    p.add_argument("--inception-weights")
    p.add_argument("--best", action="store_true", help="the best checkpoint kept by evaluation during training")
    generator_option(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_eval)

    p = subparsers.add_parser("convert-inception", help="convert pytorch-fid's Inception weights to Flax",
                              description="Convert pt_inception-2015-12-05-6726825d.pth (from pytorch-fid's "
                                          "releases) into Flax weights, by default into the cache where fid "
                                          "and eval look. Needs PyTorch for this step only.")
    p.add_argument("weights", metavar="WEIGHTS.pth")
    p.add_argument("out", nargs="?", help="output .msgpack (default: the cache, where fid/eval look)")
    p.add_argument("--no-verify", action="store_true", help="accept weights other than the published file")
    p.set_defaults(func=run_convert)


def run_convert(args) -> None:
    """Convert pytorch-fid's Inception weights (a ``.pth`` file) into the cache, or into ``--out``."""
    from gan_jax.features.inception_convert import (
        convert_inception,
        default_weights_path,
    )
    out = convert_inception(args.weights, args.out or default_weights_path(), verify=not args.no_verify)
    print(f"wrote {out}")


def _check_output(path: str) -> None:
    """An output file the user names: an .npz whose parent is a directory, not an existing file."""
    from gan_jax.io import paths
    if not path.endswith(".npz"):
        raise UserError(f"--save-stats must end in .npz, got {path}")
    paths.check_location(path, "--save-stats")
    if paths.exists(path):
        raise UserError(f"{path} exists; remove it or choose another --save-stats path")
    parent = os.path.dirname(os.path.abspath(path))
    if not paths.is_url(path) and os.path.exists(parent) and not os.path.isdir(parent):
        raise UserError(f"{parent} is a file, not a directory; choose another --save-stats path")


def run_fid(args) -> None:
    """Print the FID of ``--fake`` against ``--real`` beside a real-vs-real baseline (where the real
    side has samples); ``--save-stats`` also writes the fake side's statistics."""
    from gan_jax.config.schema import Config
    from gan_jax.evaluation.fid_sources import fid_of_sources
    from gan_jax.evaluation.stats_files import save_stats
    if args.save_stats:
        _check_output(args.save_stats)
    config = dataclasses.replace(Config(), tfds_data_dir=args.tfds_data_dir,
                                 max_image_pixels=args.max_image_pixels)
    result = fid_of_sources(args.real, args.fake, args.n, args.data_samples, args.features,
                            args.inception_weights, args.image_size, args.channels, config,
                            progress=not args.no_progress, generator=args.generator)
    print(f"FID ({result.extractor}, {result.n_real} real vs {result.n_fake} fake): {result.fid:.4f}")
    if result.baseline is not None:
        print(f"real-vs-real baseline (two halves of {result.baseline_n}): {result.baseline:.4f}")
    for note in result.notes:
        print(f"note: {note}")
    if args.save_stats:
        print(f"wrote {save_stats(result.fake_stats, args.save_stats)}")


def _check_run_dir(run_dir: str) -> None:
    """UserError (one line) if ``run_dir`` is a file: eval scores a run directory, fid a file."""
    from gan_jax.io import paths
    if paths.isfile(run_dir):
        raise UserError(f"{run_dir} is a file; eval expects a run directory (made by gan-jax train). To score "
                        f"a file of samples use: gan-jax fid --real DATA --fake {run_dir}")


def run_eval(args) -> None:
    """Write ``eval.json`` and ``eval.png`` (``eval_best.*``) in the run directory; existing ones
    are replaced only with ``--overwrite``, checked before anything is computed."""
    from gan_jax.io import paths
    from gan_jax.io.paths import atomic_write_json
    from gan_jax.runs.checkpoint import read_run_config
    paths.check_location(args.run_dir, "RUN_DIR")
    _check_run_dir(args.run_dir)
    read_run_config(args.run_dir)  # a clear error for a directory that is not a run
    suffix = "_best" if args.best else ""
    figure = paths.join(args.run_dir, f"eval{suffix}.png")
    report = paths.join(args.run_dir, f"eval{suffix}.json")
    for path in (report, figure):
        if paths.exists(path) and not args.overwrite:
            raise UserError(f"{path} exists (an earlier gan-jax eval); pass --overwrite to replace it")
    from gan_jax.evaluation.evaluate_run import evaluate_run  # the metrics' imports, once the checks pass
    result = evaluate_run(args.run_dir, figure, args.n, args.seed, args.features, args.inception_weights,
                          progress=not args.no_progress, best=args.best, generator=args.generator)
    path = atomic_write_json(report, result)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("class_stats")}, indent=2))
    print(f"wrote {path} and {figure}")
