"""Orbax checkpoints of a run: the whole GANState, the config and the data position.

Layout: ``RUN_DIR/config.json`` and ``RUN_DIR/checkpoints/<step>/`` with two
items, ``state`` (every array of the GANState: parameters, batch statistics,
optimiser states, step) and ``meta`` (JSON: step, data position, config).
Orbax writes each checkpoint to a temporary directory and renames it when it
is complete, so a run killed at any moment (kill -9) restores from its last
complete checkpoint. Randomness needs no saving: step keys are
``fold_in(PRNGKey(seed), step)``.
"""

import json
import os
from typing import Optional, Tuple

import jax
import orbax.checkpoint as ocp

from gan_jax.build import init_state
from gan_jax.config import Config, config_from_dict, config_to_dict
from gan_jax.errors import UserError
from gan_jax.state import GANState

__all__ = ["Checkpointer", "read_run_config", "write_run_config", "restore_run"]

CONFIG_FILE = "config.json"


def write_run_config(run_dir: str, config: Config) -> None:
    with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
        json.dump(config_to_dict(config), f, indent=2)


def read_run_config(run_dir: str) -> Config:
    """The config saved in a run directory (UserError if it is not a run)."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{run_dir} is not a gan-jax run directory (no {CONFIG_FILE}); "
                        "pass the directory that `gan-jax train` printed")
    with open(path) as f:
        return config_from_dict(json.load(f), path)


class Checkpointer:
    """Saves and restores checkpoints under ``RUN_DIR/checkpoints``, keeping the last ``keep``."""

    def __init__(self, run_dir: str, keep: int = 3):
        self.directory = os.path.abspath(os.path.join(run_dir, "checkpoints"))
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               enable_async_checkpointing=False)
        self.manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, state: GANState, config: Config, data_position: int) -> int:
        step = int(jax.device_get(state.step))
        meta = {"step": step, "data_position": int(data_position), "config": config_to_dict(config)}
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)), force=True)
        self.manager.wait_until_finished()
        return step

    def latest_step(self) -> Optional[int]:
        return self.manager.latest_step()

    def restore(self, template: GANState, step: Optional[int] = None) -> Tuple[GANState, dict]:
        """Restore into the structure of ``template`` (a freshly initialised state)."""
        step = self.manager.latest_step() if step is None else step
        if step is None:
            raise UserError(f"no checkpoint in {self.directory}; train first or check the path")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
        try:
            restored = self.manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"checkpoint {step} in {self.directory} does not match the config "
                            f"(different model or sizes?): {str(e).splitlines()[0]}") from None
        return restored["state"], restored["meta"]

    def close(self):
        self.manager.close()


def restore_run(run_dir: str, step: Optional[int] = None) -> Tuple[Config, GANState]:
    """The config and restored GANState of a run directory (latest checkpoint by default)."""
    config = read_run_config(run_dir)
    checkpointer = Checkpointer(run_dir, config.keep_checkpoints)
    try:
        state, _ = checkpointer.restore(init_state(config), step)
    finally:
        checkpointer.close()
    return config, state
