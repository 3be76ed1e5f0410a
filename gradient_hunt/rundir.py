"""Run directories that never mix two configurations, or two datasets, and never lose a user's files.

    config, continuing = open_run(Path("runs/hunt"), HuntConfig, asked, kind="hunt-tf",
                                  identity={"data": "/data/round1", "classes": ["AI", "Real"]}, fresh=args.fresh)

A run directory holds the `config.json` it was trained with, marked with the tool that
wrote it (`run_kind`) and what it was trained on (`run_identity`). Running into it again
continues that run, but only with the same settings and data (`may_change` names settings
that may differ, e.g. the GAN's epochs, to train longer); any other difference is refused
with the differences named, and `fresh=True` deletes the old run first. A folder that is
not a run of this tool (no config.json, another tool's, the working directory or one of its
parents, the home folder) is never deleted.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from gradient_hunt.atomic import write_json
from gradient_hunt.errors import UserError
from gradient_hunt.settings import SettingsError


class RunDirError(UserError):
    """A run directory that cannot be used as asked; the message says why and what to do."""


def _saved(config_path: Path) -> dict:
    try:
        return json.loads(config_path.read_text())
    except (OSError, ValueError):
        return {}


def _is_own_run(run_dir: Path, kind: str, config_class) -> bool:
    saved = _saved(run_dir / "config.json")
    if "run_kind" in saved:
        return saved["run_kind"] == kind
    # Runs written before the marker: every key is one of this config's fields.
    return bool(saved) and set(saved) <= set(config_class.field_names())


def _protected(run_dir: Path) -> bool:
    here, home = Path.cwd().resolve(), Path.home().resolve()
    target = run_dir.resolve()
    return target == home or target == here or target in here.parents


def open_run(run_dir, config_class, asked: dict, *, kind: str, identity: dict | None = None, resume=True,
             fresh=False, may_change=()):
    """(config to run with, whether run_dir already held this run); config.json is written.

    `asked` is what this command asks for (field -> value); a new run is the defaults with
    `asked` applied, a continued run is the saved config with `may_change` fields updated.
    """
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    exists = config_path.exists()
    if exists and not _is_own_run(run_dir, kind, config_class):
        raise RunDirError(f"{run_dir} holds a config.json that {kind} did not write; choose another --run")
    if fresh and run_dir.exists() and any(run_dir.iterdir()):
        if _protected(run_dir):
            raise RunDirError(f"{run_dir} is the folder you are in (or holds it, or is home); --fresh will not "
                              "delete it: give --run a folder of its own")
        if not exists:
            raise RunDirError(f"{run_dir} is not a {kind} run directory; --fresh deletes only runs")
        shutil.rmtree(run_dir)
        exists = False
    if exists:
        if not resume:
            raise RunDirError(f"{run_dir} already holds a run; pass --resume to continue it, or choose another --run")
        config = config_class.load(config_path)
        clashes = config.clashes(asked, may_change)
        saved_identity = _saved(config_path).get("run_identity") or {}
        clashes += [f"{k}={saved_identity[k]!r} (asked: {v!r})" for k, v in (identity or {}).items()
                    if k in saved_identity and saved_identity[k] != v]
        if clashes:
            raise RunDirError(f"{run_dir} holds a run with other settings: {', '.join(clashes)} "
                              "(settings you did not give are this version's defaults, which may have changed "
                              "since that run); pass --fresh to start it over, or choose another --run")
        try:
            config = config_class.from_dict({k: asked[k] for k in may_change if k in asked}, base=config)
        except SettingsError as err:  # a value this version no longer knows, or a hand-edited file
            raise RunDirError(f"{config_path}: {err}; pass --fresh to start the run over") from None
    elif run_dir.exists() and any(run_dir.iterdir()):
        raise RunDirError(f"{run_dir} is not empty and holds no run (no config.json); choose another --run")
    else:
        config = config_class.from_dict(asked)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(config_path, {"run_kind": kind, "run_identity": identity, **dataclasses.asdict(config)})
    return config, exists
