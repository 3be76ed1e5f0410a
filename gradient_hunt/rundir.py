"""Run directories that never mix two configurations.

    config, continuing = open_run(Path("runs/hunt"), HuntConfig, asked, fresh=args.fresh)

A run directory holds the `config.json` it was trained with. Running into it again
continues that run, but only with the same settings (`may_change` names the ones that may
differ, e.g. the GAN's epochs, to train longer); any other difference is refused with the
settings named, and `fresh=True` deletes the old run first. A non-empty folder that is not a
run is never touched.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gradient_hunt.errors import UserError


class RunDirError(UserError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


def open_run(run_dir, config_class, asked: dict, *, resume=True, fresh=False, may_change=()):
    """(config to run with, whether run_dir already held this run); config.json is written.

    `asked` is what this command asks for (field -> value); a new run is the defaults with
    `asked` applied, a continued run is the saved config with `may_change` fields updated.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if fresh and run_dir.exists():
        if not config_path.exists() and any(run_dir.iterdir()):
            raise RunDirError(f"{run_dir} holds no config.json, so it is not a run; --fresh deletes only runs")
        shutil.rmtree(run_dir)
    continuing = config_path.exists()
    if continuing:
        if not resume:
            raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --run")
        config = config_class.load(config_path)
        clashes = config.clashes(asked, may_change)
        if clashes:
            raise RunDirError(f"{run_dir} holds a run with other settings: {', '.join(clashes)}; "
                              "pass --fresh to start it over, or choose another --run")
        config = config_class.from_dict({k: asked[k] for k in may_change if k in asked}, base=config)
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir} is not empty and holds no run (no config.json); choose another --run")
    else:
        config = config_class.from_dict(asked)
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(config_path)
    return config, continuing
