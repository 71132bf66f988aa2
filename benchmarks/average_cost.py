"""What generator averaging adds to a preset's training time, side by side.

For each preset, ``--steps`` training steps from its start (k discriminator
steps and one generator step each, compiled as ``gan-jax train`` compiles them)
are timed with the preset's
``g_average_decay`` and with ``g_average_decay=0`` (no average), the two taking
turns round by round so that both see the same machine load; each keeps its
best round. The average's statistics are measured afresh before every
evaluation and before sampling
(:func:`gan_jax.core.state.recalibrate_average_statistics`, 32 passes of 1,024
latents), so that pass is timed too. From these:

    added seconds = steps * (t_step_average - t_step_plain) + (evaluations + 1) * t_recalibrate

against ``steps * t_step_plain``, the steps' share of the preset's training
time (evaluation, logging and checkpoints come on top of both).

    python benchmarks/average_cost.py --presets ring8_best grid25_best stacked_digits_best digits_dcgan

Writes ``average_cost.json`` under ``--out``; the last line printed is that JSON.
"""

import argparse
import dataclasses
import json
import os
import time

import jax

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config, label_classes
from gan_jax.core.state import recalibrate_average_statistics
from gan_jax.runs.provenance import entry_point_setup
from gan_jax.train.driver import train_members

DECAY = 0.999   # the decay of the presets that average


def timer(config, steps):
    """``run()``: seconds per step of ``steps`` steps of ``config``, trained from its start
    for seed 0 as ``gan-jax train`` trains (:func:`gan_jax.train.driver.train_members`:
    ``steps_per_call`` steps per compiled call, batches drawn on the device), no evaluation.
    The first call compiles; later calls reuse the program."""
    config = dataclasses.replace(config, steps=steps)

    def run():
        start = time.perf_counter()
        states, _ = train_members(config, [0])
        jax.block_until_ready(states)
        return (time.perf_counter() - start) / steps

    run()
    return run


def recalibration_seconds(config, repeats):
    """Best of ``repeats`` timed measurements of the average's batch statistics (on the
    initial state: the time does not depend on the values)."""
    state, key = init_state(config), jax.random.PRNGKey(0)
    num_classes = label_classes(config)

    def run():
        start = time.perf_counter()
        jax.block_until_ready(recalibrate_average_statistics(state, key, num_classes=num_classes))
        return time.perf_counter() - start

    run()   # compiles
    return min(run() for _ in range(repeats))


def measure(preset, steps, rounds):
    """One preset's row: both steps' seconds, the recalibration's, and the estimate."""
    decay = get_config(preset).g_average_decay or DECAY
    averaged = get_config(preset, [f"g_average_decay={decay}"])
    plain = get_config(preset, ["g_average_decay=0"])
    run_averaged, run_plain = timer(averaged, steps), timer(plain, steps)
    best = {"plain": float("inf"), "average": float("inf")}
    for _ in range(rounds):
        best["plain"] = min(best["plain"], run_plain())
        best["average"] = min(best["average"], run_averaged())
    recal = recalibration_seconds(averaged, 3)
    evaluations = averaged.steps // averaged.eval_every if averaged.eval_every else 0
    added = averaged.steps * (best["average"] - best["plain"]) + (evaluations + 1) * recal
    return {"preset": preset, "decay": decay, "steps": averaged.steps, "evaluations": evaluations,
            "step_ms_plain": 1e3 * best["plain"], "step_ms_average": 1e3 * best["average"],
            "step_ratio": best["average"] / best["plain"], "recalibration_s": recal,
            "steps_s_plain": averaged.steps * best["plain"], "added_s": added,
            "added_fraction": added / (averaged.steps * best["plain"])}


def main():
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+",
                        default=["ring8_best", "grid25_best", "stacked_digits_best", "digits_dcgan"])
    parser.add_argument("--steps", type=int, default=1000, help="steps per timed round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    rows = []
    for preset in args.presets:
        row = measure(preset, args.steps, args.rounds)
        rows.append(row)
        print(f"{preset}: step {row['step_ms_plain']:.2f} -> {row['step_ms_average']:.2f} ms "
              f"(x{row['step_ratio']:.3f}), recalibration {row['recalibration_s']:.3f} s, "
              f"+{row['added_s']:.0f} s on {row['steps_s_plain']:.0f} s of steps "
              f"(+{100 * row['added_fraction']:.1f} %)", flush=True)
    result = {"device": str(jax.devices()[0]), "steps": args.steps, "rounds": args.rounds, "rows": rows}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "average_cost.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
