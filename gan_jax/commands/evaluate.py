"""``gan-jax fid``, ``gan-jax eval`` and ``gan-jax convert-inception``."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.errors import UserError

__all__ = ["register", "run_fid", "run_eval", "run_convert", "load_fid_source"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fid", help="Fréchet distance between two sources",
        description="FID between two sources. SRC: a data set name (digits), folder:PATH, an .npz of "
                    "images ('images') or of statistics (mu, sigma, n, extractor), or a run directory "
                    "(samples its latest checkpoint). Example: gan-jax fid --real digits --fake runs/digits_dcgan")
    p.add_argument("--real", required=True, metavar="SRC")
    p.add_argument("--fake", required=True, metavar="SRC")
    p.add_argument("--features", default="auto", choices=("auto", "classifier", "inception"),
                   help="auto: the digits classifier for 8x8x1 images, else Inception")
    p.add_argument("--inception-weights", help="converted weights (default: the cache, see convert-inception)")
    p.add_argument("-n", type=int, default=2000, help="samples drawn from a run directory (default 2000)")
    p.add_argument("--image-size", type=int, default=8, help="size of images read from folder:PATH")
    p.add_argument("--channels", type=int, default=1, help="channels of images read from folder:PATH")
    p.add_argument("--save-stats", metavar="PATH.npz", help="also save the statistics of --fake")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_fid)

    p = subparsers.add_parser("eval", help="all applicable metrics of a run: eval.json and a figure")
    p.add_argument("run_dir")
    p.add_argument("-n", type=int, default=1000, help="generated samples (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--features", default="auto", choices=("auto", "classifier", "inception"))
    p.add_argument("--inception-weights")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_eval)

    p = subparsers.add_parser("convert-inception", help="convert pytorch-fid's Inception weights to Flax",
                              description="Convert pt_inception-2015-12-05-6726825d.pth (from pytorch-fid's "
                                          "releases) into Flax weights. Needs PyTorch for this step only.")
    p.add_argument("weights", metavar="WEIGHTS.pth")
    p.add_argument("out", nargs="?", help="output .msgpack (default: the cache, where fid/eval look)")
    p.add_argument("--no-verify", action="store_true", help="accept weights other than the published file")
    p.set_defaults(func=run_convert)


def run_convert(args) -> None:
    from gan_jax.metrics.inception_convert import convert_inception, default_weights_path
    out = convert_inception(args.weights, args.out or default_weights_path(), verify=not args.no_verify)
    print(f"wrote {out}")


def _is_run_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json"))


def load_fid_source(spec: str, n: int, image_size: int, channels: int):
    """``("stats", FeatureStats)`` or ``("images", images (N, H, W, C) in [-1, 1])`` for a SRC string."""
    from gan_jax.data import load_array
    if _is_run_dir(spec):
        from gan_jax.commands.train import sample_from_run
        return "images", sample_from_run(spec, n)[0]
    if spec.endswith(".npz"):
        if not os.path.isfile(spec):
            raise UserError(f"{spec} does not exist")
        with np.load(spec, allow_pickle=False) as f:
            names = set(f.files)
        if "mu" in names:
            from gan_jax.metrics.stats import load_stats
            return "stats", load_stats(spec)
        spec = "npz:" + spec
        with np.load(spec[4:], allow_pickle=False) as f:
            key = next((k for k in ("images", "x", "samples") if k in f.files), None)
            if key is not None and f[key].ndim == 4:
                image_size, channels = f[key].shape[2], f[key].shape[3]
    if os.path.isdir(spec):
        spec = "folder:" + spec
    images, _ = load_array(spec, image_size, channels)
    if images.ndim != 4:
        raise UserError(f"{spec} holds points of shape {images.shape}, not images; "
                        "use gan-jax eval on a toy run instead")
    return "images", images


def run_fid(args) -> None:
    from gan_jax.metrics import evaluation
    from gan_jax.metrics.stats import min_samples_note, save_stats
    progress = not args.no_progress
    real = load_fid_source(args.real, args.n, args.image_size, args.channels)
    fake = load_fid_source(args.fake, args.n, args.image_size, args.channels)
    shape = next((s[1].shape[1:] for s in (real, fake) if s[0] == "images"), (8, 8, 1))
    extractor = None
    if "images" in (real[0], fake[0]):
        extractor = evaluation.get_extractor(args.features, shape, args.inception_weights)

    def stats_of(source, desc):
        kind, value = source
        return value if kind == "stats" else evaluation.feature_stats(extractor, value, progress=progress, desc=desc)

    real_stats, fake_stats = stats_of(real, "real"), stats_of(fake, "fake")
    fid = evaluation.fid_from_stats(real_stats, fake_stats)
    print(f"FID ({real_stats.extractor}, {real_stats.n} real vs {fake_stats.n} fake): {fid:.4f}")
    if real[0] == "images":
        a, b = evaluation.split_halves(real[1])
        base = evaluation.fid_from_stats(evaluation.feature_stats(extractor, a, progress=progress, desc="half A"),
                                         evaluation.feature_stats(extractor, b, progress=progress, desc="half B"))
        print(f"real-vs-real baseline (two halves of {len(a)}): {base:.4f}")
    for s in (real_stats, fake_stats):
        note = min_samples_note(s)
        if note:
            print(f"note: {note}")
    if args.save_stats:
        print(f"wrote {save_stats(fake_stats, args.save_stats)}")


def _image_metrics(extractor, real, fake, key, progress):
    """Every image metric of fake vs real, and of one real half vs the other (the baseline)."""
    from gan_jax.metrics import evaluation
    from gan_jax.metrics.kid import kernel_inception_distance
    from gan_jax.metrics.precision_recall import precision_recall
    from gan_jax.metrics.stats import stats_from_features

    def scores(a, b):
        fid = evaluation.fid_from_stats(stats_from_features(a, extractor.name), stats_from_features(b, extractor.name))
        kid, kid_std = kernel_inception_distance(key, jnp.asarray(a), jnp.asarray(b), num_subsets=50,
                                                 subset_size=min(500, len(a), len(b)))
        precision, recall = precision_recall(jnp.asarray(a), jnp.asarray(b))
        return {"fid": fid, "kid": float(kid), "kid_std": float(kid_std),
                "precision": float(precision), "recall": float(recall)}

    f_real = evaluation.extract_features(extractor, real, progress=progress, desc="real")
    f_fake = evaluation.extract_features(extractor, fake, progress=progress, desc="fake")
    half_a, half_b = evaluation.split_halves(f_real)
    return scores(f_real, f_fake), scores(half_a, half_b), f_real, f_fake


def _nearest_figure(real, fake, f_real, f_fake, path, k=4, rows=6):
    """Each generated sample beside its k nearest training images in pixel and feature space."""
    from gan_jax.metrics.nearest_neighbours import nearest_neighbours
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    d_pix, i_pix = nearest_neighbours(jnp.asarray(fake[:rows]), jnp.asarray(real), k)
    _, i_feat = nearest_neighbours(jnp.asarray(f_fake[:rows]), jnp.asarray(f_real), k)
    d_all, _ = nearest_neighbours(jnp.asarray(fake), jnp.asarray(real), 1)
    d_real, _ = nearest_neighbours(jnp.asarray(real[:len(fake)]), jnp.asarray(real[len(fake):]), 1) \
        if len(real) > 2 * len(fake) else (None, None)
    fig = plt.figure(figsize=(2 * k + 6, rows * 1.1 + 3))
    grid = fig.add_gridspec(rows + 2, 2 * k + 1)
    show = lambda ax, img: (ax.imshow(np.squeeze((img + 1) / 2), cmap="gray", vmin=0, vmax=1), ax.axis("off"))  # noqa: E731
    for r in range(rows):
        show(fig.add_subplot(grid[r, 0]), fake[r])
        for j in range(k):
            show(fig.add_subplot(grid[r, 1 + j]), real[int(i_pix[r, j])])
            show(fig.add_subplot(grid[r, 1 + k + j]), real[int(i_feat[r, j])])
    ax = fig.add_subplot(grid[rows:, :])
    ax.hist(np.asarray(d_all[:, 0]), bins=40, alpha=0.6, label="generated -> nearest training image")
    if d_real is not None:
        ax.hist(np.asarray(d_real[:, 0]), bins=40, alpha=0.6, label="real -> nearest other real image (baseline)")
    ax.set_xlabel("pixel-space L2 distance")
    ax.set_ylabel("count")
    ax.legend()
    fig.suptitle(f"sample | {k} nearest training images in pixel space | in feature space")
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def run_eval(args) -> None:
    from gan_jax.checkpoint import read_run_config
    from gan_jax.commands.train import sample_from_run
    from gan_jax.data import TOY_DATA, load_array
    from gan_jax.metrics import evaluation
    if not _is_run_dir(args.run_dir):
        raise UserError(f"{args.run_dir} is not a run directory (no config.json); train one with gan-jax train")
    config = read_run_config(args.run_dir)
    progress = not args.no_progress
    fake, _ = sample_from_run(args.run_dir, args.n, args.seed)
    real, _ = load_array(config.data, config.image_size, config.channels, n=max(2 * args.n, 2000))
    key = jax.random.PRNGKey(args.seed)
    result = {"run_dir": args.run_dir, "data": config.data, "n_generated": int(len(fake)), "n_real": int(len(real))}
    figure = os.path.join(args.run_dir, "eval.png")
    if config.data in TOY_DATA:
        result.update(_toy_metrics(config.data, real, fake, key, figure))
    else:
        extractor = evaluation.get_extractor(args.features, real.shape[1:], args.inception_weights)
        scores, baseline, f_real, f_fake = _image_metrics(extractor, real, fake, key, progress)
        result.update({"features": extractor.name, "scores": scores, "real_vs_real": baseline})
        if extractor.probs is not None:
            from gan_jax.metrics.class_stats import class_statistics
            for name, x in (("class_stats", fake), ("class_stats_real", real)):
                s = class_statistics(extractor.probs(jnp.asarray(x)))
                result[name] = {k: np.asarray(v).tolist() for k, v in s.items()}
        _nearest_figure(real, fake, f_real, f_fake, figure)
    result["figure"] = figure
    path = os.path.join(args.run_dir, "eval.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps({k: v for k, v in result.items() if not k.startswith("class_stats")}, indent=2))
    print(f"wrote {path} and {figure}")


def _toy_metrics(name, real, fake, key, figure):
    """Fréchet distance and precision/recall of the raw points, mode coverage for the mixtures."""
    from gan_jax import viz
    from gan_jax.metrics import evaluation
    from gan_jax.metrics.precision_recall import precision_recall
    from gan_jax.metrics.stats import stats_from_features
    out = {}
    for label, (a, b) in (("scores", (real, fake)), ("real_vs_real", evaluation.split_halves(real))):
        p, r = precision_recall(jnp.asarray(a), jnp.asarray(b))
        out[label] = {"frechet_distance": evaluation.fid_from_stats(stats_from_features(a, "points"),
                                                                    stats_from_features(b, "points")),
                      "precision": float(p), "recall": float(r)}
    if name in ("ring8", "grid25"):
        from gan_jax.metrics.mode_coverage import benchmark_mixture, mode_coverage
        centers, std = benchmark_mixture(name)
        out["mode_coverage"] = {k: np.asarray(v).tolist() for k, v in
                                mode_coverage(jnp.asarray(fake), centers, std).items()}
    if fake.shape[1] in (1, 2):
        viz.save_points(np.asarray(fake), figure, f"{name}: generated samples (real in grey)",
                        reference=np.asarray(real))
    return out
