"""Coverage of the user-study report's 95 % intervals on simulated studies with
known error rates: the rater bootstrap the report uses against the two-level
bootstrap (raters, then trials within raters), over numbers of raters and how
much raters differ (Beta concentration c: 5 = raters differ, 1000 = alike).

    python experiments/study_coverage.py --out DIR [--studies 1000] [--resamples 1000]
"""

import time

import numpy as np
from _common import parse_args, run_main, write_results

from gan_jax.study.stats import interval_coverage, simulate_single_studies

TRUTH = {"error_generated": 0.3, "error_real": 0.15, "error": 0.225}  # 25 generated + 25 real images a rater


def main(argv=None):
    def options(p):
        p.add_argument("--studies", type=int, default=1000)
        p.add_argument("--resamples", type=int, default=1000)
        p.add_argument("--raters", type=int, nargs="+", default=[10, 20, 40])
        p.add_argument("--concentrations", type=float, nargs="+", default=[5.0, 1000.0])
    args = parse_args("study_coverage", __doc__.split("\n")[0], argv, options)
    rows = []
    for n_raters in args.raters:
        for concentration in args.concentrations:
            for resample_trials in (False, True):
                rng = np.random.default_rng([args.seed, n_raters, int(concentration), int(resample_trials)])
                started = time.perf_counter()
                counts = simulate_single_studies(rng, args.studies, n_raters, 25, 25, TRUTH["error_generated"],
                                                 TRUTH["error_real"], concentration)
                covered = interval_coverage(counts, TRUTH, args.resamples, rng, resample_trials)
                rows.append(dict(raters=n_raters, concentration=concentration,
                                 resampling="raters and trials" if resample_trials else "raters (report)",
                                 coverage=covered, seconds=round(time.perf_counter() - started, 1)))
                print(f"R={n_raters:3d} c={concentration:6.0f} {rows[-1]['resampling']:18s} " +
                      " ".join(f"{k} {v:.3f}" for k, v in covered.items()), flush=True)
    sd = float(np.sqrt(0.95 * 0.05 / args.studies))
    write_results(args.out, {"studies": args.studies, "resamples": args.resamples, "truth": TRUTH,
                             "binomial_sd_at_0.95": sd, "rows": rows})
    print(f"binomial sd of a coverage of 0.95 over {args.studies} studies: {sd:.4f}")


if __name__ == "__main__":
    run_main(main)
