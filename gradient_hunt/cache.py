"""Where gradient-hunt keeps what it measures or trains once per machine (~/.cache/gradient-hunt)."""

import os
from pathlib import Path


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "gradient-hunt"
