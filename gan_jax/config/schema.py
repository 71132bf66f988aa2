"""Run configurations as data: one frozen dataclass, named presets, overrides.

``get_config("digits_dcgan", ["steps=100", "lr_d=1e-4"])`` returns a preset
with overrides applied; a path to a ``.json`` file of field values works in
place of a name.

The schema: every key is declared once, in :class:`Config`, with its type, its
default and (in the field's metadata) its allowed range or choices.
:func:`validate_config` checks a whole config against it, and every way in
goes through it: ``key=value`` overrides (parsed by the field's type), JSON
files (strict JSON types: no ``true`` where an int is wanted, no string for a
float) and a run's saved config at resume. Every mistake raises
:class:`gan_jax.errors.UserError` naming the key, the value and what is
allowed. Checks that relate several keys (a packing that must divide the
batch, a loss that needs another) live where the run is assembled
(:mod:`gan_jax.config.build`).
"""

import collections
import dataclasses
import importlib
import json
import math
import os
import re
import reprlib
import stat
from typing import Optional, Sequence, Tuple

from gan_jax.errors import UserError
from gan_jax.io import paths

__all__ = ["Config", "PRESETS", "get_config", "apply_overrides", "config_to_dict", "config_from_dict",
           "validate_config", "check_run_name", "label_classes", "key_rules", "key_ranges_text", "parse_seeds", "MAX_MEMBERS",
           "MAX_STEPS", "MAX_CONFIG_BYTES", "MAX_TEXT_LENGTH"]

#: A JSON file (a config, a run's record) is read whole: larger files are refused unread.
MAX_CONFIG_BYTES = 1 << 20
#: A string value (a path, a data set name) longer than this is refused.
MAX_TEXT_LENGTH = 4096
_SHOW = reprlib.Repr()
_SHOW.maxstring = _SHOW.maxother = _SHOW.maxlong = 80


def _show(value) -> str:
    """``repr(value)`` cut to about 80 characters and a few levels of nesting, for error messages."""
    return _SHOW.repr(value)


_RUN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_BUILTIN_DATA = ("digits", "mnist5k", "stacked_digits", "gaussian1d", "ring8", "grid25")
# Built-in image data sets of one fixed shape (image_size, channels), which are never resized.
_FIXED_SHAPES = {"stacked_digits": (8, 3), "mnist5k": (28, 1)}
_DATA_PREFIXES = ("npz:", "folder:", "tfds:")


def check_run_name(name: str, what: str = "run name") -> str:
    """``name`` if it is one plain path component (letters, digits, ``._-``, not starting
    with a dot, so never ``.`` or ``..``), else a UserError."""
    if not isinstance(name, str) or not _RUN_NAME.fullmatch(name):
        raise UserError(f"{what} {name!r} must be one plain folder name (letters, digits, '.', '_', '-', "
                        "not starting with '.', at most 128 characters); choose another")
    return name


def _data_problem(value: str):
    if value in _BUILTIN_DATA:
        return None
    prefix = next((p for p in _DATA_PREFIXES if value.startswith(p)), None)
    if prefix is None or not value[len(prefix):].strip():
        return (f"expected one of {', '.join(_BUILTIN_DATA)}, or npz:PATH, folder:PATH or tfds:NAME")
    return None


def _name_problem(value: str):
    try:
        check_run_name(value)
    except UserError as e:
        return str(e).replace("run name " + repr(value) + " ", "", 1)
    return None


def key(default, *, ge=None, gt=None, le=None, lt=None, choices=None, check=None):
    """A Config field with its rule: bounds (``ge``/``gt``/``le``/``lt``), ``choices``,
    or ``check(value) -> problem text or None``."""
    rule = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt, choices=choices, check=check).items()
            if v is not None}
    return dataclasses.field(default=default, metadata={"rule": rule})


class _Registry:
    """The names a registry of the core or the models defines (losses, norms, conditionings),
    read when a config is checked rather than when this module is imported: the registries
    import JAX, and the command line's ``--help`` must answer without it."""

    def __init__(self, module: str, attrs, first: Tuple[str, ...] = ()):
        """``attrs``: the registry's name in ``module``, or a tuple of names whose keys are joined."""
        self.module, self.first = module, first
        self.attrs = (attrs,) if isinstance(attrs, str) else tuple(attrs)

    def names(self) -> tuple:
        module = importlib.import_module(self.module)
        return self.first + tuple(name for attr in self.attrs for name in getattr(module, attr))


def _choices(rule: dict) -> dict:
    """``rule`` with a registry's names read."""
    if isinstance(rule.get("choices"), _Registry):
        return dict(rule, choices=rule["choices"].names())
    return dict(rule)


_LOSS_D = _Registry("gan_jax.core.losses", "D_LOSSES")
# The generator losses of the fake logits alone, then those that pair each fake with a real sample.
_LOSS_G = _Registry("gan_jax.core.losses", ("G_LOSSES", "PAIRED_G_LOSSES"))


# Every count has an upper bound (its ``le``): generous for real runs (the presets use far
# less) and low enough that no single value can exhaust memory or time before the training's
# memory estimate (gan_jax.train.memory) sees it. steps, the intervals and steps * d_steps
# then also fit the int32 step and data-position counters.
#: The upper bound of ``steps`` and of the logging, sampling, evaluation and checkpoint intervals.
MAX_STEPS = 10_000_000


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything a training run needs, as plain values (rules in each field's metadata).

    Upper bounds of the counts (``gan-jax train --help`` lists them): latent_dim, mlp_hidden,
    mlp_d_hidden, batch_size <= 1,000,000; g_width, d_width <= 65,536; mlp_depth, mlp_d_depth,
    d_steps <= 100; unroll_steps, keep_checkpoints <= 1,000; pack <= 1,024; num_classes,
    eval_samples, naive_max_d_steps <= 100,000; steps and every ``*_every`` <= 10,000,000;
    steps_per_call <= 100,000; image_size, grid_samples <= 4,096; max_image_pixels <= 10**9.
    Within them, a training that cannot fit in memory is refused by its estimate.
    """
    name: str = key("digits_dcgan", check=_name_problem)
    # Data: digits | mnist5k | stacked_digits | gaussian1d | ring8 | grid25 | npz:PATH | folder:PATH | tfds:NAME
    data: str = key("digits", check=_data_problem)
    tfds_data_dir: str = ""       # tensorflow-datasets data_dir ("" = $TFDS_DATA_DIR or ~/tensorflow_datasets)
    image_size: int = key(8, ge=1, le=4096)     # side of square images (folder/tfds sources resize to it)
    channels: int = key(1, choices=(1, 3))
    # Model family: dcgan | mlp
    model: str = key("dcgan", choices=("dcgan", "mlp"))
    latent_dim: int = key(32, ge=1, le=1_000_000)
    latent_dist: str = key("normal", choices=("normal", "uniform"))
    g_width: int = key(64, ge=1, le=65_536)             # DCGAN ngf
    d_width: int = key(64, ge=1, le=65_536)             # DCGAN ndf
    mlp_hidden: int = key(128, ge=1, le=1_000_000)
    mlp_depth: int = key(2, ge=1, le=100)    # at most 100 layers: tracing and compiling grow with it
    output_activation: str = key("tanh", choices=("tanh", "linear"))   # MLP generator output
    mlp_d_hidden: int = key(0, ge=0, le=1_000_000)         # MLP discriminator width (0 = mlp_hidden)
    mlp_d_depth: int = key(0, ge=0, le=100)          # MLP discriminator depth (0 = mlp_depth)
    mlp_activation: str = key("relu", choices=("relu", "tanh"))   # relu: ReLU in G, LeakyReLU(0.2) in D
    mlp_init: str = key("lecun", choices=("lecun", "orthogonal"))  # MLP kernels: LeCun normal, or orthogonal
    mlp_init_gain: float = key(1.0, gt=0.0)  # scale of the orthogonal init
    norm: str = key("batch", choices=_Registry("gan_jax.models.layers", "NORMS"))
    compute_dtype: str = key("float32", choices=("float32", "bfloat16"))   # DCGAN activations (params stay float32)
    # Objective (see gan_jax.core.losses). d_loss=rpgan goes with g_loss=rpgan (the relativistic
    # pairing GAN; with r1_weight = r2_weight = gamma it is R3GAN's loss, Huang et al. 2024).
    d_loss: str = key("bce", choices=_LOSS_D)
    g_loss: str = key("nonsaturating", choices=_LOSS_G)
    gp_weight: float = key(0.0, ge=0.0)      # WGAN-GP penalty lambda (0 = off)
    r1_weight: float = key(0.0, ge=0.0)      # R1 penalty gamma on real data, Mescheder et al. 2018 (0 = off)
    label_smoothing: float = key(0.0, ge=0.0, lt=1.0)
    feature_matching: bool = False
    unroll_steps: int = key(0, ge=0, le=1000)         # unrolled GAN: G trains against D after k steps (0 = off)
    unroll_stop_gradient: bool = False   # cheap variant: no gradient through the unroll
    # What G minimises against the unrolled D: generator = its g_loss on G(z); minimax = Metz et
    # al.'s f_K, minus D's loss on real and fake, whose real term depends on G through the unroll.
    unroll_objective: str = key("generator", choices=("generator", "minimax"))
    unroll_shared_latent: bool = False   # the unrolled D updates reuse G's fakes (no fresh z per update)
    pack: int = key(1, ge=1, le=1024)                 # PacGAN: D judges packs of this many samples (1 = off)
    # Issue 15 (the Dirac-GAN lab): training methods usable on any model.
    r2_weight: float = key(0.0, ge=0.0)      # R2 penalty gamma on generated data, Mescheder et al. 2018 (0 = off)
    instance_noise: float = key(0.0, ge=0.0)   # std of Gaussian noise added to every input of D (0 = off)
    weight_clip: float = key(0.0, ge=0.0)    # WGAN: clip D's parameters to [-c, c] after each D update (0 = off)
    consensus_weight: float = key(0.0, ge=0.0)   # consensus optimisation gamma, Mescheder et al. 2017 (0 = off)
    simultaneous: bool = False    # G steps from the state before the D steps (default: after them)
    # Class conditioning.
    conditional: str = key("none", choices=_Registry("gan_jax.models.conditional", "D_CONDITIONINGS", ("none",)))
    num_classes: int = key(10, ge=2, le=100_000)
    # how G sees the label
    label_embedding: str = key("onehot", choices=_Registry("gan_jax.models.conditional", "LABEL_EMBEDDINGS"))
    aux_class_weight: float = key(1.0, ge=0.0)     # AC-GAN: weight of the class cross-entropy
    # Schedule: k D steps per G step, or the naive algorithm.
    d_steps: int = key(1, ge=1, le=100)       # traced once per D step: compiling grows with it
    naive: bool = False
    naive_tol: float = key(1e-3, gt=0.0)
    naive_max_d_steps: int = key(100, ge=1, le=100_000)
    # Optimisation.
    batch_size: int = key(64, ge=1, le=1_000_000)
    steps: int = key(2000, ge=1, le=MAX_STEPS)     # generator steps
    lr_g: float = key(2e-4, gt=0.0)
    lr_d: float = key(2e-4, gt=0.0)
    beta1: float = key(0.5, ge=0.0, lt=1.0)
    beta2: float = key(0.999, ge=0.0, lt=1.0)
    lr_schedule: str = key("constant", choices=("constant", "cosine"))   # cosine decays both rates to 0
    # Generator averaging: an exponential moving average of G's parameters and batch statistics,
    # a <- decay a + (1 - decay) G after every G step, which sampling and evaluation use
    # (0 = off; 0.999 is usual). Yazici et al. 2019; ProGAN and StyleGAN sample from one.
    g_average_decay: float = key(0.0, ge=0.0, lt=1.0)
    seed: int = key(0, ge=0, le=2**31 - 1)
    # Steps per compiled call: T > 1 scans T steps in one dispatch (fast for small models;
    # XLA:CPU runs convolutions slower in a scan, so image presets keep 1). Logging,
    # samples, evaluation and checkpoints happen between calls: a call also ends at each
    # of their steps, so intervals that are multiples of T keep every call T steps long.
    steps_per_call: int = key(1, ge=1, le=100_000)
    # Logging and checkpoints (in generator steps).
    log_every: int = key(50, ge=1, le=MAX_STEPS)
    sample_every: int = key(500, ge=1, le=MAX_STEPS)
    checkpoint_every: int = key(500, ge=1, le=MAX_STEPS)
    keep_checkpoints: int = key(3, ge=1, le=1000)
    # Quality during training: score G every eval_every steps (0 = off) on
    # eval_samples samples; the best checkpoint is kept in checkpoints/best.
    eval_every: int = key(1000, ge=0, le=MAX_STEPS)
    eval_samples: int = key(1000, ge=2, le=100_000)
    # Issue 17: image files whose header claims more pixels than this are
    # refused before decoding (a decompression bomb); raise it for genuine large images.
    max_image_pixels: int = key(50_000_000, ge=1, le=1_000_000_000)
    grid_samples: int = key(64, ge=1, le=4096)


def _fields():
    return {f.name: f for f in dataclasses.fields(Config)}


def key_rules() -> dict:
    """``{key: (type, rule dict)}`` for every config key (for tests and docs)."""
    return {name: (f.type, _choices(f.metadata.get("rule", {}))) for name, f in _fields().items()}


def key_ranges_text() -> str:
    """``"latent_dim 1..1000000, ..."``: the range of every integer key (every count has an upper
    bound), for ``--help``; it reads no registry, so it needs no JAX."""
    items = []
    for name, f in _fields().items():
        rule = f.metadata.get("rule", {})
        if f.type is int and "le" in rule:
            items.append(f"{name} {rule.get('ge', '')}..{rule['le']}")
    return ", ".join(items)


def _text_problem(value: str):
    """Why string ``value`` cannot be a config value (a NUL, a lone surrogate, too long), or None."""
    if len(value) > MAX_TEXT_LENGTH:
        return f"is {len(value)} characters long; at most {MAX_TEXT_LENGTH}"
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def _type_name(typ) -> str:
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}[typ]


def _check_value(name: str, typ, value, where: str):
    """``value`` checked against the type and rule of key ``name`` (UserError naming both)."""
    rule = _choices(_fields()[name].metadata.get("rule", {}))
    ok_type = (isinstance(value, bool) if typ is bool else
               isinstance(value, int) and not isinstance(value, bool) if typ is int else
               isinstance(value, (int, float)) and not isinstance(value, bool) if typ is float else
               isinstance(value, str))
    if not ok_type:
        raise UserError(f"config key {name!r} in {where} wants {_type_name(typ)}, got {_show(value)}")
    if typ is float:
        try:
            value = float(value)
        except OverflowError:   # a JSON integer too large for a float
            value = math.inf
        if not math.isfinite(value):
            raise UserError(f"config key {name!r} in {where} must be a finite number, got {_show(value)}")
    problem = _text_problem(value) if typ is str else None
    if "choices" in rule and value not in rule["choices"]:
        problem = f"expected one of {', '.join(map(str, rule['choices']))}"
    for op, test, word in (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
                           ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<")):
        if problem is None and op in rule and not test(value, rule[op]):
            problem = f"must be {word} {rule[op]}"
    if problem is None and "check" in rule:
        problem = rule["check"](value)
    if problem:
        raise UserError(f"config key {name!r} in {where} got {_show(value)}: {problem}")
    return value


def validate_config(config: "Config", where: str = "config") -> "Config":
    """``config`` if every key has its declared type and lies in its range; else a UserError."""
    for name, f in _fields().items():
        _check_value(name, f.type, getattr(config, name), where)
    fixed = _FIXED_SHAPES.get(config.data)
    if fixed is not None and (config.image_size, config.channels) != fixed:
        size, channels = fixed
        raise UserError(f"data {config.data!r} in {where} is {size}x{size} images with {channels} "
                        f"channel{'s' * (channels > 1)}, got image_size={config.image_size} and "
                        f"channels={config.channels}; set image_size={size} channels={channels}")
    return config


def _parse_value(key_name: str, text: str, typ, where: str):
    """A ``key=value`` string parsed by the key's type (and then checked by its rule)."""
    if typ is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise UserError(f"config key {key_name!r} in {where} wants true or false, got {_show(text)}")
    try:
        if typ is int:
            return int(text)
        if typ is float:
            return float(text)
    except ValueError:
        raise UserError(f"config key {key_name!r} in {where} wants {_type_name(typ)}, got {_show(text)}") from None
    return text


def _check_keys(keys, where: str):
    valid = _fields()
    unknown = [k for k in keys if k not in valid]
    if unknown:
        raise UserError(f"unknown config key {_show(unknown[0])} in {where}; valid keys: {', '.join(valid)}")


def config_from_dict(values: dict, where: str = "config") -> Config:
    """Config from a dict of JSON values: keys known, types strict, values in range."""
    _check_keys(values, where)
    fields = _fields()
    checked = {k: _check_value(k, fields[k].type, v, where) for k, v in values.items()}
    return validate_config(Config(**checked), where)


# Keys a resumed run may change: how long it runs and how it logs, not what it trains. The
# generator average reads the training without changing it: switched on at a resume it starts
# from the checkpoint's generator, switched off it is dropped.
RESUMABLE_KEYS = ("steps", "log_every", "sample_every", "checkpoint_every", "keep_checkpoints", "eval_every",
                  "steps_per_call", "g_average_decay")


def label_classes(config: Config) -> Optional[int]:
    """The number of classes the models take labels of: ``config.num_classes`` for a
    conditional model (``conditional`` other than ``"none"``), None for an unconditional one."""
    return config.num_classes if config.conditional != "none" else None


def config_to_dict(config: Config) -> dict:
    """The config as a plain dict of its fields (what ``config.json`` holds)."""
    return dataclasses.asdict(config)


def apply_overrides(config: Config, overrides: Sequence[str]) -> Config:
    """Apply ``key=value`` strings; values are parsed by the field's type and checked."""
    fields = _fields()
    changes = {}
    for item in overrides:
        if "=" not in item:
            raise UserError(f"override {_show(item)} is not key=value (e.g. steps=100)")
        key_name, text = item.split("=", 1)
        _check_keys([key_name], "overrides")
        value = _parse_value(key_name, text, fields[key_name].type, "overrides")
        changes[key_name] = _check_value(key_name, fields[key_name].type, value, "overrides")
    return dataclasses.replace(config, **changes)


def read_json_object(path: str, what: str) -> dict:
    """The JSON object in file ``path``, local or ``gs://`` (UserError naming ``what`` if missing,
    unreadable, not a regular file, over :data:`MAX_CONFIG_BYTES`, not UTF-8 JSON, nested too
    deeply or not an object). At most ``MAX_CONFIG_BYTES + 1`` bytes are read."""
    try:
        values = json.loads(_read_limited(path, what).decode("utf-8"))
    except UserError:
        raise
    except FileNotFoundError:
        raise UserError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"{what} {path} is a directory, not a JSON file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{what} {path} is not valid JSON ({str(e).splitlines()[0]}); "
                        "fix or replace the file") from None
    except ValueError as e:   # e.g. an integer of more digits than Python converts
        raise UserError(f"{what} {path} is not valid JSON ({_show(str(e))}); fix or replace the file") from None
    except RecursionError:
        raise UserError(f"{what} {path} is nested too deeply to be a config; fix or replace the file") from None
    except OSError as e:
        raise UserError(f"{what} {path} cannot be read ({e.strerror or e}); check the path "
                        "and its permissions") from None
    if not isinstance(values, dict):
        raise UserError(f"{what} {path} must hold a JSON object of config keys")
    return values


def _read_limited(path: str, what: str) -> bytes:
    """The bytes of file ``path``; UserError if it is not a regular file (a FIFO would block,
    a device never end) or holds more than :data:`MAX_CONFIG_BYTES`."""
    if not paths.is_url(path):
        mode = os.stat(path).st_mode   # FileNotFoundError for the caller
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise UserError(f"{what} {path} is not a regular file; pass a .json file")
    with paths.open_for_reading(path) as f:
        data = f.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise UserError(f"{what} {path} is larger than {MAX_CONFIG_BYTES // 2**20} MiB, too large "
                        "for a JSON config; pass the right file")
    return data


def get_config(name_or_file: str, overrides: Sequence[str] = ()) -> Config:
    """A named preset or a ``.json`` file of field values, then overrides; validated."""
    if name_or_file in PRESETS:
        config = Config(name=name_or_file, **PRESETS[name_or_file])
        where = f"preset {name_or_file}"
    elif name_or_file.endswith(".json"):
        values = read_json_object(name_or_file, "config file")
        values.setdefault("name", os.path.splitext(os.path.basename(name_or_file))[0])
        config = config_from_dict(values, name_or_file)
        where = name_or_file
    else:
        raise UserError(f"unknown config {name_or_file!r}; named configs: {', '.join(sorted(PRESETS))} "
                        "(or pass a path to a .json file)")
    return validate_config(apply_overrides(config, overrides), where)


_IMAGE_TFDS = dict(model="dcgan", d_loss="bce", g_loss="nonsaturating", latent_dim=100,
                   batch_size=128, lr_g=2e-4, lr_d=2e-4, beta1=0.5, log_every=100,
                   sample_every=1000, checkpoint_every=1000, eval_every=5000, eval_samples=5000)
_TOY = dict(model="mlp", norm="none", output_activation="linear", mlp_hidden=128,
            mlp_depth=2, latent_dim=16, batch_size=256, lr_g=1e-3, lr_d=1e-3, beta1=0.5,
            log_every=100, sample_every=1000, checkpoint_every=1000, eval_every=1000, eval_samples=2500,
            steps_per_call=100)

#: The named configurations: preset name -> the fields it sets over the defaults of :class:`Config`.
PRESETS = {
    # The main job samples from the generator's average: at the final step of seeds 0-4, FID 5.98-8.81
    # (gan-jax eval, 1,000 samples) against 7.70-13.50 for G as trained; decay 0.999 lags this
    # 2,000-step run (FID 45-67): experiments/README.md, "Generator averaging".
    "digits_dcgan": dict(g_average_decay=0.99),
    "gaussian1d": dict(_TOY, data="gaussian1d", latent_dim=4, mlp_hidden=64, steps=2000,
                       batch_size=128, eval_every=0),
    "ring8": dict(_TOY, data="ring8", latent_dim=256, steps=5000, batch_size=128),
    "grid25": dict(_TOY, data="grid25", latent_dim=256, steps=5000, batch_size=128),
    # The best methods of experiments/mode_collapse_2d.py, chosen on
    # seeds 100-101 (scored with their own latent key), never on the reported
    # seeds 0-4: PacGAN (Lin et al. 2018) with a deep (6 x 128) batch-normalised
    # generator, a shallow discriminator and a cosine-decayed learning rate.
    # grid25_best: 12,000 steps at batch 128 gave 44-48 % high-quality samples
    # on seeds 100-101; 24,000 steps at batch 256 gave 91 % on the same seeds,
    # and with the R1 penalty gamma = 0.1 / 1 / 10: 92.8 / 94.6 / 89.2 %.
    # ring8_best's length, seeds 100 / 101, 2,500 samples, % high quality, measured with
    # experiments/mode_collapse_2d.py --data ring8 --methods best --seeds 100 101 --set steps=N ...:
    # 16,000 steps 94.2 / 95.5; 48,000 97.9 / 97.7; 64,000 98.6 / 97.2; 128,000 99.2 / 97.4 (chosen:
    # a scratch script without the project's PRNG choice gave 99.1 / 99.2 there, and one CLI run at
    # 64,000 steps 97.9 %); at 16,000 steps, batch 512 98.4 / 97.8, width 256 95.4 / 95.6, R1 gamma 1
    # 87.1 / 92.5. Samples come from the generator's moving average (decay 0.999) with batch
    # statistics measured on it: on seeds 0-4 the generator as trained ends at 5 to 8 modes
    # (seed 1: 5 modes, 62.4 %), the average at 8 modes and 97.1-99.3 % (experiments/README.md,
    # "Generator averaging").
    "ring8_best": dict(_TOY, data="ring8", latent_dim=256, steps=128000, batch_size=128,
                       mlp_hidden=128, mlp_depth=6, mlp_d_depth=2, norm="batch", pack=4,
                       g_average_decay=0.999,
                       lr_g=3e-3, lr_d=3e-3, lr_schedule="cosine", log_every=500,
                       sample_every=4000, checkpoint_every=4000, steps_per_call=500),
    # grid25_best samples from the generator average too: over the last 10 evaluations of seeds 0-4
    # the average stayed at 25 modes and 89.7-95.6 %, the generator as trained fell to 24 modes and
    # 69.1 % (experiments/README.md, "Generator averaging").
    "grid25_best": dict(_TOY, data="grid25", latent_dim=256, steps=24000, batch_size=256,
                        mlp_hidden=128, mlp_depth=6, mlp_d_hidden=256, mlp_d_depth=2, norm="batch",
                        pack=2, r1_weight=1.0, g_average_decay=0.999, lr_g=3e-3, lr_d=3e-3, lr_schedule="cosine", log_every=500,
                        sample_every=4000, checkpoint_every=4000, steps_per_call=500),
    # Stacked digits: three 8x8 digits in the channels of one image, 1,000 modes, scored
    # by modes captured and KL to uniform (gan_jax.metrics.stacked_modes). The DCGAN of the VEEGAN
    # Stacked MNIST experiment as PacGAN's code runs it (latent 100, batch 64, Adam 2e-4, beta1 0.5);
    # eval_samples=5000 during training (exact samples reach about 993 modes, KL about 0.1; gan-jax
    # eval uses the published 26,000). The published small discriminator (Metz et al. 2017; PacGAN
    # Table 3, "D is 1/4 size of G"): override d_width=16 (every D layer 1/4 the channels of the G
    # layer at its resolution; d_width=32 for 1/2), with their optimiser: lr_g=1e-4 beta2=0.99
    # batch_size=128 latent_dim=256.
    "stacked_digits_dcgan": dict(data="stacked_digits", image_size=8, channels=3, latent_dim=100,
                                 eval_samples=5000),
    # Chosen on seeds 100-101 (experiments/stacked_digits.py --methods best --seeds 100 101 --set ...,
    # 26,000 samples each): PacGAN2 on the full-width DCGAN, batch 128, 10,000 steps gave 1,000 modes
    # and KL 0.079 +- 0.003; batch 64 gave 0.095 (10,000 steps) and 0.286 (2,000 steps); a cosine
    # rate at batch 64, 0.097; batch 128 at 20,000 steps 0.0505 / 0.0510, and with the cosine rate
    # 0.0415 / 0.0477 (chosen: KL <= 0.05 in <= 15 minutes of CPU). It samples from the generator's
    # average: on seeds 0-4 the same at the final step (1,000 modes, KL 0.041-0.048 against
    # 0.042-0.047 as trained, 26,000 samples), steadier over the run (KL at most 0.26 against 0.48 at
    # its evaluations of 5,000 samples): experiments/README.md, "Generator averaging".
    "stacked_digits_best": dict(data="stacked_digits", image_size=8, channels=3, latent_dim=100,
                                eval_samples=5000, pack=2, batch_size=128, steps=20000,
                                lr_schedule="cosine", checkpoint_every=1000, eval_every=2000,
                                g_average_decay=0.999),
    # The seeds' image comparison: the same DCGAN with a 20-step unrolled D.
    "digits_unrolled": dict(unroll_steps=20),
    "mnist_unrolled": dict(_IMAGE_TFDS, data="tfds:mnist", image_size=28, channels=1,
                           g_width=64, d_width=64, steps=10000, unroll_steps=20),
    # The lectures' DCGAN at 28x28 on mnist5k's 4,000 real training digits (offline), evaluated
    # during training like digits_dcgan: FID and KID in the MNIST classifier's features against 500
    # held-out digits, beside the other 500 (the real-vs-real floor). Widths 32 at batch 64. Length:
    # 6,000 steps trained in 10 min 24 s (`time gan-jax train --config mnist5k_dcgan steps=6000`, MNIST
    # classifier cached, on the project's 2-core CPU while another training shared it); 1,600 steps
    # gave FID 51.9, 6,000 steps 36.9 (floor 6.1): experiments/README.md, "mnist5k_dcgan".
    "mnist5k_dcgan": dict(data="mnist5k", image_size=28, channels=1, latent_dim=100, g_width=32, d_width=32,
                          batch_size=64, steps=6000, log_every=100, sample_every=400, checkpoint_every=400,
                          eval_every=400, eval_samples=500),
    "mnist_dcgan": dict(_IMAGE_TFDS, data="tfds:mnist", image_size=28, channels=1,
                        g_width=64, d_width=64, steps=10000),
    "cifar10_dcgan": dict(_IMAGE_TFDS, data="tfds:cifar10", image_size=32, channels=3,
                          g_width=64, d_width=64, steps=50000),
    # Conditional GANs (Mirza & Osindero 2014; AC-GAN, Odena et al. 2017).
    "digits_cgan": dict(conditional="concat"),
    "digits_acgan": dict(conditional="acgan"),
    "mnist_cgan": dict(_IMAGE_TFDS, data="tfds:mnist", image_size=28, channels=1,
                       g_width=64, d_width=64, steps=10000, conditional="concat"),
    "cifar10_cgan": dict(_IMAGE_TFDS, data="tfds:cifar10", image_size=32, channels=3,
                         g_width=64, d_width=64, steps=50000, conditional="projection"),
    "celeba64_dcgan": dict(_IMAGE_TFDS, data="tfds:celeb_a", image_size=64, channels=3,
                           g_width=64, d_width=64, steps=50000),
    "lsun_bedroom64_dcgan": dict(_IMAGE_TFDS, data="tfds:lsun/bedroom", image_size=64,
                                 channels=3, g_width=64, d_width=64, steps=100000),
}


#: The most seeds one sweep may train together (``--seeds``), counted before any list is built.
MAX_MEMBERS = 4096


def parse_seeds(text: str) -> Tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; ``"0-4"`` -> ``(0, 1, 2, 3, 4)``. UserError for an empty
    list, a repeated seed, anything that is not a non-negative integer below 2**31, or more
    than :data:`MAX_MEMBERS` seeds (counted from the ranges' ends, before any list is built)."""
    parts = [p.strip() for p in str(text).split(",")]
    if not text or not str(text).strip() or any(not p for p in parts):
        raise UserError(f"--seeds {_show(text)} is empty or has an empty item; give integers such as "
                        "0,1,2,3,4 or 0-4")
    ranges = [_seed_range(part) for part in parts]
    count = sum(hi - lo + 1 for lo, hi in ranges)
    if count > MAX_MEMBERS:
        raise UserError(f"--seeds lists {count} seeds; at most {MAX_MEMBERS} in one sweep")
    seeds = [s for lo, hi in ranges for s in range(lo, hi + 1)]
    repeated = sorted(s for s, n in collections.Counter(seeds).items() if n > 1)
    if repeated:
        more = f" and {len(repeated) - 10} more" if len(repeated) > 10 else ""
        raise UserError(f"--seeds repeats {', '.join(map(str, repeated[:10]))}{more}; each seed once")
    return tuple(seeds)


def _seed_range(part: str) -> Tuple[int, int]:
    """``(lo, hi)`` of one ``--seeds`` item, ``"S"`` or ``"LO-HI"`` (UserError if malformed or
    outside 0..2**31-1)."""
    bounds = part.split("-")
    try:
        if len(bounds) not in (1, 2):
            raise ValueError
        lo, hi = int(bounds[0]), int(bounds[-1])
        if hi < lo:
            raise ValueError
    except ValueError:
        raise UserError(f"--seeds: {_show(part)} is not a non-negative integer or a range LO-HI; "
                        "give integers such as 0,1,2,3,4 or 0-4") from None
    if lo < 0 or hi > 2**31 - 1:
        raise UserError(f"--seeds: seed {lo if lo < 0 else hi} is outside 0..2147483647")
    return lo, hi
