"""The pieces every settings dataclass is built from (the run's in
gan_zoo/config.py, each model family's beside its model): a field that is
one flag, and the one-line checks of its value.

It sits below the models and the config alike, so that a model declares its
hyperparameters without importing the module that gathers them.
"""

from __future__ import annotations

import dataclasses

from gan_zoo.errors import UserError


def setting(default, help_text: str):
    """A field of a settings dataclass: one flag, with its default and help."""
    return dataclasses.field(default=default, metadata={"help": help_text})


def check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise UserError(f"--{name}={value!r} is not one of: {', '.join(choices)}.")


def check_non_negative(name: str, value, meaning: str = "") -> None:
    """Raises UserError ``--name=value must be >= 0<meaning>.`` unless value >= 0."""
    if value < 0:
        raise UserError(f"--{name}={value} must be >= 0{meaning}.")


def check_positive(name: str, value) -> None:
    if not value > 0:
        raise UserError(f"--{name}={value} must be > 0.")
