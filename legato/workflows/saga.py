"""Compensations registered before each step, run in reverse on failure or teardown."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow

from legato.workflows.progress import Progress, error_text

Undo = Callable[[], Awaitable[object]]


class Saga:
    def __init__(self, progress: Progress | None = None):
        self._undo: list[tuple[str, Undo]] = []
        self._progress = progress

    def register(self, step: str, undo: Undo) -> None:
        self._undo.append((step, undo))

    def __len__(self) -> int:
        return len(self._undo)

    async def unwind(self) -> list[str]:
        """Run every compensation, newest first. One that fails for good is reported and the
        others still run: a stuck delete must not keep the hosts behind it allocated."""
        errors: list[str] = []
        while self._undo:
            done, undo = self._undo.pop()
            step = f"undo {done}"
            if self._progress:
                self._progress.compensating(step)
            try:
                await undo()
            except Exception as err:  # noqa: BLE001 - reported, never swallowed silently
                workflow.logger.error("compensation %s failed: %s", step, error_text(err))
                errors.append(f"{step}: {error_text(err)}")
                if self._progress:
                    self._progress.failed(step, error_text(err))
                continue
            if self._progress:
                self._progress.compensated(step)
        return errors
