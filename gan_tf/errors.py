"""The GAN's user errors: one line on the console (gradient_hunt.console), not a traceback."""

from gradient_hunt.errors import UserError


class DatasetError(UserError, ValueError):
    """A dataset name that is unknown, or data that cannot be read; the message says which."""


class RunError(UserError, RuntimeError):
    """A run directory that cannot be used as asked; the message says why."""


class SampleError(UserError, ValueError):
    """Samples that this generator cannot draw (a digit from an unconditional GAN, say)."""
