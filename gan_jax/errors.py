"""The one exception type for mistakes a user can fix, and the shell's bridge to it.

The pure layers (``core``, ``models``, ``theory``, ``metrics``) raise
``ValueError``/``TypeError`` and know nothing of the command line. The shell
raises :class:`UserError`, or wraps a call into the pure layers in
:func:`from_core` when the values come from the user; the command line turns a
:class:`UserError` into a one-line message and exit status 2. Every other
exception is a bug and keeps its traceback.
"""

import contextlib

__all__ = ["UserError", "from_core"]


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix."""


@contextlib.contextmanager
def from_core():
    """Inside this block a ``ValueError`` or ``TypeError`` (the pure layers' way of
    refusing an argument) becomes a :class:`UserError` with the same message."""
    try:
        yield
    except UserError:
        raise
    except (ValueError, TypeError) as e:
        raise UserError(str(e)) from None
