"""The statistics of a real-vs-generated study (pure NumPy, no files).

A rater's scored trials are summarised as counts of trial *types*; a
contribution matrix turns types into the four judgement cells

    [generated judged real (error), generated judged generated,
     real judged generated (error), real judged real].

In ``single`` mode a trial judges one image, so the four types are the four
cells. In ``2afc`` mode a trial judges a pair: an error (the real image picked
as the generated one) puts the generated image in cell 0 and the real image in
cell 2 at once, a correct answer puts them in cells 1 and 3. From cell totals
c0..c3 (:func:`rates`):

    error on generated  = c0 / (c0 + c1)
    error on real       = c2 / (c2 + c3)
    overall error       = (c0 + c2) / (c0 + c1 + c2 + c3)   (HYPE-infinity in single mode)
    "real" answer rate  = (c0 + c3) / (c0 + c1 + c2 + c3)

The bootstrap (:func:`bootstrap_totals`) resamples raters with replacement
and, optionally, at a second level each drawn rater's trials with
replacement (Davison and Hinkley 1997, section 3.8; HYPE, Zhou et al. 2019,
reports bootstrap intervals). Resampling a rater's n trials with replacement
draws their type counts from Multinomial(n, own type shares), which is what
is sampled here, as conditional binomials, vectorised over studies and
resamples.

The report resamples raters only. The two-level bootstrap over-covers: a
drawn rater's observed counts already carry their trial-level (binomial)
noise, so resampling trials again counts that variance twice; on simulated
studies with known rates its 95 % intervals covered the truth about 99 % of
the time when raters differ little (``experiments/study_coverage.py``).
Resampling raters alone is the calibrated choice for this two-stage design
(the pooled rate is a mean over raters, the independent units). With R
raters, the percentile interval of that bootstrap is widened about the
estimate by f_R = sqrt(R / (R - 1)) t_{R-1} / z (:func:`expanded_interval`):
the bootstrap variance of a mean of R clusters is (R - 1) / R times the
unbiased one, and with R clusters the studentised mean follows Student's t
with R - 1 degrees of freedom rather than the normal law (the usual small-
number-of-clusters correction, Cameron and Miller 2015).
"""

import math
from statistics import NormalDist
from typing import Dict

import numpy as np

__all__ = ["SINGLE_CONTRIBUTIONS", "TWO_AFC_CONTRIBUTIONS", "RATE_NAMES", "contributions",
           "rates", "bootstrap_totals", "percentile_interval", "student_t_cdf", "student_t_quantile",
           "widening_factor", "expanded_interval",
           "share_greater", "simulate_single_studies", "interval_coverage"]

#: Trial types in single mode: (generated, error), (generated, correct), (real, error), (real, correct).
SINGLE_CONTRIBUTIONS = np.eye(4, dtype=np.int64)
#: Trial types in 2afc mode: error, correct; each judges one generated and one real image.
TWO_AFC_CONTRIBUTIONS = np.array([[1, 0, 1, 0], [0, 1, 0, 1]], np.int64)
#: The rates the bootstrap reports, in the order of its arrays.
RATE_NAMES = ("error_generated", "error_real", "error", "real_answer_rate")


def contributions(mode: str) -> np.ndarray:
    """The ``(T, 4)`` contribution matrix of a study mode (``single`` or ``2afc``)."""
    return {"single": SINGLE_CONTRIBUTIONS, "2afc": TWO_AFC_CONTRIBUTIONS}[mode]


def rates(cells: np.ndarray) -> Dict[str, np.ndarray]:
    """The four rates of the module docstring from cell totals ``(..., 4)``.

    Each value has shape ``(...)``; a rate with an empty denominator is NaN.
    """
    c = np.asarray(cells, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        total = c.sum(-1)
        return {"error_generated": c[..., 0] / (c[..., 0] + c[..., 1]),
                "error_real": c[..., 2] / (c[..., 2] + c[..., 3]),
                "error": (c[..., 0] + c[..., 2]) / total,
                "real_answer_rate": (c[..., 0] + c[..., 3]) / total}


def _multinomial_rows(rng: np.random.Generator, n: np.ndarray, shares: np.ndarray) -> np.ndarray:
    """Multinomial(n, shares) draws, ``n (...)``, ``shares (..., T)`` -> ``(..., T)``,
    as T - 1 conditional binomials: x_t ~ Bin(n - sum_{s<t} x_s, p_t / sum_{s>=t} p_s)."""
    remaining_n = n.astype(np.int64)
    remaining_p = np.ones(n.shape)
    draws = np.zeros(shares.shape, np.int64)
    for t in range(shares.shape[-1] - 1):
        with np.errstate(invalid="ignore", divide="ignore"):
            p = np.clip(np.where(remaining_p > 0, shares[..., t] / remaining_p, 0.0), 0.0, 1.0)
        draws[..., t] = rng.binomial(remaining_n, p)
        remaining_n = remaining_n - draws[..., t]
        remaining_p = remaining_p - shares[..., t]
    draws[..., -1] = remaining_n
    return draws


def bootstrap_totals(type_counts: np.ndarray, n_boot: int, rng: np.random.Generator,
                     resample_trials: bool = False) -> np.ndarray:
    """Trial-type totals of ``n_boot`` bootstrap resamples of a study.

    ``type_counts``: ``(..., R, T)`` counts of each trial type for each of R
    raters (leading axes: independent studies). Each resample draws R raters
    with replacement; with ``resample_trials`` each drawn rater's n_r trials
    are then drawn with replacement from their own trials. Returns
    ``(..., n_boot, T)`` totals over the drawn raters; multiply by the
    contribution matrix for cells.
    """
    counts = np.asarray(type_counts, np.int64)
    *lead, n_raters, _ = counts.shape
    picks = rng.integers(0, n_raters, size=(*lead, n_boot, n_raters))
    drawn = np.take_along_axis(counts[..., None, :, :], picks[..., None], axis=-2)  # (..., B, R, T)
    if resample_trials:
        n = drawn.sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = np.where(n[..., None] > 0, drawn / np.maximum(n, 1)[..., None], 0.0)
        drawn = _multinomial_rows(rng, n, shares)
    return drawn.sum(-2)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> np.ndarray:
    """``(..., 2)`` lower and upper percentile bounds of ``samples (..., B)``
    (the (1 - level)/2 and (1 + level)/2 quantiles, NaN resamples ignored)."""
    tail = (1.0 - level) / 2.0
    return np.moveaxis(np.nanquantile(samples, [tail, 1.0 - tail], axis=-1), 0, -1)


def student_t_cdf(x: float, dof: int) -> float:
    """P(T <= x) for Student's t with ``dof`` degrees of freedom: 1/2 + the integral
    of the density Gamma((v+1)/2) / (sqrt(v pi) Gamma(v/2)) (1 + u^2/v)^(-(v+1)/2)
    from 0 to x (composite Simpson rule, 4,000 intervals)."""
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    u = np.linspace(0.0, abs(x), 4001)
    density = np.exp(log_norm - (dof + 1) / 2 * np.log1p(u * u / dof))
    weights = np.ones(4001)
    weights[1:-1:2], weights[2:-1:2] = 4.0, 2.0
    half = float(np.sum(weights * density) * abs(x) / (3 * 4000))
    return 0.5 + math.copysign(half, x)


def student_t_quantile(probability: float, dof: int) -> float:
    """The ``probability`` quantile (> 1/2) of Student's t with ``dof`` degrees of
    freedom: Newton's method on :func:`student_t_cdf` from the normal quantile
    (the CDF is concave above 0, so the iterates rise monotonically to the root)."""
    log_norm = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    x = NormalDist().inv_cdf(probability)
    for _ in range(200):
        step = (probability - student_t_cdf(x, dof)) / math.exp(log_norm - (dof + 1) / 2 * math.log1p(x * x / dof))
        x += step
        if abs(step) < 1e-10 * max(1.0, x):
            break
    return x


def widening_factor(n_raters: int, level: float = 0.95) -> float:
    """f_R = sqrt(R / (R - 1)) t_{R-1, (1+level)/2} / z_{(1+level)/2} (1 for R < 2)."""
    if n_raters < 2:
        return 1.0
    upper = (1.0 + level) / 2.0
    return math.sqrt(n_raters / (n_raters - 1)) * student_t_quantile(upper, n_raters - 1) / NormalDist().inv_cdf(upper)


def expanded_interval(samples: np.ndarray, estimate: np.ndarray, n_raters: int,
                      level: float = 0.95) -> np.ndarray:
    """``(..., 2)``: the percentile interval of ``samples (..., B)`` widened about
    ``estimate (...)`` by f = :func:`widening_factor` (R = ``n_raters``):
    ``estimate + f (q - estimate)``, clipped to [0, 1] (the rates are proportions)."""
    factor = widening_factor(n_raters, level)
    bounds = percentile_interval(samples, level)
    estimate = np.asarray(estimate, np.float64)[..., None]
    return np.clip(estimate + factor * (bounds - estimate), 0.0, 1.0)


def share_greater(a: np.ndarray, b: np.ndarray) -> float:
    """The share of paired resamples with ``a > b`` (``a``, ``b``: ``(B,)``, NaNs count as not greater)."""
    return float(np.mean(np.asarray(a) > np.asarray(b)))


def simulate_single_studies(rng: np.random.Generator, n_studies: int, n_raters: int, n_generated: int,
                            n_real: int, error_generated: float, error_real: float,
                            concentration: float) -> np.ndarray:
    """Type counts ``(n_studies, n_raters, 4)`` of simulated single-mode studies.

    Rater r errs on generated images with probability p_gen,r ~ Beta(m c, (1 - m) c),
    m = ``error_generated``, c = ``concentration`` (large c: raters alike), and
    likewise on real images; they judge ``n_generated`` and ``n_real`` images.
    The population's true rates are ``error_generated`` and ``error_real``.
    """
    shape = (n_studies, n_raters)
    c = concentration
    p_gen = rng.beta(error_generated * c, (1 - error_generated) * c, size=shape)
    p_real = rng.beta(error_real * c, (1 - error_real) * c, size=shape)
    gen_errors, real_errors = rng.binomial(n_generated, p_gen), rng.binomial(n_real, p_real)
    return np.stack([gen_errors, n_generated - gen_errors, real_errors, n_real - real_errors], -1)


def interval_coverage(type_counts: np.ndarray, truth: Dict[str, float], n_boot: int, rng: np.random.Generator,
                      resample_trials: bool = False, level: float = 0.95) -> Dict[str, float]:
    """The share of studies ``(S, R, 4)`` (single mode) whose report interval
    (:func:`expanded_interval` of the rater bootstrap, or of the two-level one
    with ``resample_trials``) holds the true rate, for each rate in ``truth``."""
    n_raters = type_counts.shape[-2]
    estimate = rates(type_counts.sum(-2))
    boot = rates(bootstrap_totals(type_counts, n_boot, rng, resample_trials))
    covered = {}
    for name, value in truth.items():
        low, high = np.moveaxis(expanded_interval(boot[name], estimate[name], n_raters, level), -1, 0)
        covered[name] = float(np.mean((low <= value) & (value <= high)))
    return covered
