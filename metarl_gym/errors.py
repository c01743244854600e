"""The package's user-facing error type.

Every error a user can fix (a bad config value, a run directory in the wrong state, a corrupt or unsafe file)
is a :class:`UserError`; the ``metarl-gym`` command catches it and prints one line (exit status 2) instead of a
traceback. It subclasses ``ValueError`` so that code catching ``ValueError`` keeps working.
"""


class UserError(ValueError):
    """A problem the user can fix; the message names the problem and the fix."""


__all__ = ["UserError"]
