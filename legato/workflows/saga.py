"""Compensations registered before each step, run in reverse on failure, teardown, or selectively
when a resource is given back (a move frees its source)."""

from __future__ import annotations

from collections.abc import Callable

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from legato.workflows.entity import Compensation
    from legato.workflows.options import UNDO
    from legato.workflows.progress import Progress, error_text


# Teardown order by what a resource sits on: traffic paths, then workloads, then the nodes and
# clusters they run on, then the hosts under those, and last what a placement still reserves.
# Within a layer, newest first. Plain reverse order is not enough once day-2 operations add nodes
# after the workloads that will use them.
LAYERS = ("link@", "qos@", "workload@", "nodes@", "cluster@", "hosts@", "reservation@")


def activity_name(activity: Callable) -> str:
    """The registered name of an activity definition (what `@activity.defn(name=...)` set)."""
    return getattr(activity, "__temporal_activity_definition").name  # noqa: B009 (set by temporalio)


def workflow_name(defn: type) -> str:
    """The registered name of a workflow definition (what `@workflow.defn(name=...)` set)."""
    return getattr(defn, "__temporal_workflow_definition").name  # noqa: B009 (set by temporalio)


def layer(comp: Compensation) -> int:
    return next((i for i, prefix in enumerate(LAYERS) if comp.key.startswith(prefix)), len(LAYERS))


class Saga:
    def __init__(self, undo: list[Compensation], progress: Progress | None = None):
        self.undo = undo  # shared with the entity state: what is registered is what continues-as-new
        self._progress = progress

    def register(self, compensation: Compensation) -> None:
        self.undo.append(compensation)

    def activity(self, key: str, step: str, activity: Callable, arg) -> None:
        """The undo of one step is this activity (a definition, stored by its name: data that
        survives continue-as-new) with this argument."""
        self.register(Compensation(key=key, step=step, activity=activity_name(activity),
                                   arg=arg.model_dump(mode="json")))

    def drop(self, keep: Callable[[Compensation], bool]) -> None:
        """Forget compensations whose resource is gone by other means (e.g. moved away)."""
        self.undo[:] = [c for c in self.undo if keep(c)]

    async def unwind(self, only: Callable[[Compensation], bool] | None = None) -> list[str]:
        """Run the compensations (all, or those `only` selects), newest first. One that fails for
        good is reported and the others still run: a stuck delete must not keep hosts allocated."""
        errors: list[str] = []
        chosen = [c for c in self.undo if only is None or only(c)]
        self.undo[:] = [c for c in self.undo if not (only is None or only(c))]
        ordered = [c for _, c in sorted(enumerate(chosen), key=lambda ic: (layer(ic[1]), -ic[0]))]
        for comp in ordered:
            step = f"undo {comp.step}"
            if self._progress:
                self._progress.compensating(step)
            try:
                await run_compensation(comp)
            except Exception as err:  # noqa: BLE001 - reported, never swallowed silently
                workflow.logger.error("compensation %s failed: %s", step, error_text(err))
                errors.append(f"{step}: {error_text(err)}")
                if self._progress:
                    self._progress.failed(step, error_text(err))
                continue
            if self._progress:
                self._progress.compensated(step)
            workflow.metric_meter().create_counter(
                "legato_compensations", "Compensations run (rollbacks, teardowns, freed sites)"
            ).add(1, {"resource": comp.key.split("@")[0]})
        return errors


async def run_compensation(comp: Compensation) -> None:
    if comp.activity is not None:
        await workflow.execute_activity(comp.activity, comp.arg, **UNDO)
    elif comp.child is not None:
        assert comp.child_workflow, "a compensation by child workflow names it (steps.py, from its definition)"
        await workflow.execute_child_workflow(comp.child_workflow, comp.child, id=comp.child_id)
