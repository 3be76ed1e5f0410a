"""Settings: a dataclass config whose trailing comments are also its `--help` text, saved as JSON.

    @dataclasses.dataclass
    class MyConfig(Settings):
        epochs: int = 10  # passes over the data
    MyConfig.comments()["epochs"]      # "passes over the data"
    config.save(run / "config.json"); MyConfig.load(run / "config.json")

A run directory keeps the config it ran with; `clashes` says which asked-for settings differ
from it, so a command can refuse to mix two configurations in one run.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import typing
from pathlib import Path

from gradient_hunt.atomic import write_json
from gradient_hunt.errors import UserError

_COMMENTED_FIELD = re.compile(r"^\s+(\w+): [^=]+=.*?#\s*(.+)$")


class SettingsError(UserError, ValueError):
    """A settings file or a setting that does not fit the config."""


class Settings:
    """Mixin for config dataclasses: comments as help, JSON save/load, strict updates."""

    @classmethod
    def comments(cls) -> dict:
        """{field: its trailing comment} from the class source, so help and defaults cannot drift apart."""
        found = {}
        for klass in reversed(cls.__mro__):
            if dataclasses.is_dataclass(klass):
                found.update({m.group(1): m.group(2) for line in inspect.getsource(klass).splitlines()
                              if (m := _COMMENTED_FIELD.match(line))})
        return found

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    def save(self, path):
        write_json(path, dataclasses.asdict(self))

    # Settings added after runs were first saved, with the value an older run (saved without
    # them) was made with, where that differs from today's default.
    ABSENT_MEANS: typing.ClassVar[dict] = {}

    @classmethod
    def load(cls, path):
        """The config saved in a run; keys this version does not know (an older run's) are ignored,
        and settings it predates take the value it was made with (ABSENT_MEANS)."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:
            raise SettingsError(f"cannot read {path}: {err}") from None
        return cls(**{**cls.ABSENT_MEANS, **{k: v for k, v in data.items() if k in cls.field_names()}})

    # {field: the values it may take}: from_dict refuses any other, so a mistyped value in a
    # hand-edited JSON file stops a command before it reads data or writes a run.
    CHOICES: typing.ClassVar[dict] = {}

    @classmethod
    def from_dict(cls, data: dict, base=None):
        """`base` (or the defaults) with `data` applied; an unknown key or a value outside CHOICES
        is an error, not a silent no-op or a failure minutes later."""
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise SettingsError(f"unknown setting(s): {', '.join(unknown)}")
        config = dataclasses.replace(base or cls(), **data)
        config.check_choices()
        return config

    def check_choices(self) -> None:
        for name, allowed in self.CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(f"unknown {name.replace('_', ' ')} {value!r}; choose from {', '.join(map(str, allowed))}")

    def clashes(self, asked: dict, may_change=()) -> list[str]:
        """`name=saved (asked: new)` for every asked setting that differs from this saved config."""
        return [f"{k}={getattr(self, k)!r} (asked: {v!r})" for k, v in asked.items()
                if k not in may_change and getattr(self, k) != v]
