"""The training loop: the one place that prints, logs and writes.

``train(config, run_dir)`` assembles a run (``gan_jax.build.init_state``),
feeds host batches to the jit-compiled ``train_step`` (or
``naive_train_step``), and every few steps logs scalars (``metrics.jsonl``
and TensorBoard), draws a sample grid from a fixed latent batch, and saves an
orbax checkpoint. Step ``t`` uses the key ``fold_in(PRNGKey(seed), t)`` and
the data position is saved with the state, so a resumed run repeats exactly
what an uninterrupted run would have done.

Data parallel: the state is replicated over a mesh of every device of every
host and each batch ``(k, B, ...)`` is split along B (``gan_jax.parallel``);
on one device this is the same code with a one-device mesh. In a multi-host
run (``jax.distributed`` initialised first) every process runs this loop,
reads its own rows of each global batch, and takes part in the checkpoints;
process 0 alone writes the config, logs, figures and messages.
"""

import math
import os
import threading
import time
from typing import Optional

import jax
import numpy as np

from gan_jax import data as data_lib
from gan_jax import paths, viz
from gan_jax.build import init_state
from gan_jax.checkpoint import BEST_DIR, Checkpointer, NonFiniteState, write_run_config
from gan_jax.config import Config, read_json_object
from gan_jax.errors import UserError
from gan_jax.parallel import barrier, is_lead_process, make_mesh, replicate, shard_batch
from gan_jax.provenance import collect_provenance, run_prng
from gan_jax.rundir import atomic_write_json, claim_run_dir, is_run_dir
from gan_jax.runlog import RunLogger as _Logger
from gan_jax.runlog import drop_rows_after as _drop_rows_after
from gan_jax.state import GANState, generate, naive_train_step, train_step

__all__ = ["train", "TrainingDiverged", "uses_labels", "PROVENANCE_FILE"]

PROVENANCE_FILE = "provenance.json"


class TrainingDiverged(UserError):
    """A loss became NaN or inf; the last good checkpoint is kept."""


def uses_labels(config: Config) -> bool:
    """Whether the models are conditional and the steps take labels."""
    return config.conditional != "none"


def _batches_per_step(config: Config) -> int:
    return 1 if config.naive else config.d_steps


def _make_step(config: Config):
    """The compiled step for this config: ``(state, batches, labels, key) -> (state, metrics)``."""
    if config.naive:
        def step(state, batches, labels, key):
            return naive_train_step(state, batches[0], key, None if labels is None else labels[0],
                                    tol=config.naive_tol, max_d_steps=config.naive_max_d_steps)
        return step
    return lambda state, batches, labels, key: train_step(state, batches, key, labels)


def _data_mesh(config: Config):
    """A data mesh over every device of every host; UserError if the batch does not split over them."""
    mesh = make_mesh(jax.devices())
    if config.batch_size % mesh.size:
        raise UserError(f"batch_size={config.batch_size} does not split over {mesh.size} devices; "
                        f"set batch_size to a multiple of {mesh.size}")
    return mesh


def _write_samples(state: GANState, config: Config, key, path: str, reference=None,
                   write: bool = True) -> str:
    """Draw the sample figure at ``path``; every process computes the samples
    (they come from the replicated state), only a ``write`` process saves them."""
    if config.data in data_lib.TOY_DATA:
        points = np.asarray(generate(state, key, 2000))
        title = f"{config.name}: step {int(state.step)}"
        return viz.save_points(points, path, title, reference) if write else path
    # Conditional runs cycle through the classes so that every class is shown.
    labels = np.arange(config.grid_samples) % config.num_classes if uses_labels(config) else None
    images = np.asarray(generate(state, key, config.grid_samples, labels))
    return viz.save_image_grid(images, path) if write else path


def _is_better(scores: dict, best: Optional[dict]) -> bool:
    """Lower FID wins; for the mixtures more modes, then more high-quality samples."""
    if best is None:
        return True
    if "fid" in scores:
        return scores["fid"] < best.get("fid", math.inf)
    return (scores.get("modes", 0), scores.get("high_quality", 0.0)) > (best.get("modes", 0),
                                                                         best.get("high_quality", 0.0))


class _Quality:
    """Quality during training: scores G every ``eval_every`` steps against a fixed real
    reference (:mod:`gan_jax.metrics.training_evaluator`) and keeps the best checkpoint
    in ``checkpoints/best`` (outside the rotation and the resume fallback)."""

    def __init__(self, config: Config, run_dir: str, echo):
        self.every, self.evaluator, self.best, self.best_step = config.eval_every, None, None, None
        self.checkpointer, self.echo, self._builder, self._failure, self.notice = None, echo, None, None, ""
        self.run_dir = run_dir
        if not self.every or config.steps < self.every:
            self.every = 0
            return
        if paths.isdir(os.path.join(run_dir, "checkpoints", BEST_DIR)):   # a resumed run's best so far
            self.checkpointer = Checkpointer(run_dir, best=True)
        step = self.checkpointer.latest_step() if self.checkpointer is not None else None
        if step is not None:
            meta = os.path.join(self.checkpointer.directory, str(step), "meta", "metadata")
            try:
                self.best, self.best_step = read_json_object(meta, "best checkpoint metadata")["scores"], step
            except (UserError, KeyError):
                pass  # an unreadable best is replaced by the next evaluation
        # The reference (real features, the digits classifier on first use, compiling the
        # metrics) is built in a thread while the first steps train: mostly single-threaded
        # compilation, it overlaps the training steps instead of delaying them.
        self._builder = threading.Thread(target=self._build, args=(config,), daemon=True)
        self._builder.start()

    def _build(self, config: Config) -> None:
        from gan_jax.metrics.training_evaluator import make_training_evaluator
        try:
            self.evaluator, self.notice = make_training_evaluator(config, config.eval_samples,
                                                                  jax.random.PRNGKey(config.seed + 3))
        except BaseException as e:  # re-raised in the training thread by _ready
            self._failure = e

    def _ready(self) -> bool:
        """Wait for the reference; False (with one notice) when no metric applies."""
        if self._builder is not None:
            self._builder.join()
            self._builder = None
            if self._failure is not None:
                raise self._failure
            if self.notice:
                self.echo(f"note: {self.notice}; training goes on")
        return self.evaluator is not None

    def due(self, done: int, steps: int) -> bool:
        """Every ``eval_every`` steps, and at the last step of a run at least that long."""
        return bool(self.every) and (done % self.every == 0 or done == steps) and self._ready()

    def evaluate(self, state: GANState, config: Config, position: int) -> dict:
        """Scores of ``state`` (with ``eval_seconds``); saves it as the best when it is."""
        start = time.time()
        scores = {k: float(v) for k, v in self.evaluator.evaluate(state).items()}
        if all(math.isfinite(v) for v in scores.values()) and _is_better(scores, self.best):
            if self.checkpointer is None:
                self.checkpointer = Checkpointer(self.run_dir, best=True)
            try:
                self.best_step = self.checkpointer.save(state, config, position, extra={"scores": scores})
                self.best = scores
            except NonFiniteState:
                pass  # a diverging state is reported by the checkpoint that follows
        return {**scores, "eval_seconds": time.time() - start}

    def summary(self) -> str:
        if self.best is None:
            return ""
        name = "fid" if "fid" in self.best else "modes"
        base = self.evaluator.baseline.get(name)
        base = f" (real-vs-real baseline {base:.4g})" if base is not None else ""
        return f"  best {name}: {self.best[name]:.4g} at step {self.best_step}{base}, kept in {self.checkpointer.directory}"

    def close(self):
        if self._builder is not None:
            self._builder.join()
        if self.checkpointer is not None:
            self.checkpointer.close()


def _record_provenance(run_dir: str, resumed: bool, write: bool) -> dict:
    """``RUN_DIR/provenance.json``: where the run was made (commit, versions, backend, PRNG,
    :func:`gan_jax.provenance.collect_provenance`), with one more record per resume. Returns
    the record the run was created with (a run older than the file: the current one)."""
    path = os.path.join(run_dir, PROVENANCE_FILE)
    now = collect_provenance()
    record = dict(now)
    if resumed and paths.isfile(path):
        try:
            record = read_json_object(path, "run provenance")
        except UserError:
            record = dict(now, note="provenance.json was unreadable; rewritten at this resume")
        record["resumes"] = record.get("resumes", []) + [now]
    if write:
        atomic_write_json(path, record)
    return record


def train(config: Config, run_dir: str, resume: bool = False, progress: bool = True,
          echo=print, overwrite: bool = False) -> GANState:
    """Train (or resume) a run in ``run_dir`` until ``config.steps`` generator steps.

    Everything that can be checked (config, data, devices) is checked before
    the run directory is touched. Then the directory is claimed
    (:func:`gan_jax.rundir.claim_run_dir`): a new run refuses an existing
    non-empty directory, ``overwrite`` replaces an existing run, ``resume``
    continues from the newest intact checkpoint (UserError if the run has
    none, or is already at ``config.steps``). Writes ``config.json``,
    ``metrics.jsonl``, ``tensorboard/``, ``samples/step_*.png``,
    ``samples/final.png``, ``curves.png`` and ``checkpoints/``, holding the
    run's lock throughout. Returns the final state. Raises
    :class:`TrainingDiverged` when a loss or the state is not finite (the last
    good checkpoint stays).
    """
    from tqdm.auto import tqdm
    paths.check_location(run_dir, "run directory")
    mesh = _data_mesh(config)
    source = data_lib.make_source(config, jax.process_index(), jax.process_count())
    # Replicated first, so that a checkpoint restores straight into the mesh's sharding.
    state = replicate(init_state(config), mesh)
    lead = is_lead_process()
    if not lead:
        echo = lambda *args, **kwargs: None  # noqa: E731
    barrier("gan_jax.train.before_claim")   # every host looks at the directory before anyone creates it
    existed = paths.isdir(run_dir)
    if resume and existed and not is_run_dir(run_dir):
        raise UserError(f"{run_dir} is not a gan-jax run (no config.json); nothing to resume")
    mode = "resume" if resume and existed else "overwrite" if overwrite else "new"
    if mode == "new" and existed and not paths.listdir(run_dir):
        mode = "resume"   # an empty directory (e.g. a fresh temporary one) holds nothing to lose
    lock = claim_run_dir(run_dir, mode) if lead else None
    barrier("gan_jax.train.claimed_run_dir")
    try:
        provenance = _record_provenance(run_dir, resume and existed, lead)
        with run_prng(provenance):   # a resumed run continues with the PRNG it was trained with
            return _train_claimed(config, run_dir, mesh, source, state, resume and existed, progress, echo, tqdm)
    finally:
        if lock is not None:
            lock.release()


def _train_claimed(config, run_dir, mesh, source, state, resume, progress, echo, tqdm) -> GANState:
    lead = is_lead_process()
    checkpointer = Checkpointer(run_dir, config.keep_checkpoints)
    position = 0
    metrics_path = os.path.join(run_dir, "metrics.jsonl")
    if resume:
        if checkpointer.latest_step() is None:
            checkpointer.close()
            raise UserError(f"{run_dir} has no checkpoint left, so it cannot continue; train it again "
                            "with --overwrite, or restore its checkpoints/ folder")
        try:
            state, meta = checkpointer.restore(state, echo=echo)
        except UserError:
            checkpointer.close()
            raise
        position = meta["data_position"]
        if lead:
            for path in checkpointer.set_aside_damaged():
                echo(f"moved the damaged checkpoint to {path}")
        if int(state.step) >= config.steps:
            checkpointer.close()
            raise UserError(f"{run_dir} is already at step {int(state.step)}, not below steps={config.steps}; "
                            f"pass steps=N with N > {int(state.step)} to train further")
        echo(f"resumed {run_dir} at step {int(state.step)}")
        if lead:
            _drop_rows_after(metrics_path, int(state.step))
    if lead:
        paths.makedirs(os.path.join(run_dir, "samples"))
        write_run_config(run_dir, config)
    logger = _Logger(run_dir, append=resume, write=lead)
    quality = _Quality(config, run_dir, echo)
    final_scores = {}
    base_key = jax.random.PRNGKey(config.seed)
    sample_key = jax.random.PRNGKey(config.seed + 1)
    reference = (data_lib.sample_toy(config.data, np.random.default_rng(config.seed + 2), 2000)[0]
                 if config.data in data_lib.TOY_DATA else None)
    step_fn = _make_step(config)
    k = _batches_per_step(config)
    labelled = uses_labels(config)
    batches = source.iterate(position)
    start_step = int(state.step)
    last_good = checkpointer.latest_step()
    bar = tqdm(total=config.steps, initial=start_step, disable=not (progress and lead), unit="step",
               dynamic_ncols=True)
    start_time = time.time()

    def diverged(what: str, step: int) -> TrainingDiverged:
        kept = (f"the last good checkpoint (step {last_good}) is kept in {checkpointer.directory}; "
                f"`gan-jax resume {run_dir}` continues from it" if last_good is not None else "no checkpoint was saved")
        return TrainingDiverged(f"{what} at step {step}; stopped, {kept}; try a lower learning rate or another loss")

    try:
        for step in range(start_step, config.steps):
            drawn = [next(batches) for _ in range(k)]
            images = np.stack([b[0] for b in drawn])
            labels = np.stack([b[1] for b in drawn]) if labelled else None
            images, labels = shard_batch((images, labels), mesh, axis=1)
            position += k
            state, metrics = step_fn(state, images, labels, jax.random.fold_in(base_key, step))
            done = step + 1
            bar.update(1)
            if done % config.log_every == 0 or done == config.steps:
                scalars = {key: float(v) for key, v in jax.device_get(metrics).items()}
                bad = [key for key, v in scalars.items() if not math.isfinite(v)]
                if bad:
                    raise diverged(f"{', '.join(bad)} became non-finite", done)
                scalars["images_per_sec"] = (done - start_step) * config.batch_size * k / max(time.time() - start_time, 1e-9)
                logger.log(done, scalars)
                bar.set_postfix({"d_loss": f"{scalars['d_loss']:.3f}", "g_loss": f"{scalars['g_loss']:.3f}",
                                 "D(x)": f"{scalars['d_real']:.2f}", "D(G(z))": f"{scalars['d_fake']:.2f}"})
            if done % config.sample_every == 0:
                _write_samples(state, config, sample_key,
                               os.path.join(run_dir, "samples", f"step_{done:07d}.png"), reference, lead)
            if quality.due(done, config.steps):
                final_scores = quality.evaluate(state, config, position)
                logger.log(done, final_scores)
                bar.set_postfix({k: f"{v:.3g}" for k, v in final_scores.items() if k != "eval_seconds"})
            if done % config.checkpoint_every == 0 or done == config.steps:
                logger.flush()   # the rows up to a checkpoint are stored before it (a bucket uploads them)
                try:
                    last_good = checkpointer.save(state, config, position)
                except NonFiniteState as e:
                    raise diverged(str(e).split(";")[0], done) from None
    finally:
        bar.close()
        logger.close()
        checkpointer.close()
        quality.close()
    final = _write_samples(state, config, sample_key, os.path.join(run_dir, "samples", "final.png"),
                           reference, lead)
    curves = viz.plot_training_curves(logger.path, os.path.join(run_dir, "curves.png")) if lead else None
    echo(f"run directory: {run_dir}\n"
         f"  final samples: {final}\n"
         f"  samples over training: {os.path.join(run_dir, 'samples')}\n"
         f"  metrics: {logger.path} (curves: {curves})\n"
         f"  TensorBoard: tensorboard --logdir {os.path.join(run_dir, 'tensorboard')}\n"
         f"  checkpoints: {checkpointer.directory} (step {last_good})")
    if final_scores:
        scores = ", ".join(f"{k} {v:.4g}" for k, v in final_scores.items() if k != "eval_seconds")
        base = ", ".join(f"{k} {v:.4g}" for k, v in quality.evaluator.baseline.items() if k in final_scores)
        echo(f"final quality ({quality.evaluator.extractor}, {quality.evaluator.num_samples} samples): {scores}"
             f"{f'; real-vs-real baseline: {base}' if base else ''}\n{quality.summary()}")
    return state
