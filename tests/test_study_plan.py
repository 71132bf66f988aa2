"""A session's plan: the trials' counts, order and truth, and balanced model assignment."""

import numpy as np
import pytest

from gan_jax.study.plan import choose_model, images_needed, plan_trials

REAL = [f"r{i}" for i in range(30)]
GENERATED = [f"g{i}" for i in range(30)]
NOISE = [f"n{i}" for i in range(5)]


@pytest.mark.parametrize("seed", range(5))
def test_two_afc_plan(seed):
    plan = plan_trials(np.random.default_rng(seed), "2afc", 3, 10, 2, REAL, GENERATED, NOISE)
    assert len(plan) == 15
    assert [t["practice"] for t in plan] == [True] * 3 + [False] * 12
    assert sum(t["attention"] for t in plan) == 2
    assert not any(t["attention"] for t in plan[:4])  # never practice, never the first scored trial
    shown = [t["left"] for t in plan] + [t["right"] for t in plan]
    assert len(set(shown)) == len(shown) == 30  # no image twice
    for t in plan:
        real = t[t["real_side"]]
        other = t["right" if t["real_side"] == "left" else "left"]
        assert real.startswith("r")
        assert other.startswith("n" if t["attention"] else "g")
        assert t["correct_response"] == ("right" if t["real_side"] == "left" else "left")


@pytest.mark.parametrize("seed", range(5))
def test_single_plan_is_half_real(seed):
    plan = plan_trials(np.random.default_rng(seed), "single", 4, 12, 2, REAL, GENERATED, NOISE)
    judged = [t for t in plan if not t["attention"]]
    assert len(judged) == 16 and len(plan) == 18
    assert sum(t["left"].startswith("r") for t in judged) == 8
    for t in plan:
        assert t["right"] is None
        assert t["correct_response"] == ("real" if t["left"].startswith("r") else "generated")
        assert t["left"].startswith("n") == t["attention"]
    assert images_needed("single", 4, 12, 2) == {"real": 8, "generated": 8}


def test_models_get_balanced_raters():
    rng = np.random.default_rng(0)
    sessions = [0, 0, 0]
    for _ in range(30):
        sessions[choose_model(sessions, [], rng)] += 1
        assert max(sessions) - min(sessions) <= 1
    assert sessions == [10, 10, 10]
    assert choose_model([5, 0, 0], [1, 2], rng) == 0  # a rater gets a model they have not rated
    assert choose_model([5, 0], [0, 1], rng) == -1
