"""Progress where a person is watching: rich's bar in a terminal or a Jupyter notebook,
nothing when quiet or when output goes to a pipe or a file."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ["RunProgress", "watching"]


def watching() -> bool:
    """Whether someone sees the progress: stderr is a terminal, or this runs in Jupyter."""
    if sys.stderr.isatty():
        return True
    if "ipykernel" not in sys.modules:
        return False
    from rich.console import Console

    return Console().is_jupyter


class RunProgress:
    """One bar per agent of a run: rounds done of T, rounds/s, time left."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and watching()
        self._bar: Any = None

    def start(self, label: str, total: int, done: int) -> Callable[[int], None] | None:
        if not self.enabled:
            return None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        class _Rate(TextColumn):
            def render(self, task: Any) -> Any:
                from rich.text import Text

                return Text(f"{task.speed or 0:,.0f} rounds/s")

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             _Rate(""), TimeRemainingColumn(), transient=True)
        self._bar.start()
        task = self._bar.add_task(label, total=total, completed=done)
        return lambda t: self._bar.update(task, completed=t)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
