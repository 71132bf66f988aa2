"""A rater's session: which model, which trials, in which order (pure, seeded).

Answers: in ``2afc`` mode the rater names the side of the generated image
(``left`` or ``right``); in ``single`` mode they call the one image ``real``
or ``generated``. An attention check pairs a real image with noise (2afc) or
shows noise alone (single): its right answer is the noise.
"""

from typing import Dict, List, Sequence

import numpy as np

__all__ = ["MODES", "RESPONSES", "images_needed", "choose_model", "plan_trials", "attention_checks_for"]

#: The study designs: two-alternative forced choice, or one image at a time.
MODES = ("2afc", "single")
#: The answers a rater may give, per mode.
RESPONSES = {"2afc": ("left", "right"), "single": ("real", "generated")}


def attention_checks_for(trials: int) -> int:
    """The default number of attention checks: about 10 % of the scored trials, ceil(trials / 10)."""
    return -(-trials // 10)


def images_needed(mode: str, practice: int, trials: int, attention: int) -> Dict[str, int]:
    """How many distinct real and generated images one session shows (none is shown twice)."""
    judged = practice + trials
    if mode == "2afc":
        return {"real": judged + attention, "generated": judged}
    return {"real": (judged + 1) // 2, "generated": (judged + 1) // 2}


def choose_model(sessions_per_model: Sequence[int], taken: Sequence[int], rng: np.random.Generator) -> int:
    """The model with the fewest sessions among those this rater has not rated
    (ties broken at random), or -1 when the rater has rated every model."""
    open_models = [m for m in range(len(sessions_per_model)) if m not in set(taken)]
    if not open_models:
        return -1
    fewest = min(sessions_per_model[m] for m in open_models)
    return int(rng.choice([m for m in open_models if sessions_per_model[m] == fewest]))


def plan_trials(rng: np.random.Generator, mode: str, practice: int, trials: int, attention: int,
                real_ids: Sequence[str], generated_ids: Sequence[str],
                attention_ids: Sequence[str]) -> List[dict]:
    """The ordered trials of one session: ``practice`` practice trials, then
    ``trials`` scored trials with ``attention`` attention checks at random
    places among them (never first). Each trial is a dict with ``practice``,
    ``attention``, ``left``, ``right`` (None in single mode), ``real_side``
    (2afc) and ``correct_response``. Images are drawn without replacement.
    """
    need = images_needed(mode, practice, trials, attention)
    real = list(rng.permutation(np.asarray(real_ids, object))[:need["real"]])
    generated = list(rng.permutation(np.asarray(generated_ids, object))[:need["generated"]])
    noise = list(rng.permutation(np.asarray(attention_ids, object))[:attention])
    judged = practice + trials
    if mode == "single":
        truths = rng.permutation(np.arange(judged) % 2 == 0)  # True: a real image; half each
    kinds = ["judged"] * trials
    for position in sorted(rng.choice(np.arange(1, trials + attention), attention, replace=False)):
        kinds.insert(int(position), "attention")
    plan = []
    for index, kind in enumerate(["judged"] * practice + kinds):
        attention_trial = kind == "attention"
        if mode == "2afc":
            fake = noise.pop() if attention_trial else generated.pop()
            real_side = "left" if rng.random() < 0.5 else "right"
            left, right = (real.pop(), fake) if real_side == "left" else (fake, real.pop())
            plan.append(dict(practice=index < practice, attention=attention_trial, left=left, right=right,
                             real_side=real_side, correct_response="right" if real_side == "left" else "left"))
        else:
            is_real = (not attention_trial) and bool(truths[len([p for p in plan if not p["attention"]])])
            image = real.pop() if is_real else (noise.pop() if attention_trial else generated.pop())
            plan.append(dict(practice=index < practice, attention=attention_trial, left=image, right=None,
                             real_side=None, correct_response="real" if is_real else "generated"))
    return plan
