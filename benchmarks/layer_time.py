"""Per-layer time of the DCGAN's strided convolutions, JAX against PyTorch, in one process.

    python benchmarks/layer_time.py --model dcgan64 --batch 64

For every 4x4, stride-2 layer of the model (the generator's up-convolutions as
``gan_jax.models.layers`` computes them, the discriminator's down-convolutions
as ``lax.conv_general_dilated``, i.e. flax's ``nn.Conv``) it times, in
milliseconds, best of 3 rounds of ``--repeats`` calls: the forward pass, the
forward pass with the input gradient, and the forward pass with the kernel
gradient, of ``sum(y**2)``; then the same in PyTorch (``conv_transpose2d`` /
``conv2d``, NCHW, 2 threads). It shows where a step's time goes per framework.
Needs the ``bench`` extra.
"""

import argparse
import time

import jax
import jax.numpy as jnp
from jax import lax

from gan_jax.models import layers
from gan_jax.runs.provenance import entry_point_setup

# (name, input shape without batch (H, W, C), output features, "up" or "down")
LAYERS = {
    "dcgan28": [("G up 256->128, 7->14", (7, 7, 256), 128, "up"),
                ("G out 128->1, 14->28", (14, 14, 128), 1, "up"),
                ("D in 1->128, 28->14", (28, 28, 1), 128, "down"),
                ("D 128->256, 14->7", (14, 14, 128), 256, "down")],
    "dcgan64": [("G up 512->256, 4->8", (4, 4, 512), 256, "up"),
                ("G up 256->128, 8->16", (8, 8, 256), 128, "up"),
                ("G up 128->64, 16->32", (16, 16, 128), 64, "up"),
                ("G out 64->3, 32->64", (32, 32, 64), 3, "up"),
                ("D in 3->64, 64->32", (64, 64, 3), 64, "down"),
                ("D 64->128, 32->16", (32, 32, 64), 128, "down"),
                ("D 128->256, 16->8", (16, 16, 128), 256, "down"),
                ("D 256->512, 8->4", (8, 8, 256), 512, "down")],
}


def _down(x, kernel):
    return lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)),
                                    dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _up(x, kernel):
    """The up-convolution as ``layers.UpConv`` computes it (sub-pixel from 16 features)."""
    if kernel.shape[-1] >= layers._SUBPIXEL_MIN_FEATURES:
        return layers.subpixel_conv_transpose(x, kernel)
    return layers.conv_transpose_4x4_s2(x, kernel)


def _best_ms(fn, repeats: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - start) / repeats)
    return 1e3 * best


def jax_times(shape, features, kind, repeats):
    """(forward, forward + input gradient, forward + kernel gradient) in ms."""
    op = _up if kind == "up" else _down
    x = jax.random.normal(jax.random.PRNGKey(0), shape)
    k = 0.05 * jax.random.normal(jax.random.PRNGKey(1), (4, 4, shape[-1], features))
    loss = lambda x, k: jnp.sum(op(x, k) ** 2)
    fns = [jax.jit(op), jax.jit(jax.grad(loss, 0)), jax.jit(jax.grad(loss, 1))]
    return [_best_ms(lambda f=f: jax.block_until_ready(f(x, k)), repeats) for f in fns]


def torch_times(shape, features, kind, repeats):
    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    b, h, w, c = shape
    x = torch.randn(b, c, h, w)
    if kind == "up":
        k = 0.05 * torch.randn(c, features, 4, 4)
        op = lambda x, k: F.conv_transpose2d(x, k, stride=2, padding=1)
    else:
        k = 0.05 * torch.randn(features, c, 4, 4)
        op = lambda x, k: F.conv2d(x, k, stride=2, padding=1)

    def forward():
        with torch.no_grad():
            op(x, k)

    def with_grad(wrt):
        xi = x.clone().requires_grad_(wrt == 0)
        ki = k.clone().requires_grad_(wrt == 1)
        return lambda: (op(xi, ki) ** 2).sum().backward()

    return [_best_ms(f, repeats) for f in (forward, with_grad(0), with_grad(1))]


def main(argv=None):
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(LAYERS), default="dcgan64")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{'layer':24s} {'JAX fwd':>8s} {'+dx':>8s} {'+dK':>8s} | {'torch fwd':>9s} {'+dx':>8s} {'+dK':>8s}  (ms)")
    for name, hwc, features, kind in LAYERS[args.model]:
        shape = (args.batch,) + hwc
        j = jax_times(shape, features, kind, args.repeats)
        t = torch_times(shape, features, kind, args.repeats)
        print(f"{name:24s} {j[0]:8.1f} {j[1]:8.1f} {j[2]:8.1f} | {t[0]:9.1f} {t[1]:8.1f} {t[2]:8.1f}", flush=True)


if __name__ == "__main__":
    main()
