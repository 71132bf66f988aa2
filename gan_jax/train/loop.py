"""The command line's training: the one driver plus hooks that print, log and write.

``train(config, run_dir)`` assembles a run (``gan_jax.config.build.init_state``),
claims its directory, restores it when resuming, and runs
:func:`gan_jax.train.driver.train_members` with hooks that every few steps log
scalars (``metrics.jsonl`` and TensorBoard), draw a sample grid from a fixed
latent batch, evaluate, and save an orbax checkpoint. Step ``t`` uses the key ``fold_in(PRNGKey(seed), t)`` and
the data position is saved with the state, so a resumed run repeats exactly
what an uninterrupted run would have done.

Data parallel: the state is replicated over a mesh of every device of every
host and each batch ``(k, B, ...)`` is split along B (``gan_jax.train.parallel``);
on one device this is the same code with a one-device mesh. In a multi-host
run (``jax.distributed`` initialised first) every process runs this loop,
reads its own rows of each global batch, and takes part in the checkpoints;
process 0 alone writes the config, logs, figures and messages.
"""

import math
import os
import threading
import time
from typing import Optional, Sequence

import jax
import numpy as np
from tqdm.auto import tqdm

from gan_jax.config.build import batches_per_step, init_state
from gan_jax.config.schema import Config, label_classes, read_json_object
from gan_jax.core.state import GANState
from gan_jax.core.steps import generate
from gan_jax.data import sources as data_lib
from gan_jax.errors import UserError
from gan_jax.evaluation.training_evaluator import make_training_evaluator
from gan_jax.io import figures as viz
from gan_jax.io import paths
from gan_jax.io.paths import atomic_write_json
from gan_jax.runs.checkpoint import (
    BEST_DIR,
    CONFIG_FILE,
    Checkpointer,
    NonFiniteState,
    has_checkpoint,
    resume_changes,
    write_run_config,
)
from gan_jax.runs.layout import (
    DIVERGED_FILE,
    PROVENANCE_FILE,
    SWEEP_FILE,
    claim_run_dir,
    is_run_dir,
    is_sweep_dir,
    read_sweep,
    seed_dir,
    write_sweep,
)
from gan_jax.runs.provenance import collect_provenance, run_prng
from gan_jax.runs.runlog import LIBRARY_LOG_FILE, LibraryLog, library_logs
from gan_jax.runs.runlog import RunLogger as _Logger
from gan_jax.runs.runlog import drop_rows_after as _drop_rows_after
from gan_jax.train.driver import Boundary, train_members
from gan_jax.train.memory import check_training_memory, refuse_out_of_memory
from gan_jax.train.parallel import barrier, is_lead_process, make_mesh, replicate
from gan_jax.train.sweep import (
    chunk_stops,
    init_members,
    member,
    member_config,
    stack_members,
)
from gan_jax.train.watchdog import Watchdog

__all__ = ["train", "TrainingDiverged", "uses_labels"]



class TrainingDiverged(UserError):
    """A loss became NaN or inf; the last good checkpoint is kept."""


def uses_labels(config: Config) -> bool:
    """Whether the models are conditional and the steps take labels."""
    return label_classes(config) is not None


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
    """Lower FID wins; for the mixtures more modes, then more high-quality samples; for
    stacked digits more modes, then a lower KL to uniform."""
    if best is None:
        return True
    if "fid" in scores:
        return scores["fid"] < best.get("fid", math.inf)
    if "kl" in scores:
        return (scores.get("modes", 0), -scores["kl"]) > (best.get("modes", 0), -best.get("kl", math.inf))
    return (scores.get("modes", 0), scores.get("high_quality", 0.0)) > (best.get("modes", 0),
                                                                         best.get("high_quality", 0.0))


class _Evaluator:
    """The evaluator shared by every member of a run: a fixed real reference
    (:mod:`gan_jax.evaluation.training_evaluator`) built in a background thread while
    the first steps train (mostly single-threaded compilation, it overlaps the
    training steps instead of delaying them). Scores every ``eval_every`` steps."""

    def __init__(self, config: Config, echo):
        self.every, self.evaluator, self.echo = config.eval_every, None, echo
        self._builder, self._failure, self.notice = None, None, ""
        if not self.every or config.steps < self.every:
            self.every = 0
            return
        self._builder = threading.Thread(target=self._build, args=(config,), daemon=True)
        self._builder.start()

    def _build(self, config: Config) -> None:
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

    def close(self):
        if self._builder is not None:
            self._builder.join()


class _Best:
    """One run's best checkpoint by evaluation, in ``checkpoints/best`` (outside the
    rotation and the resume fallback); a resumed run starts from the best it had."""

    def __init__(self, run_dir: str):
        self.run_dir, self.best, self.best_step, self.checkpointer = run_dir, None, None, None
        if paths.isdir(os.path.join(run_dir, "checkpoints", BEST_DIR)):
            self.checkpointer = Checkpointer(run_dir, best=True)
            step = self.checkpointer.latest_step()
            if step is not None:
                meta = os.path.join(self.checkpointer.directory, str(step), "meta", "metadata")
                try:
                    self.best, self.best_step = read_json_object(meta, "best checkpoint metadata")["scores"], step
                except (UserError, KeyError):
                    pass  # an unreadable best is replaced by the next evaluation

    def evaluate(self, evaluator, state: GANState, config: Config, position: int) -> dict:
        """Scores of ``state`` (with ``eval_seconds``); saves it as the best when it is."""
        start = time.time()
        scores = {k: float(v) for k, v in evaluator.evaluate(state).items()}
        if all(math.isfinite(v) for v in scores.values()) and _is_better(scores, self.best):
            if self.checkpointer is None:
                self.checkpointer = Checkpointer(self.run_dir, best=True)
            try:
                self.best_step = self.checkpointer.save(state, config, position, extra={"scores": scores})
                self.best = scores
            except NonFiniteState:
                pass  # cannot happen for a frozen member; kept for safety
        return {**scores, "eval_seconds": time.time() - start}

    def summary(self, evaluator) -> str:
        if self.best is None:
            return ""
        name = "fid" if "fid" in self.best else "modes"
        base = evaluator.baseline.get(name)
        base = f" (real-vs-real baseline {base:.4g})" if base is not None else ""
        return f"  best {name}: {self.best[name]:.4g} at step {self.best_step}{base}, kept in {self.checkpointer.directory}"

    def close(self):
        if self.checkpointer is not None:
            self.checkpointer.close()


def _record_provenance(run_dir: str, resumed: bool, write: bool) -> dict:
    """``RUN_DIR/provenance.json``: where the run was made (commit, versions, backend, PRNG,
    :func:`gan_jax.runs.provenance.collect_provenance`), with one more record per resume. Returns
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


@refuse_out_of_memory
def train(config: Config, run_dir: str, resume: bool = False, progress: bool = True,
          echo=print, overwrite: bool = False, seeds: Optional[Sequence[int]] = None,
          watchdog: Optional[float] = None) -> GANState:
    """Train (or resume) a run, or a sweep of runs, in ``run_dir`` until ``config.steps``.

    ``seeds=None``: one run with ``config.seed`` in ``run_dir``. ``seeds=(s0, s1, ...)``:
    a sweep: ``run_dir/sweep.json`` and one ordinary run directory per seed,
    ``run_dir/seed_<s>/``, all trained together in one compiled program
    (:mod:`gan_jax.train.sweep`: the states vmapped, ``steps_per_call`` steps per
    dispatch); a single run is the same code with one member.

    Everything that can be checked (config, data, devices, the sweep's memory) is
    checked before the run directory is touched. Then the directory is claimed
    (:func:`gan_jax.runs.layout.claim_run_dir`): a new run refuses an existing
    non-empty directory, ``overwrite`` replaces an existing run, ``resume``
    continues from the newest intact checkpoint common to every member
    (UserError if there is none, or the run is already at ``config.steps``).
    Each run directory gets ``config.json``, ``provenance.json``,
    ``metrics.jsonl``, ``tensorboard/``, ``samples/``, ``curves.png`` and
    ``checkpoints/`` (and ``train.log`` when orbax, absl or tensorstore log
    anything: their messages never reach the terminal); the lock is held on
    ``run_dir`` throughout. A resumed run's config is compared with its
    checkpoint's first: a change of a key outside
    ``gan_jax.config.schema.RESUMABLE_KEYS`` is a UserError, each other
    change is echoed (``resume: steps 100 -> 200``). Returns the
    final state (stacked over the members for a sweep). A member whose loss or
    state becomes NaN or inf is frozen at its last finite state; a single run
    then stops with :class:`TrainingDiverged` (the last good checkpoint stays),
    a sweep marks the member diverged (``seed_<s>/diverged.json``) and goes on.
    ``watchdog``: seconds a chunk of steps may take (:class:`gan_jax.train.watchdog.Watchdog`).
    """
    paths.check_location(run_dir, "run directory")
    # orbax's, absl's and tensorstore's logs and tracebacks go to RUN_DIR/train.log once the
    # directory is this run's (dropped before that): a failure prints its one line, nothing else.
    with library_logs(LibraryLog(None)) as library_log:
        return _train(config, run_dir, resume, progress, echo, overwrite, seeds, library_log, watchdog)


def _is_resumable(run_dir: str) -> bool:
    """Whether ``run_dir`` holds a run to resume: its ``config.json`` (or ``sweep.json``), or
    checkpoints without it (the config is then rebuilt from the newest checkpoint's own copy)."""
    return is_run_dir(run_dir) or paths.isdir(os.path.join(run_dir, "checkpoints"))


def _check_resume_config(config: Config, run_dir: str, dirs: Sequence[str], seeds: Sequence[int],
                         sweep: bool, echo) -> None:
    """Compare the config a run resumes with against its checkpoints' (every member of a sweep):
    each change of a resumable key is named once; any other change is a one-line UserError."""
    source = os.path.join(run_dir, SWEEP_FILE if sweep else CONFIG_FILE)
    named = []
    for d, s in zip(dirs, seeds):
        for line in resume_changes(d, member_config(config, s) if sweep else config, source):
            if line not in named:
                named.append(line)
    for line in named:
        echo(line)


def _check_checkpoints_left(run_dir: str, dirs: Sequence[str], seeds: Sequence[int], sweep: bool) -> None:
    """UserError when a run to resume (or one seed of a sweep) has no checkpoint left; what it
    suggests deletes nothing that is left (a sweep's other seeds are intact)."""
    for d, seed in zip(dirs, seeds):
        if has_checkpoint(d):
            continue
        if not sweep:
            raise UserError(f"{d} has no checkpoint left, so it cannot continue; restore its checkpoints/ "
                            "folder, or train it again (--overwrite replaces its logs and samples)")
        raise UserError(f"{d} (seed {seed} of the sweep {run_dir}) has no checkpoint left, so the sweep "
                        f"cannot continue; the other seeds are intact: restore {os.path.join(d, 'checkpoints')}, "
                        f"or move the sweep aside (mv {run_dir} {run_dir}.old: nothing is deleted) and train "
                        f"it again, or train seed {seed} alone as a new run "
                        f"(gan-jax train --config {os.path.join(d, CONFIG_FILE)} --name NEW_NAME)")


def _train(config, run_dir, resume, progress, echo, overwrite, seeds, library_log, watchdog=None) -> GANState:
    """:func:`train` inside its routed library logs (``library_log``: where they go)."""
    sweep = seeds is not None
    seeds = tuple(int(s) for s in seeds) if sweep else (config.seed,)
    lead = is_lead_process()
    if not lead:
        echo = lambda *args, **kwargs: None  # noqa: E731
    dirs = [seed_dir(run_dir, s) for s in seeds] if sweep else [run_dir]
    if resume and paths.isdir(run_dir) and _is_resumable(run_dir):   # before anything is built or written
        _check_resume_config(config, run_dir, dirs, seeds, sweep, echo)
        _check_checkpoints_left(run_dir, dirs, seeds, sweep)
    mesh = _data_mesh(config)
    check_training_memory(config, len(seeds), devices=mesh.size)   # from shapes, before anything is allocated
    configs = [member_config(config, s) for s in seeds] if sweep else [config]
    sources = [data_lib.make_source(c, jax.process_index(), jax.process_count()) for c in configs]
    template = init_state(config)
    # Replicated first, so that a checkpoint restores straight into the mesh's sharding. A
    # single run's one member is the template itself (init_state with PRNGKey(config.seed)).
    members = stack_members([template]) if not sweep else init_members(config, seeds)
    states = replicate(members, mesh)
    barrier("gan_jax.train.before_claim")   # every host looks at the directory before anyone creates it
    existed = paths.isdir(run_dir)
    if resume and existed and not _is_resumable(run_dir):
        raise UserError(f"{run_dir} is not a gan-jax run (no config.json); nothing to resume")
    if resume and existed and is_sweep_dir(run_dir) != sweep:
        raise UserError(f"{run_dir} is {'a sweep' if is_sweep_dir(run_dir) else 'a single run'}; "
                        f"resume it with `gan-jax resume {run_dir}`")
    mode = "resume" if resume and existed else "overwrite" if overwrite else "new"
    if mode == "new" and existed and not paths.listdir(run_dir):
        mode = "resume"   # an empty directory (e.g. a fresh temporary one) holds nothing to lose
    resumed = mode == "resume" and _is_resumable(run_dir)
    lock = claim_run_dir(run_dir, mode) if lead else None
    barrier("gan_jax.train.claimed_run_dir")
    try:
        if lead and not paths.is_url(run_dir):
            library_log.path = os.path.join(run_dir, LIBRARY_LOG_FILE)
        diverged = read_sweep(run_dir)[2] if sweep and resumed else {}
        if lead:
            for d in dirs:
                paths.makedirs(d)
        provenance = _record_provenance(run_dir, resumed, lead)
        if sweep:
            if lead:
                write_sweep(run_dir, config, seeds, diverged, provenance)
            for d in dirs:
                _record_provenance(d, resumed and paths.isfile(os.path.join(d, PROVENANCE_FILE)), lead)
        with run_prng(provenance), Watchdog(watchdog) as dog:   # a resumed run continues with its PRNG
            run = _Run(config, run_dir, configs, dirs, sources, mesh, sweep, diverged, echo)
            run.beat = dog.beat
            return run.train(states, resumed, progress, tqdm)
    finally:
        if lock is not None:
            lock.release()


class _Member:
    """One run of a sweep (or the single run): its directory, config, writers and position."""

    def __init__(self, config: Config, run_dir: str, lead: bool):
        self.config, self.run_dir, self.lead = config, run_dir, lead
        self.checkpointer = Checkpointer(run_dir, config.keep_checkpoints)
        self.metrics_path = os.path.join(run_dir, "metrics.jsonl")
        self.position, self.last_good, self.logger, self.best = 0, None, None, None
        self.sample_key = jax.random.PRNGKey(config.seed + 1)
        self.reference = (data_lib.sample_toy_host(config.data, config.seed + 2, 2000)[0]
                          if config.data in data_lib.TOY_DATA else None)

    def open_writers(self, resumed: bool) -> None:
        if self.lead:
            paths.makedirs(os.path.join(self.run_dir, "samples"))
            write_run_config(self.run_dir, self.config)
        self.logger = _Logger(self.run_dir, append=resumed, write=self.lead)
        self.best = _Best(self.run_dir)

    def close(self) -> None:
        for closer in (self.logger, self.checkpointer, self.best):
            if closer is not None:
                closer.close()


class _Run:
    """The shell around :func:`gan_jax.train.sweep.make_chunk_fn`: restores, trains chunk by
    chunk, and at chunk boundaries logs, draws samples, evaluates and checkpoints."""

    def __init__(self, config, run_dir, configs, dirs, sources, mesh, sweep, diverged, echo):
        self.config, self.run_dir, self.sources, self.mesh = config, run_dir, sources, mesh
        self.sweep, self.diverged, self.echo = sweep, dict(diverged), echo
        self.lead = is_lead_process()
        self.members = [_Member(c, d, self.lead) for c, d in zip(configs, dirs)]
        self.seeds = [c.seed for c in configs]

    def _fail(self, error: UserError):
        for m in self.members:
            m.close()
        return error

    def _restore(self, states: GANState) -> GANState:
        """The members restored at the newest step every live member has intact (a
        single run: its newest intact checkpoint, damaged newer ones set aside)."""
        members, echo = self.members, self.echo
        live = [i for i, s in enumerate(self.seeds) if s not in self.diverged]
        restored = [None] * len(members)
        if not self.sweep:
            try:
                restored[0], meta = members[0].checkpointer.restore(member(states, 0), echo=echo)
            except UserError as e:
                raise self._fail(e)
            members[0].position = meta["data_position"]
        else:
            common = set.intersection(*[set(members[i].checkpointer.all_steps()) for i in live]) if live else set()
            problems = []
            for step in sorted(common, reverse=True):
                try:
                    for i in live:
                        restored[i], meta = members[i].checkpointer.restore(member(states, i), step=step)
                        members[i].position = meta["data_position"]
                    break
                except UserError as e:
                    problems.append(str(e))
            else:
                if live:
                    raise self._fail(UserError(f"{self.run_dir}: no step at which every live seed has an "
                                               f"intact checkpoint ({'; '.join(problems) or 'none in common'}); "
                                               "restore the seeds' checkpoints/ folders, or move the sweep aside "
                                               f"(mv {self.run_dir} {self.run_dir}.old: nothing is deleted) and "
                                               "train it again"))
            for i in live:   # checkpoints past the common step are made again, identically
                for later in [s for s in members[i].checkpointer.all_steps() if s > int(restored[i].step)]:
                    members[i].checkpointer.manager.delete(later)
            for i in range(len(members)):
                if restored[i] is None:   # a frozen (diverged) member: its frozen state
                    restored[i], meta = members[i].checkpointer.restore(member(states, i), echo=echo)
        for m in members:
            m.last_good = m.checkpointer.latest_step()
            if self.lead:
                for path in m.checkpointer.set_aside_damaged():
                    echo(f"moved the damaged checkpoint to {path}")
        step = max(int(restored[i].step) for i in (live or range(len(members))))
        if step >= self.config.steps:
            raise self._fail(UserError(f"{self.run_dir} is already at step {step}, not below "
                                       f"steps={self.config.steps}; pass steps=N with N > {step} to train further"))
        echo(f"resumed {self.run_dir} at step {step}")
        if self.lead:
            for i in live:
                garbled = _drop_rows_after(members[i].metrics_path, step)
                if garbled:
                    echo(f"warning: dropped {garbled} unreadable line(s) from {members[i].metrics_path}")
        return replicate(stack_members(restored), self.mesh), step

    def _diverged_error(self, m: _Member, what: str, step: int) -> TrainingDiverged:
        kept = (f"the last good checkpoint (step {m.last_good}) is kept in {m.checkpointer.directory}; "
                f"`gan-jax resume {self.run_dir}` continues from it" if m.last_good is not None
                else "no checkpoint was saved")
        return TrainingDiverged(f"{what} at step {step}; stopped, {kept}; try a lower learning rate or another loss")

    def _freeze(self, i: int, states: GANState, step: int) -> None:
        """Mark member ``i`` of a sweep diverged at ``step``: its frozen (finite) state is
        saved, ``diverged.json`` written, the sweep record updated, and the user told."""
        m, seed = self.members[i], self.seeds[i]
        frozen = member(states, i)
        if int(frozen.step) not in m.checkpointer.all_steps():
            m.last_good = m.checkpointer.save(frozen, m.config, m.position)
        self.diverged[seed] = step
        if self.lead:
            atomic_write_json(os.path.join(m.run_dir, DIVERGED_FILE),
                              {"step": step, "frozen_at_step": int(frozen.step),
                               "reason": "a loss or the state became NaN or inf"})
            record = read_json_object(os.path.join(self.run_dir, SWEEP_FILE), "sweep record")
            record["diverged"] = {str(s): d for s, d in sorted(self.diverged.items())}
            atomic_write_json(os.path.join(self.run_dir, SWEEP_FILE), record)
        self.echo(f"seed {seed} diverged at step {step} (NaN or inf); frozen at step {int(frozen.step)} "
                  f"in {m.run_dir}; the other seeds go on")

    def train(self, states: GANState, resumed: bool, progress: bool, tqdm) -> GANState:
        """The driver (:func:`gan_jax.train.driver.train_members`) with this run's hooks:
        positions, the progress bar, divergence, then logs, samples, evaluation and checkpoints."""
        config, members, lead = self.config, self.members, self.lead
        start_step = 0
        if resumed:
            states, start_step = self._restore(states)
        for m in members:
            m.open_writers(resumed)
        evaluator = _Evaluator(config, self.echo)
        intervals = (config.log_every, config.sample_every, config.checkpoint_every, evaluator.every)
        final_scores = [{} for _ in members]
        bar = tqdm(total=config.steps, initial=start_step, disable=not (progress and lead), unit="step",
                   dynamic_ncols=True)
        start_time = time.time()

        def at_boundary(boundary: Boundary) -> None:
            for m, position in zip(members, boundary.positions):
                m.position = int(position)
            bar.update(boundary.done - bar.n)
            self.beat(boundary.done)
            for i, t in boundary.died.items():
                if not self.sweep:
                    raise self._diverged_error(members[i], "a loss or the state became NaN or inf", t + 1)
                self._freeze(i, boundary.states, t + 1)
            if not boundary.alive.any():
                raise TrainingDiverged(f"every seed of {self.run_dir} diverged (NaN or inf; steps "
                                       f"{', '.join(f'{s}: {d}' for s, d in sorted(self.diverged.items()))}); "
                                       "their last finite states are kept; try a lower learning rate or another loss")
            self._at_boundary(boundary.states, boundary.metrics, boundary.alive, boundary.done, start_step,
                              start_time, evaluator, final_scores, bar)

        try:
            states, _ = train_members(config, self.seeds, states, start_step, hooks=[at_boundary],
                                      stop_at=chunk_stops(start_step, config.steps, 0, intervals),
                                      sources=self.sources, mesh=self.mesh,
                                      positions=[m.position for m in members],
                                      alive=[s not in self.diverged for s in self.seeds])
        finally:
            bar.close()
            for m in members:
                m.close()
            evaluator.close()
        self._report(states, evaluator, final_scores)
        return member(states, 0) if not self.sweep else states

    def _at_boundary(self, states, metrics, alive, done, start_step, start_time, evaluator, final_scores, bar):
        config, k = self.config, batches_per_step(self.config)
        log = done % config.log_every == 0 or done == config.steps
        host_metrics = jax.device_get(metrics) if log else None
        evaluate = evaluator.due(done, config.steps)
        for i, m in enumerate(self.members):
            if not alive[i]:
                continue
            state = member(states, i) if (evaluate or done % config.sample_every == 0
                                          or done % config.checkpoint_every == 0 or done == config.steps) else None
            if log:
                scalars = {key: float(v[i]) for key, v in host_metrics.items()}
                scalars["images_per_sec"] = ((done - start_step) * config.batch_size * k
                                             / max(time.time() - start_time, 1e-9))
                m.logger.log(done, scalars)
                if not self.sweep:
                    bar.set_postfix({"d_loss": f"{scalars['d_loss']:.3f}", "g_loss": f"{scalars['g_loss']:.3f}",
                                     "D(x)": f"{scalars['d_real']:.2f}", "D(G(z))": f"{scalars['d_fake']:.2f}"})
            if done % config.sample_every == 0:
                _write_samples(state, m.config, m.sample_key,
                               os.path.join(m.run_dir, "samples", f"step_{done:07d}.png"), m.reference, self.lead)
            if evaluate:
                final_scores[i] = m.best.evaluate(evaluator.evaluator, state, m.config, m.position)
                m.logger.log(done, final_scores[i])
                if not self.sweep:
                    bar.set_postfix({key: f"{v:.3g}" for key, v in final_scores[i].items() if key != "eval_seconds"})
            if done % config.checkpoint_every == 0 or done == config.steps:
                m.logger.flush()   # in a bucket the logs go up with every checkpoint
                m.last_good = m.checkpointer.save(state, m.config, m.position)
        if self.sweep and log:
            live = [i for i in range(len(self.members)) if alive[i]]
            bar.set_postfix({"alive": f"{len(live)}/{len(self.members)}",
                             "d_loss": f"{np.mean([host_metrics['d_loss'][i] for i in live]):.3f}",
                             "g_loss": f"{np.mean([host_metrics['g_loss'][i] for i in live]):.3f}"})

    def _report(self, states, evaluator, final_scores) -> None:
        """Final samples and curves of every member, and what went where."""
        lines = []
        for i, m in enumerate(self.members):
            final = _write_samples(member(states, i), m.config, m.sample_key,
                                   os.path.join(m.run_dir, "samples", "final.png"), m.reference, self.lead)
            curves = viz.plot_training_curves(m.metrics_path, os.path.join(m.run_dir, "curves.png")) if self.lead else None
            if not self.sweep:
                lines.append(f"run directory: {m.run_dir}\n"
                             f"  final samples: {final}\n"
                             f"  samples over training: {os.path.join(m.run_dir, 'samples')}\n"
                             f"  metrics: {m.metrics_path} (curves: {curves})\n"
                             f"  TensorBoard: tensorboard --logdir {os.path.join(m.run_dir, 'tensorboard')}\n"
                             f"  checkpoints: {m.checkpointer.directory} (step {m.last_good})")
            else:
                state = "diverged at step " + str(self.diverged[self.seeds[i]]) if self.seeds[i] in self.diverged else ""
                scores = ", ".join(f"{k} {v:.4g}" for k, v in final_scores[i].items() if k != "eval_seconds")
                lines.append(f"  seed {self.seeds[i]}: {m.run_dir} ({state or scores or 'done'})")
        if self.sweep:
            lines.insert(0, f"sweep directory: {self.run_dir} ({len(self.members)} seeds, record in "
                            f"{os.path.join(self.run_dir, SWEEP_FILE)}; TensorBoard: tensorboard --logdir {self.run_dir})")
        self.echo("\n".join(lines))
        scores = final_scores[0]
        if scores and not self.sweep:
            text = ", ".join(f"{k} {v:.4g}" for k, v in scores.items() if k != "eval_seconds")
            base = ", ".join(f"{k} {v:.4g}" for k, v in evaluator.evaluator.baseline.items() if k in scores)
            self.echo(f"final quality ({evaluator.evaluator.extractor}, {evaluator.evaluator.num_samples} samples): "
                      f"{text}{f'; real-vs-real baseline: {base}' if base else ''}\n"
                      f"{self.members[0].best.summary(evaluator.evaluator)}")
