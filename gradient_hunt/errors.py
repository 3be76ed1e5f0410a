"""UserError: the base of every error that the user can fix (a missing folder, a bad setting).

Console scripts print these as one line; anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Something the user asked for cannot be done; the message says what and why."""
