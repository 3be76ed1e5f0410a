"""The hunt's user errors: one line on the console (gradient_hunt.console), not a traceback."""

from gradient_hunt.errors import UserError


class DataError(UserError, ValueError):
    """A folder that cannot be used as asked; the message says why."""


class WeightsError(UserError, ValueError):
    """Pretrained weights that cannot be had; the message names the alternatives."""


class RunError(UserError, RuntimeError):
    """A trained run that cannot be used (missing files, a model that does not match), or training that diverged."""
