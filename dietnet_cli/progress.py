"""Progress bars on stderr, kept apart from logging and easy to turn off."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Silent:
    def advance(self, amount: float = 1) -> None:
        pass

    def update(self, **fields: object) -> None:
        pass


class _Bar:
    def __init__(self, progress: Progress, task: int) -> None:
        self._progress = progress
        self._task = task

    def advance(self, amount: float = 1) -> None:
        self._progress.advance(self._task, amount)

    def update(self, **fields: object) -> None:
        self._progress.update(self._task, **fields)


@contextlib.contextmanager
def bar(
    description: str, *, total: float | None = None, enabled: bool = True
) -> Iterator[_Bar | _Silent]:
    """A progress bar on stderr; a silent stand-in when disabled or when
    stderr is not a terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _Silent()
        return
    columns = [SpinnerColumn(), TextColumn("{task.description}")]
    if total is not None:
        columns += [BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    else:
        columns += [TextColumn("{task.completed:,.0f}")]
    columns.append(TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
