"""Bounded integer options of the command line: every count and seed a user gives has a range,
written in the option's ``--help`` and checked by argparse (one line, exit status 2).

Imports nothing heavy: ``--help`` stays fast.
"""

import argparse
import math

__all__ = ["MAX_SEED", "bounded_int", "seed_option", "generator_option", "watchdog_option"]

#: jax.random.PRNGKey keeps the low 32 bits of a larger seed (2**32 and 0 give the same key) and
#: refuses one above 2**63 - 1 with an OverflowError: a seed is one of 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def bounded_int(low: int, high: int):
    """An argparse ``type``: an integer in ``low..high``, else a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            # (a 5,000-digit number is not echoed whole; Python refuses to parse one that long)
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer in {low}..{high}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    parse.__name__ = "integer"   # argparse names the type in its messages
    return parse


def seed_option(parser, default: int = 0, what: str = "the random draw") -> None:
    """``--seed S`` with the range jax.random.PRNGKey keeps apart, written in ``--help``."""
    parser.add_argument("--seed", type=bounded_int(0, MAX_SEED), default=default, metavar="S",
                        help=f"seed of {what}, 0..{MAX_SEED} (default {default})")


def generator_option(parser) -> None:
    """``--generator auto|average|raw``: which generator of a run draws (runs.sampling.GENERATORS)."""
    parser.add_argument("--generator", choices=("auto", "average", "raw"), default="auto",
                        help="auto (default): the generator's moving average where the run keeps one "
                             "(g_average_decay > 0), else the generator as trained; average: the average "
                             "(an error if the run keeps none); raw: the generator as trained")


# The watchdog of long runs (gan_jax.train.watchdog): its option, here so that --help imports no train layer.
MAX_WATCHDOG_SECONDS = 7 * 24 * 3600.0   # a week: the largest --watchdog accepted
WATCHDOG_HELP = ("end the process with status 3 if no chunk of training steps (with its logging, samples, evaluation "
        "and checkpoint) finishes within SECONDS (above 0, at most 604800; the first chunk, which compiles, "
        "gets 10 x SECONDS), printing the last finished step and every Python thread's stack (XLA's native "
        "threads are out of its reach), so that a scheduler can `gan-jax resume` the run; default: off")


def _watchdog_seconds(text: str) -> float:
    """argparse type of ``--watchdog SECONDS``: a number above 0 and at most :data:`MAX_WATCHDOG_SECONDS`."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_WATCHDOG_SECONDS:
        raise argparse.ArgumentTypeError(f"{text}: give the seconds a chunk of steps may take, a "
                                         f"number above 0 and at most {MAX_WATCHDOG_SECONDS:.0f} (a week)")
    return seconds


def watchdog_option(parser) -> None:
    """``--watchdog SECONDS`` of train and resume."""
    parser.add_argument("--watchdog", type=_watchdog_seconds, metavar="SECONDS", help=WATCHDOG_HELP)
