"""The one exception type for mistakes a user can fix.

The command line turns a :class:`UserError` into a one-line message and exit
status 2; every other exception is a bug and keeps its traceback.
"""

__all__ = ["UserError"]


class UserError(ValueError):
    """Bad input from the user: the message names the problem and the fix."""
