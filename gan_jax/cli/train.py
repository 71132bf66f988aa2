"""``gan-jax train``, ``gan-jax resume`` and ``gan-jax sample``."""

import argparse
import dataclasses
import os

from gan_jax.cli.options import bounded_int, generator_option, seed_option, watchdog_option
from gan_jax.config.schema import RESUMABLE_KEYS
from gan_jax.errors import UserError

__all__ = ["register", "run_train", "run_resume", "run_sample"]


def register(subparsers) -> None:
    """Add the ``train``, ``resume`` and ``sample`` commands to ``subparsers``."""
    from gan_jax.config.schema import MAX_CONFIG_BYTES, MAX_MEMBERS, key_ranges_text
    p = subparsers.add_parser("train", help="train a GAN from a named config or a .json file",
                              description="Train a GAN. Example: gan-jax train --config digits_dcgan steps=500")
    p.add_argument("--config", default="digits_dcgan",
                   help=f"named config or path to a .json config (at most {MAX_CONFIG_BYTES // 2**20} MiB)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help=f"config overrides; the counts' ranges: {key_ranges_text()}. A training that "
                        "cannot fit in memory is refused before it starts")
    p.add_argument("--name", help="run name (default: the config name, made unique)")
    p.add_argument("--runs-dir", default="runs", help="parent directory of runs (default: runs)")
    p.add_argument("--resume", action="store_true", help="continue the run --name if it exists")
    p.add_argument("--overwrite", action="store_true", help="delete an existing run of the same name first")
    p.add_argument("--seeds", metavar="S0,S1,...",
                   help="train one run per seed together in one compiled program (a sweep: RUN_DIR/seed_S/ "
                        f"each; e.g. 0,1,2,3,4 or 0-4; at most {MAX_MEMBERS} seeds)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    watchdog_option(p)
    _add_distributed_args(p)
    p.set_defaults(func=run_train)

    p = subparsers.add_parser("resume", help="continue a run from its latest checkpoint")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help=f"only {', '.join(RESUMABLE_KEYS)} may change")
    p.add_argument("--seeds", help=argparse.SUPPRESS)   # refused with a clear line: a sweep resumes whole
    p.add_argument("--no-progress", action="store_true")
    watchdog_option(p)
    _add_distributed_args(p)
    p.set_defaults(func=run_resume)

    p = subparsers.add_parser("sample", help="draw samples from a trained run")
    p.add_argument("--checkpoint", required=True, metavar="RUN_DIR", help="run directory")
    p.add_argument("-n", type=bounded_int(1, MAX_SAMPLES), default=64,
                   help=f"number of samples, 1..{MAX_SAMPLES:,} (a .png grid: at most {MAX_GRID_SAMPLES:,}; "
                        "default %(default)s)")
    p.add_argument("--out", required=True, help="output .png (grid) or .npz (key 'samples', plus 'labels')")
    seed_option(p, what="the latent draw")
    p.add_argument("--labels", help="conditional runs: comma-separated classes (default: all classes evenly)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--best", action="store_true", help="the best checkpoint kept by evaluation during training")
    generator_option(p)
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run_sample)


def _add_distributed_args(p) -> None:
    g = p.add_argument_group("multi-host training (run the same command on every host)")
    g.add_argument("--distributed", action="store_true",
                   help="join a multi-host run (jax.distributed.initialize; Cloud TPU, SLURM and "
                        "Open MPI are detected, elsewhere give the three options below)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address, the same on every host")
    g.add_argument("--num-processes", type=int, metavar="N", help="number of processes in the run")
    g.add_argument("--process-id", type=int, metavar="I", help="this process's id, 0..N-1")


def _join_hosts(args) -> None:
    """``jax.distributed.initialize`` when any multi-host option is given."""
    from gan_jax.train.parallel import initialize_distributed
    explicit = (args.coordinator, args.num_processes, args.process_id)
    if args.distributed or any(v is not None for v in explicit):
        initialize_distributed(*explicit)


def _unique_run_dir(runs_dir: str, name: str) -> str:
    from gan_jax.io import paths
    path, i = os.path.join(runs_dir, name), 2
    while paths.exists(path):
        path, i = os.path.join(runs_dir, f"{name}-{i}"), i + 1
    return path


def _check_resumable_changes(config, changed) -> None:
    """UserError (naming each key, both values and the fix) if ``changed`` differs from ``config``
    in a key a resumed run cannot change."""
    fixed = [k for k in dataclasses.asdict(config)
             if k not in RESUMABLE_KEYS and getattr(config, k) != getattr(changed, k)]
    if fixed:
        shown = ", ".join(f"{k} ({getattr(config, k)} -> {getattr(changed, k)})" for k in fixed[:4])
        raise UserError(f"a resumed run cannot change {shown}{' and more' if len(fixed) > 4 else ''}; only "
                        f"{', '.join(RESUMABLE_KEYS)} may change: drop the other overrides, or train a new run "
                        "under another --name")


def run_train(args) -> None:
    """Train the named config (one run, or one run per seed of ``--seeds``) into a new run directory,
    or continue (``--resume``) or replace (``--overwrite``) a named one."""
    import jax

    from gan_jax.config.build import check_config
    from gan_jax.config.schema import check_run_name, get_config, parse_seeds
    from gan_jax.io import paths
    from gan_jax.runs.checkpoint import read_run_config
    from gan_jax.runs.layout import is_run_dir, is_sweep_dir, read_sweep
    from gan_jax.train.loop import train
    from gan_jax.train.parallel import is_lead_process
    config = get_config(args.config, args.overrides)
    if args.resume and args.overwrite:
        raise UserError("--resume and --overwrite contradict each other; pick one")
    seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    if args.name is not None:
        check_run_name(args.name, "--name")
    paths.check_location(args.runs_dir, "--runs-dir")
    if not paths.is_url(args.runs_dir) and os.path.exists(args.runs_dir) and not os.path.isdir(args.runs_dir):
        raise UserError(f"--runs-dir {args.runs_dir} is a file, not a directory; pass a directory")
    _join_hosts(args)
    check_config(config)  # validates the config (without initialising it) before anything touches the disk
    if args.name:
        run_dir = os.path.join(args.runs_dir, args.name)
        if paths.exists(run_dir) and not (args.resume or args.overwrite):
            raise UserError(f"run directory {run_dir} exists; pass --resume to continue it, "
                            "--overwrite to replace it, or another --name")
        if args.overwrite and paths.exists(run_dir) and not is_run_dir(run_dir):
            raise UserError(f"{run_dir} exists but is not a gan-jax run (no config.json); --overwrite "
                            "deletes only runs: move it away or choose another --name")
        if args.resume and is_sweep_dir(run_dir):
            saved, saved_seeds, _ = read_sweep(run_dir)
            if seeds is not None and seeds != saved_seeds:
                raise UserError(f"{run_dir} is a sweep of seeds {','.join(map(str, saved_seeds))}; a sweep "
                                f"resumes as a whole: drop --seeds (or `gan-jax resume {run_dir}`)")
            _check_resumable_changes(saved, config)
            seeds = saved_seeds
        elif args.resume and is_run_dir(run_dir):
            if seeds is not None:
                raise UserError(f"{run_dir} is a single run, not a sweep; drop --seeds to resume it")
            _check_resumable_changes(read_run_config(run_dir), config)
    elif args.resume:
        raise UserError("--resume needs --name (or use: gan-jax resume RUN_DIR)")
    elif jax.process_count() > 1:
        raise UserError("a multi-host run needs --name, so that every host writes the same run directory")
    else:
        run_dir = _unique_run_dir(args.runs_dir, config.name)
    if is_lead_process():
        hosts = f", {jax.process_count()} processes" if jax.process_count() > 1 else ""
        what = f"{len(seeds)} seeds of {config.name}" if seeds else config.name
        print(f"training {what} on {config.data} for {config.steps} steps on "
              f"{jax.default_backend()} ({jax.device_count()} device(s){hosts}); writing {run_dir}")
    train(config, run_dir, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite,
          seeds=seeds, watchdog=args.watchdog)


def run_resume(args) -> None:
    """Continue a run or a sweep from its newest intact checkpoint (``steps=N`` may extend it)."""
    from gan_jax.config.schema import apply_overrides, validate_config
    from gan_jax.io import paths
    from gan_jax.runs.checkpoint import read_run_config
    from gan_jax.runs.layout import is_sweep_dir, read_sweep
    from gan_jax.train.loop import train
    paths.check_location(args.run_dir, "RUN_DIR")
    if args.seeds is not None:
        raise UserError(f"resume takes no --seeds: a sweep resumes as a whole, with the seeds it was "
                        f"started with; run `gan-jax resume {args.run_dir}`")
    seeds = None
    if is_sweep_dir(args.run_dir):
        config, seeds, _ = read_sweep(args.run_dir)
    else:
        config = read_run_config(args.run_dir, echo=print)
    changed = validate_config(apply_overrides(config, args.overrides), "overrides")
    _check_resumable_changes(config, changed)
    _join_hosts(args)
    train(changed, args.run_dir, resume=True, progress=not args.no_progress, seeds=seeds, watchdog=args.watchdog)


MAX_GRID_SAMPLES = 4096
MAX_SAMPLES = 100_000_000   # 25.6 GB of 8x8 digits; more is a mistake, or a job for several calls


def _sample_bytes(out: str, n: int, shape: tuple, labelled: bool) -> int:
    """About the size of the file ``sample`` writes: float32 rows (and int32 labels) of an
    ``.npz``, the uncompressed grid of a ``.png``; 0 for a scatter plot of points."""
    from gan_jax.io.figures import image_grid_bytes
    from gan_jax.io.npz_stream import npz_bytes
    if out.endswith(".npz"):
        return npz_bytes(n, shape, 4, extra_bytes=4 * n if labelled else 0, entries=2 if labelled else 1)
    return image_grid_bytes(n, shape) if len(shape) == 3 else 0


def run_sample(args) -> None:
    """Draw ``-n`` samples (at most ``MAX_SAMPLES``) in chunks of 1,000: an ``.npz`` is written
    chunk by chunk (memory stays bounded) with a progress bar; a ``.png`` grid holds at most
    4,096. The free space is checked against the output's size before anything is drawn, and
    the output is written atomically (a temporary file renamed over ``--out``)."""
    import jax
    import numpy as np
    from tqdm.auto import tqdm

    from gan_jax.config.build import data_shape
    from gan_jax.io import figures as viz
    from gan_jax.io import paths
    from gan_jax.io.npz_stream import save_npz_chunks
    from gan_jax.io.paths import check_output_path
    from gan_jax.runs.checkpoint import read_run_config
    from gan_jax.runs.sampling import generate_batches, restore_for_sampling
    out = args.out
    if not out.endswith((".png", ".npz")):
        raise UserError(f"--out must end in .png or .npz, got {out}")
    if out.endswith(".png") and args.n > MAX_GRID_SAMPLES:
        raise UserError(f"a .png grid holds at most {MAX_GRID_SAMPLES} samples, got -n {args.n}; "
                        "write an .npz for more")
    paths.check_location(args.checkpoint, "--checkpoint")
    check_output_path(out, args.overwrite)
    config = read_run_config(args.checkpoint)
    paths.check_free_space(out, _sample_bytes(out, args.n, tuple(data_shape(config)), config.conditional != "none"))
    state, labels = restore_for_sampling(args.checkpoint, args.n, args.labels, best=args.best,
                                         generator=args.generator)
    chunks = generate_batches(state, jax.random.PRNGKey(args.seed), args.n, labels)
    with tqdm(total=args.n, unit="sample", disable=args.no_progress or args.n <= 1000, dynamic_ncols=True) as bar:
        if out.endswith(".npz"):
            save_npz_chunks(out, "samples", chunks, args.n, None if labels is None else {"labels": labels},
                            on_chunk=bar.update)
        else:
            samples = np.concatenate(list(chunks))
            bar.update(len(samples))
            if samples.ndim == 4:
                viz.save_image_grid(samples, out)
            else:
                viz.save_points(samples, out, f"{args.n} samples from {args.checkpoint}")
    print(f"wrote {args.n} samples to {out}")
