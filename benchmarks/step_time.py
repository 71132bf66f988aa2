"""Images per second of one full GAN training step (one D step and one G step,
non-saturating loss, Adam), JAX against the same model in PyTorch, side by side.

    python benchmarks/step_time.py --model dcgan28 --batch 64 --steps 20 --framework both --json

Models: ``dcgan28`` (28x28x1, nz=100, ngf=ndf=128),
``dcgan64`` (the reference DCGAN: 64x64x3, nz=100, ngf=ndf=64) and ``digits``
(the ``digits_dcgan`` preset, 8x8x1). ``--upconv reference`` runs the JAX
models with every up-convolution through ``lax.conv_transpose`` (the layer
flax's ``nn.ConvTranspose`` computes), to show what the sub-pixel
decomposition gains. Compile time is reported apart; peak RSS is the process's
maximum resident set (``resource.getrusage``) after the warm-up step, so the
second framework's includes the first's: run one framework per process for
clean memory numbers of the second. ``--rounds R`` times ``--steps`` steps R
times per framework, the frameworks taking turns, and keeps each one's best
round, so that a ratio on a shared, noisy machine compares like with like. With ``--json`` the last line is one JSON object.

The JAX result carries the step's floating-point operations from XLA's cost
analysis (``flops_per_step``) and their rate (``gflops_per_sec``);
``--roofline`` adds each framework's rate on a plain 2048^3 float32 matrix
product, the ceiling that both steps, made of convolutions, approach.

``--e2e`` adds the end-to-end images per second of the training loop
(``gan_jax.train.loop.train``, what ``gan-jax train`` runs) on the digits data set
with the ``digits_dcgan`` preset (logging at its cadence), next to the bare
``train_step`` of the same config: a ratio well below 1 means data input or
logging is a bottleneck. ``--fid`` adds the time of the Fréchet distance at
dimension 2048, gan_jax against ``scipy.linalg.sqrtm`` (``fid_sqrtm.py``).
"""

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import jax
import jax.numpy as jnp

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.core.state import Batch
from gan_jax.core.steps import jit_train_step
from gan_jax.models import layers
from gan_jax.runs.provenance import entry_point_setup

MODELS = {
    "dcgan28": ["image_size=28", "channels=1", "latent_dim=100",
                "g_width=128", "d_width=128"],
    "dcgan64": ["image_size=64", "channels=3", "latent_dim=100",
                "g_width=64", "d_width=64"],
    "digits": [],
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def jax_stepper(model: str, batch: int):
    """Compile and run one training step, then a timer: ``(compile_s, run, info)``
    where ``run(steps)`` returns the seconds per step of ``steps`` more steps."""
    config = get_config("digits_dcgan", MODELS[model] + [f"batch_size={batch}"])
    state = init_state(config)
    shape = (1, batch, config.image_size, config.image_size, config.channels)
    real = jax.random.uniform(jax.random.PRNGKey(1), shape, minval=-1.0, maxval=1.0)
    # Compiled once, ahead of time: the same executable gives the cost analysis and runs the steps.
    start = time.perf_counter()
    step = jit_train_step.lower(state, Batch(real), jax.random.PRNGKey(0)).compile()
    state, _ = step(state, Batch(real), jax.random.PRNGKey(0))
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    cost = step.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost   # older jax: one dict per device
    flops = float(cost.get("flops", 0.0)) if cost else 0.0

    def run(steps: int) -> float:
        nonlocal state
        start = time.perf_counter()
        for i in range(steps):
            state, metrics = step(state, Batch(real), jax.random.PRNGKey(i))
        jax.block_until_ready((state, metrics))
        return (time.perf_counter() - start) / steps

    return compile_s, run, {"device": str(jax.devices()[0]), "flops_per_step": flops}


def matmul_gflops(framework: str, n: int = 2048, repeats: int = 5) -> float:
    """The machine's matrix-product rate in ``framework``: GFLOP/s of the best of
    ``repeats`` float32 ``(n, n) @ (n, n)`` products (2 n^3 flops each), the
    ceiling of a convolution network's training step."""
    if framework == "jax":
        a = jax.random.normal(jax.random.PRNGKey(0), (n, n))
        matmul = jax.jit(jnp.matmul)
        run = lambda: jax.block_until_ready(matmul(a, a))
    else:
        import torch
        a = torch.randn(n, n)
        run = lambda: torch.matmul(a, a)
    run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def torch_stepper(model: str, batch: int):
    from torch_dcgan import (
        torch_stepper as stepper,  # beside this script; needs the bench extra
    )
    return stepper(model, batch)


def bench(frameworks, model: str, batch: int, steps: int, rounds: int = 1) -> list:
    """Per framework, the best of ``rounds`` timings of ``steps`` steps, the
    frameworks taking turns round by round so that both see the same machine load."""
    steppers, rss = {}, {}
    for name in frameworks:  # peak RSS after each warm-up step: the first framework's excludes the second's
        steppers[name] = (jax_stepper if name == "jax" else torch_stepper)(model, batch)
        rss[name] = _peak_rss_mb()
    best = {name: float("inf") for name in frameworks}
    for _ in range(rounds):
        for name, (_, run, _) in steppers.items():
            best[name] = min(best[name], run(steps))
    return [dict(framework=name, model=model, batch=batch, steps=steps, rounds=rounds,
                 step_s=best[name], images_per_sec=batch / best[name], compile_s=steppers[name][0],
                 peak_rss_mb=rss[name], **steppers[name][2]) for name in frameworks]


def bench_jax(model: str, batch: int, steps: int) -> dict:
    """The JAX step alone: ``bench(["jax"], ...)``'s one result."""
    return bench(["jax"], model, batch, steps)[0]


def loop_images_per_sec(metrics_path: str, batch_images: int) -> tuple:
    """Steady images/s of a run from its ``metrics.jsonl``, excluding the first step's compile.

    Each row's ``images_per_sec`` is ``step * batch_images / t`` with t the seconds
    since the loop started, so ``t_i = step_i * batch_images / images_per_sec_i``;
    the rate from the first logged row to the last is
    ``(step_last - step_first) * batch_images / (t_last - t_first)``.
    Returns ``(images_per_sec, step_first, step_last)``.
    """
    with open(metrics_path) as f:
        rows = [json.loads(line) for line in f]
    first, last = rows[0], rows[-1]
    seconds = [r["step"] * batch_images / r["images_per_sec"] for r in (first, last)]
    return (last["step"] - first["step"]) * batch_images / (seconds[1] - seconds[0]), first["step"], last["step"]


def bench_e2e(steps: int) -> dict:
    """``gan_jax.train.loop.train`` on digits (``digits_dcgan`` preset) against its bare ``train_step``.

    The bare step runs as many steps as the timed stretch of the loop, once
    before and once after it, and the two rates are averaged, so that a change
    of load on a shared machine touches both figures alike.
    """
    from gan_jax.train.loop import train
    config = get_config("digits_dcgan", [f"steps={steps}"])
    if steps < 2 * config.log_every:
        raise SystemExit(f"--e2e-steps must be at least {2 * config.log_every} (two log rows)")
    _, run_bare, _ = jax_stepper("digits", config.batch_size)
    timed = steps - config.log_every
    before = run_bare(timed)
    with tempfile.TemporaryDirectory() as run_dir:
        train(config, run_dir, progress=False, echo=lambda *a: None)
        e2e, first, last = loop_images_per_sec(os.path.join(run_dir, "metrics.jsonl"),
                                               config.batch_size * config.d_steps)
    bare = config.batch_size * config.d_steps * (1 / before + 1 / run_bare(timed)) / 2
    return dict(config="digits_dcgan", batch=config.batch_size, steps=steps, from_step=first, to_step=last,
                e2e_images_per_sec=e2e, bare_images_per_sec=bare, e2e_over_bare=e2e / bare)


def main(argv=None):
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="dcgan28")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--framework", choices=("jax", "torch", "both"), default="jax")
    parser.add_argument("--rounds", type=int, default=1,
                        help="time --steps steps this many times per framework, taking turns; keep the best")
    parser.add_argument("--upconv", choices=("subpixel", "reference"), default="subpixel")
    parser.add_argument("--roofline", action="store_true",
                        help="also time a 2048^3 float32 matmul in each framework (GFLOP/s)")
    parser.add_argument("--e2e", action="store_true",
                        help="also time gan_jax.train.loop.train on digits against the bare step")
    parser.add_argument("--e2e-steps", type=int, default=300)
    parser.add_argument("--fid", action="store_true",
                        help="also time the Fréchet distance at --fid-dim against scipy.linalg.sqrtm")
    parser.add_argument("--fid-dim", type=int, default=2048)
    parser.add_argument("--fid-repeats", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.upconv == "reference":
        layers._SUBPIXEL_MIN_FEATURES = sys.maxsize
    frameworks = ["jax", "torch"] if args.framework == "both" else [args.framework]
    results = bench(frameworks, args.model, args.batch, args.steps, args.rounds)
    if "jax" in frameworks:
        results[0]["upconv"] = args.upconv
        results[0]["gflops_per_sec"] = results[0]["flops_per_step"] / results[0]["step_s"] / 1e9
    if args.roofline:
        for r in results:
            r["matmul_gflops_per_sec"] = matmul_gflops(r["framework"])
    for r in results:
        print(f"{r['framework']:5s} {r['model']}: {r['step_s']:.4f} s/step, "
              f"{r['images_per_sec']:.1f} images/s, compile {r.get('compile_s', 0.0):.2f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
    if "jax" in frameworks:
        jax_result = results[0]
        line = (f"jax step: {jax_result['flops_per_step'] / 1e9:.1f} GFLOP (XLA cost analysis), "
                f"{jax_result['gflops_per_sec']:.1f} GFLOP/s")
        if len(results) == 2:
            line += (f"; the same flops in torch's step time: "
                     f"{jax_result['flops_per_step'] / results[1]['step_s'] / 1e9:.1f} GFLOP/s")
        print(line)
    for r in results:
        if "matmul_gflops_per_sec" in r:
            print(f"{r['framework']:5s} 2048^3 matmul: {r['matmul_gflops_per_sec']:.1f} GFLOP/s")
    summary = dict(results[0])
    if len(results) == 2:
        summary["jax_over_torch"] = results[0]["images_per_sec"] / results[1]["images_per_sec"]
        summary["torch"] = results[1]
        print(f"jax / torch images per second: {summary['jax_over_torch']:.2f}")
    if args.e2e:
        e2e = bench_e2e(args.e2e_steps)
        print(f"end to end (gan_jax.train.loop.train, digits_dcgan, batch {e2e['batch']}, steps "
              f"{e2e['from_step']}-{e2e['to_step']}): {e2e['e2e_images_per_sec']:.1f} images/s; bare "
              f"train_step {e2e['bare_images_per_sec']:.1f} images/s; e2e / bare {e2e['e2e_over_bare']:.2f}")
        summary["e2e"] = e2e
    if args.fid:
        from fid_sqrtm import describe, time_frechet  # beside this script; needs scipy
        fid = time_frechet(args.fid_dim, args.fid_repeats)
        print("Fréchet distance, " + describe(fid))
        summary["fid"] = fid
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
