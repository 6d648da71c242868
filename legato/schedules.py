"""Temporal Schedules Legato keeps: visible, pausable and triggerable in the Web UI."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from legato.config import Settings
from legato.workflows.rebalance import RebalanceParams

RECONCILE = "reconcile"
REBALANCE = "rebalance"


def schedule_id(name: str, settings: Settings) -> str:
    """`name` for the default task queue; one per task queue otherwise, so two Legato installations
    sharing a namespace never drive each other's periodic work."""
    return name if settings.task_queue == "legato" else f"{name}-{settings.task_queue}"


def reconcile_id(settings: Settings) -> str:
    return schedule_id(RECONCILE, settings)


def rebalance_id(settings: Settings) -> str:
    return schedule_id(REBALANCE, settings)


def _every(workflow: str, workflow_id: str, seconds: float, settings: Settings, *args) -> Schedule:
    every = timedelta(seconds=seconds)
    return Schedule(
        # A run never outlives its interval: a stuck one (no worker) must not block the next (SKIP).
        action=ScheduleActionStartWorkflow(workflow, args=list(args), id=workflow_id, task_queue=settings.task_queue,
                                           execution_timeout=every),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),  # one run at a time
    )


def reconcile_schedule(settings: Settings) -> Schedule:
    return _every("Reconcile", reconcile_id(settings), settings.reconcile_every_seconds, settings)


def rebalance_schedule(settings: Settings) -> Schedule:
    params = RebalanceParams(mode=settings.rebalance_mode, min_gain=settings.rebalance_min_gain)
    return _every("Rebalance", rebalance_id(settings), settings.rebalance_every_seconds, settings, params)


async def _ensure(client: Client, schedule_id: str, wanted: Schedule) -> None:
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule = current.description.schedule
            schedule.spec, schedule.action = wanted.spec, wanted.action
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)


async def ensure_schedules(client: Client, settings: Settings) -> None:
    """Create the schedules, or bring their interval and parameters in line with the settings. A
    pause set by an operator in the Web UI is kept."""
    await _ensure(client, reconcile_id(settings), reconcile_schedule(settings))
    await _ensure(client, rebalance_id(settings), rebalance_schedule(settings))
