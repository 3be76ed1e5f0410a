"""The hunt's user errors: one line on the console (gradient_hunt.console), not a traceback."""

from gradient_hunt.errors import UserError


class DataError(UserError, ValueError):
    """A folder that cannot be used as asked; the message says why."""


class WeightsError(UserError, ValueError):
    """Pretrained weights that cannot be had; the message names the alternatives."""


class RunError(UserError, RuntimeError):
    """A run directory that cannot be used as asked (another run's settings, not a run at all)."""
