"""Turn a user-facing error into one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from features.errors import LoopbaanError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


def user_errors(command: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except LoopbaanError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(EXIT_USER_ERROR) from None
        except KeyboardInterrupt:
            typer.secho("interrupted: stopped cleanly, nothing half-written was left behind.", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None

    return wrapper
