"""Checks the command-line and experiment tests share: run ``gan-jax`` in-process, a
one-line error with exit status 2 (or a one-line UserError), two states equal bit for bit, an
experiment script loaded."""

import importlib.util
import os

import jax
import numpy as np
import pytest

from gan_jax.cli import main
from gan_jax.errors import UserError

EXPERIMENTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "experiments")


def run_cli(capsys, *argv):
    """``(exit status, stdout, stderr)`` of ``gan-jax ARGV`` run in this process."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code, err, *fragments):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err


def refused(thunk, *fragments) -> str:
    """The one-line message of the UserError ``thunk()`` raises; each fragment must be in it."""
    with pytest.raises(UserError) as info:
        thunk()
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def same_state(a, b) -> bool:
    """Whether two pytrees have the same (non-empty) leaves, bit for bit."""
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(leaves_a) == len(leaves_b) > 0 and all(
        bool(np.array_equal(x, y)) for x, y in zip(leaves_a, leaves_b))


def load_experiment(name):
    """``experiments/NAME.py`` imported as a module (its ``main(argv)`` is called in-process)."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXPERIMENTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
