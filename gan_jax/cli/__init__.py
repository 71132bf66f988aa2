"""The ``gan-jax`` command.

Each subcommand lives in its own module under :mod:`gan_jax.cli` with a
``register(subparsers)`` function that adds its parser and sets
``func=<callable taking the parsed args>``. A :class:`~gan_jax.errors.UserError` becomes one
line on stderr and exit status 2; so does a usage error from argparse.

SIGTERM (what a scheduler or ``kill`` sends) is turned into the same unwinding
as Ctrl-C: the command's ``finally`` blocks run, so temporary files are removed
and locks released, and the command exits with status 143 (128 + 15).
"""

import argparse
import importlib
import signal
import sys

from gan_jax.errors import UserError

__all__ = ["main", "COMMAND_MODULES"]

#: One module per subcommand family; each registers its own parsers.
COMMAND_MODULES = (
    "gan_jax.cli.train",
    "gan_jax.cli.mode_coverage",
    "gan_jax.cli.evaluate",
    "gan_jax.cli.demo",
    "gan_jax.cli.latent",
    "gan_jax.cli.study",
)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit status 2, no usage dump)."""

    def error(self, message):
        self.exit(2, one_line(f"{self.prog}: error: {message} (see {self.prog} --help)") + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gan-jax", description="GANs in JAX/Flax.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv=None) -> int:
    """Run ``gan-jax`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status: 0 on success,
    2 for bad input (one line on stderr), 130 after Ctrl-C, 143 after SIGTERM."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options too (argparse stops at the first option).
    if extra and hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        prog = f"gan-jax {args.command}" if getattr(args, "command", None) else "gan-jax"
        print(one_line(f"{prog}: error: unrecognized arguments: {' '.join(extra)} (see {prog} --help)"),
              file=sys.stderr)
        return 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    previous = _terminate_on_sigterm()
    try:
        # JAX and the library are imported only now that a command runs (``--help`` stays fast).
        from gan_jax.runs.provenance import entry_point_setup
        entry_point_setup()  # the project's PRNG choice, unless JAX_THREEFRY_PARTITIONABLE is set
        result = args.func(args)
    except UserError as e:
        print(one_line(f"gan-jax {args.command}: error: {e}"), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gan-jax {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"gan-jax {args.command}: stopped by SIGTERM", file=sys.stderr)
        return 143
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0 if result is None else int(result)


def one_line(text: str) -> str:
    """``text`` with its line breaks and other control characters written as escapes (``\\n``),
    so that a message quoting a user's path or value stays one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class Terminated(BaseException):
    """Raised in the main thread when the process receives SIGTERM (a BaseException, like
    KeyboardInterrupt, so that ``except Exception`` blocks let it through)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def _terminate_on_sigterm():
    """Install the SIGTERM handler for the duration of one command (main thread only); returns
    the handler it replaced, or None where none could be installed (another thread)."""
    try:
        return signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:   # signal only works in the main thread
        return None

