"""Images per second of one full GAN training step (one D step and one G step,
non-saturating loss, Adam), JAX against the same model in PyTorch, side by side.

    python benchmarks/step_time.py --model dcgan28 --batch 64 --steps 20 --framework both --json

Models: ``dcgan28`` (28x28x1, nz=100, ngf=ndf=128, the layout of issue 7),
``dcgan64`` (the reference DCGAN: 64x64x3, nz=100, ngf=ndf=64) and ``digits``
(the ``digits_dcgan`` preset, 8x8x1). ``--upconv reference`` runs the JAX
models with every up-convolution through ``lax.conv_transpose`` (the layer
flax's ``nn.ConvTranspose`` computes), to show what the sub-pixel
decomposition gains. Compile time is reported apart; peak RSS is the process's
maximum resident set (``resource.getrusage``), so run one framework per process
for clean memory numbers. With ``--json`` the last line is one JSON object.
"""

import argparse
import json
import resource
import sys
import time

import jax
import jax.numpy as jnp

from gan_jax.build import init_state
from gan_jax.config import get_config
from gan_jax.models import layers
from gan_jax.state import train_step

MODELS = {
    "dcgan28": ["image_size=28", "channels=1", "latent_dim=100",
                "g_width=128", "d_width=128"],
    "dcgan64": ["image_size=64", "channels=3", "latent_dim=100",
                "g_width=64", "d_width=64"],
    "digits": [],
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_jax(model: str, batch: int, steps: int) -> dict:
    config = get_config("digits_dcgan", MODELS[model] + [f"batch_size={batch}"])
    state = init_state(config)
    shape = (1, batch, config.image_size, config.image_size, config.channels)
    real = jax.random.uniform(jax.random.PRNGKey(1), shape, minval=-1.0, maxval=1.0)
    start = time.perf_counter()
    state, _ = train_step(state, real, jax.random.PRNGKey(0))
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        state, metrics = train_step(state, real, jax.random.PRNGKey(i))
    jax.block_until_ready((state, metrics))
    step_s = (time.perf_counter() - start) / steps
    return dict(framework="jax", model=model, batch=batch, steps=steps, step_s=step_s,
                images_per_sec=batch / step_s, compile_s=compile_s, peak_rss_mb=_peak_rss_mb(),
                device=str(jax.devices()[0]))


def bench_torch(model: str, batch: int, steps: int) -> dict:
    from torch_dcgan import torch_step_time  # beside this script; needs the bench extra
    result = torch_step_time(model, batch, steps)
    result.update(framework="torch", model=model, batch=batch, steps=steps,
                  images_per_sec=batch / result["step_s"], peak_rss_mb=_peak_rss_mb())
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="dcgan28")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--framework", choices=("jax", "torch", "both"), default="jax")
    parser.add_argument("--upconv", choices=("subpixel", "reference"), default="subpixel")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.upconv == "reference":
        layers._SUBPIXEL_MIN_FEATURES = sys.maxsize
    results = []
    if args.framework in ("jax", "both"):
        results.append(dict(bench_jax(args.model, args.batch, args.steps), upconv=args.upconv))
    if args.framework in ("torch", "both"):
        results.append(bench_torch(args.model, args.batch, args.steps))
    for r in results:
        print(f"{r['framework']:5s} {r['model']}: {r['step_s']:.4f} s/step, "
              f"{r['images_per_sec']:.1f} images/s, compile {r.get('compile_s', 0.0):.2f} s, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")
    summary = dict(results[0])
    if len(results) == 2:
        summary["jax_over_torch"] = results[0]["images_per_sec"] / results[1]["images_per_sec"]
        summary["torch"] = results[1]
        print(f"jax / torch images per second: {summary['jax_over_torch']:.2f}")
    if args.json:
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
