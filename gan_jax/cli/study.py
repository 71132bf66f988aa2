"""``gan-jax study serve`` and ``gan-jax study report``: the real-vs-generated user study."""

import sys

from gan_jax.cli.options import bounded_int, generator_option
from gan_jax.errors import UserError

__all__ = ["register", "run_serve", "run_report"]

_LOCALHOST = ("127.0.0.1", "localhost", "::1")


# Upper bounds of the counts a user gives (each named in its option's --help).
MAX_MODELS = 16
MAX_TRIALS = 1000
MAX_PRACTICE = 100
MAX_EXPOSURE_MS = 60_000
MAX_POOL = 5000
MAX_SEED = 2**31 - 1
MIN_RESAMPLES, MAX_RESAMPLES = 100, 100_000


def register(subparsers) -> None:
    """Add the ``study serve`` and ``study report`` commands to ``subparsers``."""
    study = subparsers.add_parser("study", help="a web user study: raters judge real vs generated images",
                                  description="Serve a real-vs-generated judgement study and report its results "
                                              "(needs the study extra: pip install -e '.[study]').")
    commands = study.add_subparsers(dest="study_command", metavar="{serve,report}")
    p = commands.add_parser("serve", help="set up the study (first time) and serve its page",
                            description="Example: gan-jax study serve runs/digits_dcgan --real digits --trials 50")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help=f"run directories, one model each (at most {MAX_MODELS})")
    p.add_argument("--real", required=True, metavar="SRC",
                   help="real images: digits, mnist5k, folder:PATH, npz:PATH, tfds:NAME")
    p.add_argument("--mode", default="2afc", help="2afc (a real and a generated image side by side) or single")
    p.add_argument("--trials", type=bounded_int(1, MAX_TRIALS), default=50,
                   help=f"scored trials per session, 1 to {MAX_TRIALS} (default 50)")
    p.add_argument("--practice", type=bounded_int(0, MAX_PRACTICE), default=5,
                   help=f"practice trials with feedback, 0 to {MAX_PRACTICE} (default 5)")
    p.add_argument("--attention-checks", type=bounded_int(0, MAX_TRIALS),
                   help=f"noise images among the scored trials, 0 to {MAX_TRIALS} (default: ceil(trials / 10))")
    p.add_argument("--exposure-ms", type=bounded_int(0, MAX_EXPOSURE_MS), default=0,
                   help=f"show images this long, then a mask; 0: unlimited (at most {MAX_EXPOSURE_MS})")
    p.add_argument("--pool", type=bounded_int(1, MAX_POOL), default=200,
                   help=f"generated images per model and real images, 1 to {MAX_POOL} (default 200)")
    p.add_argument("--seed", type=bounded_int(0, MAX_SEED), default=0,
                   help=f"seed of the samples and of the real images drawn, 0 to {MAX_SEED}")
    p.add_argument("--db", default="study.sqlite", help="the study database (created if missing; default study.sqlite)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port, 1 to 65535 (default 8000; 0: any free port)")
    generator_option(p)
    p.set_defaults(func=run_serve)
    p = commands.add_parser("report", help="report.json and a figure: rates with bootstrap intervals",
                            description="Example: gan-jax study report study.sqlite --out study_report")
    p.add_argument("db", metavar="DB", help="the database that gan-jax study serve wrote")
    p.add_argument("--out", required=True, metavar="DIR", help="directory for report.json and report.png")
    p.add_argument("--resamples", type=bounded_int(MIN_RESAMPLES, MAX_RESAMPLES), default=2000,
                   help=f"bootstrap resamples, {MIN_RESAMPLES} to {MAX_RESAMPLES} (default 2000)")
    p.add_argument("--seed", type=bounded_int(0, MAX_SEED), default=0, help=f"seed of the bootstrap, 0 to {MAX_SEED}")
    p.add_argument("--overwrite", action="store_true", help="replace an existing report in DIR")
    p.set_defaults(func=run_report)
    study.set_defaults(func=lambda args: study.error("name a study command: serve or report"))


def _need_extra() -> None:
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise UserError("the study needs its web packages: pip install -e '.[study]'") from None


def run_serve(args) -> None:
    """Create or reopen the study database and serve the study until Ctrl-C or SIGTERM."""
    from gan_jax.study.server import bind_socket, prepare_study, serve, study_design
    _need_extra()
    if len(args.runs) > MAX_MODELS:
        raise UserError(f"a study compares at most {MAX_MODELS} models, got {len(args.runs)} run directories; "
                        "name fewer")
    design = study_design(args.runs, args.real, args.mode, args.trials, args.practice, args.attention_checks,
                          args.exposure_ms, args.pool, args.seed, args.generator)
    sock = bind_socket(args.host, args.port)
    if args.host not in _LOCALHOST:
        print(f"warning: listening on {args.host}: anyone who can reach this machine on that address "
              "can open the study", file=sys.stderr)
    try:
        outcome = prepare_study(args.db, design)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"study {outcome} in {args.db}: {len(design['runs'])} model(s), {design['mode']}, "
              f"{design['practice']} practice + {design['trials']} scored + {design['attention_checks']} "
              "attention trials per session", flush=True)
        print(f"serving at http://{shown}:{port}/ (Ctrl+C to stop)", flush=True)
        serve(args.db, sock)
    finally:
        sock.close()


def run_report(args) -> None:
    """Write the study's ``report.json`` and figure, and print each model's rates with their intervals."""
    from gan_jax.study.report import write_report
    report = write_report(args.db, args.out, args.resamples, args.seed, args.overwrite)
    for m in report["models"]:
        rates = ", ".join(f"{name} {r['estimate']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"
                          for name, r in m["rates"].items())
        print(f"model {m['model']} ({m['run']}): {m['raters']} raters ({m['excluded_raters']} excluded), "
              f"{m['judgements']} judgements; {rates}")
    for p in report["pairs"]:
        print(f"models {p['model_a']} vs {p['model_b']}: error on generated greater in "
              f"{p['share_a_error_generated_greater']:.3f} / {p['share_b_error_generated_greater']:.3f} of resamples")
    print(f"wrote {args.out}/report.json and {args.out}/report.png")
