"""How every console script (gan-tf, hunt-tf, hunt-tune) runs a command.

    return run_console_command("hunt-tf train", lambda: train(args), "; run it again to resume")

- A UserError (and argparse's own errors) is one `prog: error: ...` line, exit code 2.
- Anything else is a bug, not the user's doing: the full traceback is printed, exit code 1.
- Ctrl-C is exit code 130 with a hint; warnings are one `warning: ...` line each.
"""

from __future__ import annotations

import sys
import traceback
import warnings

from gradient_hunt.errors import UserError
from gradient_hunt.runtime import import_tensorflow


def fit_verbosity(verbose=None) -> int:
    """Keras fit's `verbose`: what was asked, else a progress bar on a terminal and one line an
    epoch where the output goes to a file or a pipe (there, a bar is thousands of redraws)."""
    if verbose is not None:
        return verbose
    return 1 if sys.stdout.isatty() else 2


def _one_line_warning(message, *args, **kwargs):
    return f"warning: {message}\n"


def run_console_command(prog, command, interrupted_hint=""):
    warnings.formatwarning = _one_line_warning
    import_tensorflow()  # before Keras: keeps TensorFlow's start-up lines off the terminal
    try:
        command()
    except UserError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted{interrupted_hint}", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(f"{prog}: internal error (the traceback above); please report it with the command you ran",
              file=sys.stderr)
        return 1
    return 0
