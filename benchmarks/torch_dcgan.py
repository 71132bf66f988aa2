"""The benchmark's DCGANs in PyTorch (CPU or CUDA), layer for layer the
models of :mod:`gan_jax.models.dcgan`, and the same training step: one D
step on a real and a detached fake batch, then one G step, non-saturating
BCE loss, Adam(2e-4, betas (0.5, 0.999)). Needs the optional ``bench`` extra."""

import time

import torch
from torch import nn

__all__ = ["torch_models", "torch_stepper", "torch_step_time"]

# model -> (image_size, channels, nz, ngf = ndf, base size s0, number of doublings)
SPECS = {"dcgan28": (28, 1, 100, 128, 7, 2), "dcgan64": (64, 3, 100, 64, 4, 4),
         "digits": (8, 1, 32, 64, 2, 2)}


def torch_models(model: str):
    """(generator, discriminator, nz, image shape (C, H, W)) for a benchmark model name."""
    size, channels, nz, width, s0, n = SPECS[model]
    g = [nn.ConvTranspose2d(nz, width * 2 ** (n - 1), s0, 1, 0, bias=False),
         nn.BatchNorm2d(width * 2 ** (n - 1), momentum=0.1, eps=1e-5), nn.ReLU()]
    for i in range(n - 1):
        out = width * 2 ** (n - 2 - i)
        g += [nn.ConvTranspose2d(out * 2, out, 4, 2, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU()]
    g += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=True), nn.Tanh()]
    d = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    for i in range(1, n):
        d += [nn.Conv2d(width * 2 ** (i - 1), width * 2 ** i, 4, 2, 1, bias=False),
              nn.BatchNorm2d(width * 2 ** i), nn.LeakyReLU(0.2)]
    d += [nn.Conv2d(width * 2 ** (n - 1), 1, s0, 1, 0, bias=True), nn.Flatten(0)]
    return nn.Sequential(*g), nn.Sequential(*d), nz, (channels, size, size)


def torch_stepper(model: str, batch: int):
    """One warm-up training step, then a timer: ``(warmup_s, run, info)`` where
    ``run(steps)`` returns the seconds per step of ``steps`` more steps."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    g, d, nz, shape = torch_models(model)
    g, d = g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    real = torch.rand((batch,) + shape, device=device) * 2 - 1
    ones, zeros = torch.ones(batch, device=device), torch.zeros(batch, device=device)

    def step():
        fake = g(torch.randn(batch, nz, 1, 1, device=device)).detach()
        loss_d = bce(d(real), ones) + bce(d(fake), zeros)
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = bce(d(g(torch.randn(batch, nz, 1, 1, device=device))), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()

    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def run(steps: int) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        return (time.perf_counter() - start) / steps

    start = time.perf_counter()
    step()
    sync()
    return time.perf_counter() - start, run, {"device": device, "threads": torch.get_num_threads()}


def torch_step_time(model: str, batch: int, steps: int) -> dict:
    """Seconds per training step after one warm-up step: ``{"step_s", "compile_s", "device", "threads"}``."""
    warmup, run, info = torch_stepper(model, batch)
    return {"step_s": run(steps), "compile_s": warmup, **info}
