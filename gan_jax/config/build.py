"""Where a run is assembled: models, optimisers and objective from a Config."""

import functools

import jax
import jax.numpy as jnp
import optax

from gan_jax import models
from gan_jax.config.schema import Config, validate_config
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import GANState, create_state
from gan_jax.errors import UserError
from gan_jax.models.conditional import (
    D_CONDITIONINGS,
    LABEL_EMBEDDINGS,
    ConditionalDiscriminator,
    ConditionalGenerator,
)
from gan_jax.models.dcgan import SUPPORTED_SIZES
from gan_jax.models.layers import NORMS

__all__ = ["batches_per_step", "data_shape", "build_models", "build_optimizers", "build_objective", "check_config", "init_state"]

_TOY_DIMS = {"gaussian1d": 1, "ring8": 2, "grid25": 2}


def batches_per_step(config: Config) -> int:
    """Real batches one training step uses: k = ``d_steps`` (the naive algorithm: 1, reused)."""
    return 1 if config.naive else config.d_steps


def data_shape(config: Config) -> tuple:
    """Shape of one real sample: ``(dim,)`` for the toys, else ``(H, W, C)``."""
    if config.data in _TOY_DIMS:
        return (_TOY_DIMS[config.data],)
    return (config.image_size, config.image_size, config.channels)


def _condition(config: Config, gen, disc):
    """Wrap (gen, disc) in the class-conditional modules that ``config.conditional`` names."""
    if config.conditional == "none":
        return gen, disc
    if config.conditional not in D_CONDITIONINGS:
        raise UserError(f"unknown conditional {config.conditional!r}; expected none or one of "
                        f"{', '.join(D_CONDITIONINGS)}")
    if config.label_embedding not in LABEL_EMBEDDINGS:
        raise UserError(f"unknown label_embedding {config.label_embedding!r}; expected one of "
                        f"{', '.join(LABEL_EMBEDDINGS)}")
    if config.num_classes < 2:
        raise UserError(f"a conditional model needs num_classes >= 2, got {config.num_classes}")
    return (ConditionalGenerator(gen, config.num_classes, config.label_embedding),
            ConditionalDiscriminator(disc, config.num_classes, config.conditional))


def _pack(config: Config, disc):
    """``disc`` as a PacGAN discriminator of ``config.pack`` samples (1: unchanged)."""
    if config.pack == 1:
        return disc
    if config.conditional != "none":
        raise UserError("pack > 1 works with unconditional models only; set conditional=none or pack=1")
    if config.batch_size % config.pack:
        raise UserError(f"batch_size={config.batch_size} does not split into packs of {config.pack}; "
                        f"use a batch size divisible by {config.pack}")
    return models.PackedDiscriminator(disc, config.pack)


def build_models(config: Config):
    """(generator, discriminator) Flax modules for ``config``."""
    if config.norm not in NORMS:
        raise UserError(f"unknown norm {config.norm!r}; expected one of {', '.join(NORMS)}")
    if config.model == "dcgan":
        if config.data in _TOY_DIMS:
            raise UserError(f"data {config.data!r} is not images: use model=mlp")
        if config.image_size not in SUPPORTED_SIZES:
            raise UserError(f"DCGAN supports image_size {SUPPORTED_SIZES}, got {config.image_size}")
        if config.compute_dtype not in ("float32", "bfloat16"):
            raise UserError(f"unknown compute_dtype {config.compute_dtype!r}; expected float32 or bfloat16")
        dtype = jnp.dtype(config.compute_dtype)
        gen = models.DCGANGenerator(config.image_size, config.channels, config.g_width, config.norm,
                                    dtype=dtype)
        disc = models.DCGANDiscriminator(config.image_size, config.d_width, config.norm, dtype=dtype)
        return _condition(config, gen, _pack(config, disc))
    if config.model == "mlp":
        init = (config.mlp_init, config.mlp_init_gain)
        gen = models.MLPGenerator(data_shape(config), config.mlp_hidden, config.mlp_depth,
                                  config.output_activation, config.norm, config.mlp_activation, init)
        disc = models.MLPDiscriminator(config.mlp_d_hidden or config.mlp_hidden,
                                       config.mlp_d_depth or config.mlp_depth, config.mlp_activation, init)
        return _condition(config, gen, _pack(config, disc))
    raise UserError(f"unknown model {config.model!r}; expected dcgan or mlp")


LR_SCHEDULES = ("constant", "cosine")


def learning_rate(config: Config, peak: float, updates: int):
    """``peak`` (constant) or eta_t = peak * (1 + cos(pi t / T)) / 2 over T = ``updates`` (cosine)."""
    return _rate(config.lr_schedule, peak, updates)


def _rate(schedule: str, peak: float, updates: int):
    if schedule == "constant":
        return peak
    if schedule == "cosine":
        return optax.cosine_decay_schedule(peak, max(updates, 1))
    raise UserError(f"unknown lr_schedule {schedule!r}; expected one of {', '.join(LR_SCHEDULES)}")


def build_optimizers(config: Config):
    """Adam for G and D with the config's learning rates, betas and schedule.

    A schedule runs over the run's updates: ``steps`` for G and
    ``steps * d_steps`` for D (D takes d_steps updates per G step).

    The same settings return the same transformation objects: they are static
    fields of the GANState, and JAX reuses a compiled program only for a state
    whose static fields are the same objects (a fresh ``optax.adam`` would make
    every new run, resume or benchmark repetition compile its step again).
    """
    d_updates = config.steps * (1 if config.naive else config.d_steps)
    g_updates = config.steps
    if config.lr_schedule == "constant":   # the run's length does not enter a constant rate
        g_updates = d_updates = 0
    return _adam_pair(config.lr_schedule, config.lr_g, g_updates, config.lr_d, d_updates,
                      config.beta1, config.beta2)


@functools.lru_cache(maxsize=256)
def _adam_pair(schedule: str, lr_g: float, g_updates: int, lr_d: float, d_updates: int, b1: float, b2: float):
    """(G's Adam, D's Adam), built once per distinct setting (see :func:`build_optimizers`)."""
    return (optax.adam(_rate(schedule, lr_g, g_updates), b1=b1, b2=b2),
            optax.adam(_rate(schedule, lr_d, d_updates), b1=b1, b2=b2))


def build_objective(config: Config) -> GANObjective:
    """The GANObjective of ``config``; the core validates it (ValueError), turned here into a UserError."""
    if config.naive and config.simultaneous:
        raise UserError("simultaneous=true applies to k-step training only; set naive=false or simultaneous=false")
    try:
        return GANObjective(config.d_loss, config.g_loss, config.gp_weight,
                            config.label_smoothing, config.feature_matching,
                            unroll_steps=config.unroll_steps,
                            unroll_stop_gradient=config.unroll_stop_gradient,
                            unroll_objective=config.unroll_objective,
                            unroll_shared_latent=config.unroll_shared_latent,
                            aux_class_weight=config.aux_class_weight, r1_weight=config.r1_weight,
                            r2_weight=config.r2_weight, instance_noise=config.instance_noise,
                            weight_clip=config.weight_clip, consensus_weight=config.consensus_weight,
                            simultaneous=config.simultaneous)
    except ValueError as e:
        raise UserError(str(e)) from None


def check_config(config: Config) -> Config:
    """``config`` if a run can be assembled from it (models, optimisers, objective), without
    initialising anything; else a UserError. The cheap validate-only entry point."""
    validate_config(config)
    build_models(config)
    build_optimizers(config)
    build_objective(config)
    return config


def init_state(config: Config, key: jax.Array = None) -> GANState:
    """The initial GANState of a run (key defaults to PRNGKey(config.seed))."""
    check_config(config)
    key = jax.random.PRNGKey(config.seed) if key is None else key
    gen, disc = build_models(config)
    g_tx, d_tx = build_optimizers(config)
    return create_state(key, gen, disc, g_tx, d_tx, latent_dim=config.latent_dim,
                        data_shape=data_shape(config), objective=build_objective(config),
                        latent_dist=config.latent_dist, g_average_decay=config.g_average_decay,
                        labels=None if config.conditional == "none" else jnp.zeros((2,), jnp.int32))
